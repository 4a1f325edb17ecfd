"""Training and analysis jobs started from the dashboard: submit, queue, run, cancel.

A job runs detached from the web server (`python -m app.jobs`, its own session, re-parented to init), and
does its work through the `spectrascope` CLI in child processes: the web process never imports torch, a
crashing job cannot take a web worker down, and restarting or cancelling a Dash background callback
(which kills that callback's process tree) never kills a job. Everything a page needs to know about a
job lives in the run (run.json status, progress and error; job.log; `.job.lock` while it lives; a
`.cancel` file to stop it), so every browser and every web worker sees the same jobs. At most
`settings.max_jobs()` jobs hold a slot at once; the rest wait, `queued`.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from analysis.options import BACKENDS
from analysis.run_format import (
    ACTIVE_STATUSES, RunFormatError, RunPaths, checkpoint_epochs, ensure_writable_dir, is_locked, job_is_active,
    job_lock, new_run_record, now_iso, read_run, update_run, write_run,
)
from app import settings
from app.settings import run_paths
from spectrascope.errors import UserError
from training.config import default_run_id, preset_config

POLL_SECONDS = 0.5
START_GRACE_SECONDS = 10  # how long a watcher waits for a just-started job to take its lock
KILL_AFTER_SECONDS = 30  # a cancelled child still running this long after SIGTERM gets SIGKILL
Report = Callable[[float, str], None]


@dataclass(frozen=True)
class Job:
    """One unit of work: `spectrascope <command> <args>` on a run (JSON-able, to cross processes)."""

    run_id: str
    command: str  # "train" or "analyze"
    args: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        return cls(data["run_id"], data["command"], tuple(data.get("args", ())))


# --- submitting ----------------------------------------------------------------------------------


def submit_training(preset: str, run_id: str | None = None, **overrides) -> Job:
    """Check the request and reserve the run as `queued`; raises UserError naming what is wrong."""
    config = preset_config(preset, **overrides)
    run_id = run_id or default_run_id(preset)
    paths = run_paths(run_id)
    ensure_writable_dir(settings.data_dir())
    try:
        paths.root.mkdir(parents=True)
    except FileExistsError:
        raise RunFormatError(f"run {run_id!r} already exists: choose another run id") from None
    write_run(paths, new_run_record(run_id, kind="trained", preset=preset, config=config.to_dict(),
                                    total_epochs=config.epochs, provenance={}))
    args = ["--preset", preset, "--run-id", run_id]
    for name, value in overrides.items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            args.append(f"--{flag}" if value else f"--no-{flag}")
        elif value is not None:
            args += [f"--{flag}", str(value)]
    return Job(run_id, "train", tuple(args))


def submit_analysis(run_id: str, backend: str = "fast", randomize: bool = False) -> Job:
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    paths = run_paths(run_id)
    read_run(paths)  # a clear error for an unknown run
    if not checkpoint_epochs(paths):
        raise UserError(f"run {run_id!r} has no checkpoints yet: nothing to analyse")
    if job_is_active(paths, "job") or job_is_active(paths, "analysis"):
        raise UserError(f"run {run_id!r} already has a job working on it: wait for it to finish, or cancel it")
    paths.cancel_request.unlink(missing_ok=True)  # left by an earlier job that ended before it saw it
    update_run(paths, analysis={"status": "queued", "backend": backend, "updated": now_iso()})
    return Job(run_id, "analyze", ("--run", run_id, "--backend", backend) + (("--randomize",) if randomize else ()))


def request_cancel(run_id: str) -> None:
    """Ask the run's job to stop; it is marked `cancelled` by the job itself within a second."""
    run_paths(run_id).cancel_request.touch()


# --- running -------------------------------------------------------------------------------------


def _cancel_requested(paths: RunPaths) -> bool:
    return paths.cancel_request.exists()


def _take_free_slot(slots: Path) -> int | None:
    """An open descriptor holding one of max_jobs() slot locks, or None when all are taken."""
    for slot in range(settings.max_jobs()):
        fd = os.open(slots / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
    return None


def _first_in_line(ticket: Path) -> bool:
    """No live waiter queued before this ticket (a dead waiter's ticket is cleared away)."""
    for earlier in sorted(ticket.parent.glob("[0-9]*.wait")):  # not a draft (".…wait") still being locked
        if earlier.name >= ticket.name:
            return True
        if is_locked(earlier):
            return False
        earlier.unlink(missing_ok=True)
    return True


def _wait_in_line(paths: RunPaths, slots: Path, report: Report) -> int | None:
    """Wait for a free slot, first come first served, and return its locked descriptor (None if the
    job was cancelled while it waited). The place in line is a time-stamped ticket the waiter keeps
    locked, so the ticket of a waiter that died is recognised and cleared."""
    ticket = slots / f"{time.time_ns():020d}-{paths.run_id}.wait"
    draft = ticket.with_name(f".{ticket.name}")
    fd = os.open(draft, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(draft, ticket)  # in line only once locked, so nobody takes it for a dead waiter's
    try:
        while True:
            if _first_in_line(ticket):
                slot = _take_free_slot(slots)
                if slot is not None:
                    return slot
            if _cancel_requested(paths):
                return None
            report(0.0, "queued: waiting for a free job slot")
            time.sleep(POLL_SECONDS)
    finally:
        ticket.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def _job_slot(paths: RunPaths, report: Report) -> Iterator[bool]:
    """Hold one of max_jobs() slots while the job runs; yields False if it was cancelled while it waited."""
    slots = settings.data_dir() / "jobs"
    slots.mkdir(parents=True, exist_ok=True)
    slot = _wait_in_line(paths, slots, report)
    if slot is None:
        yield False
        return
    try:
        yield True
    finally:
        os.close(slot)


def _spawn(command: str, args: tuple[str, ...], paths: RunPaths) -> subprocess.Popen:
    """The CLI in a child process, its output appended to job.log (`log_start` marks where its own lines
    begin); passive OpenMP threads, so two jobs on one CPU do not spin against each other."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    with paths.job_log.open("ab") as log:
        log.write(f"\n[{now_iso()}] spectrascope {command} {' '.join(args)}\n".encode())
        log.flush()
        child = subprocess.Popen([sys.executable, "-m", "spectrascope", command, "--data-dir",
                                  str(settings.data_dir()), *args], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        child.log_start = log.tell()
    return child


def _log_tail(paths: RunPaths, since: int = 0, lines: int = 5) -> str:
    """The last lines job.log got after byte `since` (one child's, though others may interleave)."""
    try:
        with paths.job_log.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def progress(record: dict, command: str) -> tuple[float, str]:
    """(fraction done, one-line description) of a run's training or analysis, from run.json."""
    if command == "train":
        state = record.get("progress") or {}
        done, total = state.get("epoch") or 0, state.get("total_epochs") or 0
        waiting = record.get("status") == "queued"
    else:
        state = record.get("analysis") or {}
        done, total = state.get("epochs_done") or 0, state.get("epochs_total") or 0
        waiting = state.get("status") == "queued"
    if waiting:
        return 0.0, "queued: waiting for a free job slot"
    what = f"training: epoch {done} of {total}" if command == "train" else f"analysing: {done} of {total} checkpoints"
    return (done / total if total else 0.0), what


def _signal(children, signum: int) -> None:
    """Signal each child's whole process group (analysis worker processes included)."""
    for child in children:
        if child is not None and child.poll() is None:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass


def _settle(paths: RunPaths, command: str, main: subprocess.Popen, analysis: subprocess.Popen | None,
            cancelled: bool) -> None:
    """Children that ended without recording how (killed, crashed on start-up) are recorded here."""
    record = read_run(paths)
    if command == "train" and record.get("status") in ACTIVE_STATUSES:
        status = "cancelled" if cancelled else "failed"
        error = ("cancelled by the user" if cancelled
                 else _log_tail(paths, main.log_start) or f"training exited with status {main.returncode}")
        update_run(paths, status=status, error=error, progress={"phase": status})
    analyser = main if command == "analyze" else analysis
    state = record.get("analysis") or {}
    if analyser is not None and state.get("status") in ACTIVE_STATUSES and not job_is_active(paths, "analysis"):
        status = "cancelled" if cancelled else "completed" if analyser.returncode == 0 else "failed"
        error = _log_tail(paths, analyser.log_start) if status == "failed" else None
        update_run(paths, analysis={**state, "status": status, "error": error, "updated": now_iso()})


def run_job(job: Job, report: Report = lambda fraction, text: None) -> str:
    """Run a submitted job to its end and return how it ended. Training jobs also analyse each new
    checkpoint as it lands, so the analysis tabs fill in while the run trains. Cancelling sends SIGTERM
    (training records itself `cancelled`), then SIGKILL if a child is still there KILL_AFTER_SECONDS later."""
    paths = run_paths(job.run_id)
    with job_lock(paths, "job"), _job_slot(paths, report) as got_slot:
        if not got_slot or _cancel_requested(paths):
            record = read_run(paths)
            if job.command == "train":
                update_run(paths, status="cancelled", error="cancelled by the user", progress={"phase": "cancelled"})
            else:
                update_run(paths, analysis={**(record.get("analysis") or {}), "status": "cancelled"})
            paths.cancel_request.unlink(missing_ok=True)
            return "cancelled"
        main = _spawn(job.command, job.args, paths)
        analysis, analysed, stopping_since = None, set(), None
        while True:
            finished = main.poll() is not None
            if _cancel_requested(paths):
                if stopping_since is None:
                    stopping_since = time.monotonic()
                    _signal((main, analysis), signal.SIGTERM)
                elif time.monotonic() - stopping_since > KILL_AFTER_SECONDS:
                    _signal((main, analysis), signal.SIGKILL)
            elif job.command == "train" and (analysis is None or analysis.poll() is not None):
                landed = set(checkpoint_epochs(paths))
                if landed - analysed:
                    analysis, analysed = _spawn("analyze", ("--run", job.run_id), paths), landed
            report(*progress(read_run(paths), job.command))
            if finished and (analysis is None or analysis.poll() is not None):
                break
            time.sleep(POLL_SECONDS)
        _settle(paths, job.command, main, analysis, cancelled=_cancel_requested(paths))
        paths.cancel_request.unlink(missing_ok=True)
    return _outcome(paths, job.command)


def _outcome(paths: RunPaths, command: str) -> str:
    record = read_run(paths)
    status = record.get("status") if command == "train" else (record.get("analysis") or {}).get("status")
    return status or "unknown"


def watch(job: Job, report: Report) -> str:
    """Report a detached job's progress until it ends (what a Dash background callback does)."""
    paths = run_paths(job.run_id)
    started, seen = time.monotonic(), False
    while True:
        alive = job_is_active(paths, "job")
        seen = seen or alive
        if not alive and (seen or time.monotonic() - started > START_GRACE_SECONDS):
            break
        report(*progress(read_run(paths), job.command))
        time.sleep(POLL_SECONDS)
    return _outcome(paths, job.command)


def start_detached(job: Job) -> None:
    """Start `python -m app.jobs JOB` so that it is nobody's child: killing the caller leaves it running."""
    launcher = [sys.executable, "-m", "app.jobs", "--detach", job.to_json()]
    subprocess.run(launcher, check=True, stdin=subprocess.DEVNULL, start_new_session=True)


def _record_crash(job: Job, message: str) -> None:
    """The job runner itself failed: say so in the run, or the page would show it queued for ever."""
    paths = run_paths(job.run_id)
    if job.command == "train":
        update_run(paths, status="failed", error=message, progress={"phase": "failed"})
    else:
        update_run(paths, analysis={**(read_run(paths).get("analysis") or {}), "status": "failed", "error": message})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    detach = argv[0] == "--detach"
    job = Job.from_dict(json.loads(argv[-1]))
    if detach:  # the intermediate process: start the job and exit, re-parenting it to init
        with run_paths(job.run_id).job_log.open("ab") as log:
            subprocess.Popen([sys.executable, "-m", "app.jobs", argv[-1]], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return 0
    try:
        return 0 if run_job(job) == "completed" else 1
    except BaseException as exc:
        traceback.print_exc()  # into job.log
        _record_crash(job, f"the job runner failed: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
