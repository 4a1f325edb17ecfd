"""Running a job: its `spectrascope` command in child processes, followed until it ends, cancelled on
request, and settled (a child that died without recording how is recorded here).

A job runs detached (`python -m spectrascope.jobs`, its own session, re-parented to init), so neither a
web server restart nor a cancelled Dash background callback kills it, and a crashing job takes no web
worker down. Everything a page needs to know about a job lives in the run (run.json, job.log,
`.job.lock` while it lives, `.cancel` to stop it), so every browser and every web worker sees the same."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Callable

from spectrascope import settings
from spectrascope.jobs.commands import KINDS, JobKind, progress
from spectrascope.jobs.queue import POLL_SECONDS, job_slot
from spectrascope.runs import (
    ACTIVE_STATUSES, RunPaths, cancel_requested, checkpoint_epochs, clear_cancel_request, job_is_active, job_lock,
    job_log_tail, open_job_log, read_run, run_paths, spawn_command,
)

START_GRACE_SECONDS = 10  # how long a watcher waits for a just-started job to take its lock
KILL_AFTER_SECONDS = 30  # a cancelled child still running this long after SIGTERM gets SIGKILL
RUNNER_LOCK = "job"  # the run lock the job runner holds for the whole job, queue wait included
Report = Callable[[float, str], None]


@dataclass(frozen=True)
class Job:
    """One unit of work: `spectrascope <command> <args>` on a run (JSON-able, to cross processes)."""

    run_id: str
    command: str  # a key of commands.KINDS
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> JobKind:
        return KINDS[self.command]

    @property
    def paths(self) -> RunPaths:
        return run_paths(settings.data_dir(), self.run_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def resumed(self) -> "Job":
        """The same job, to go on where a lost one stopped."""
        extra = tuple(arg for arg in self.kind.resume_args if arg not in self.args)
        return replace(self, args=self.args + extra)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        return cls(data["run_id"], data["command"], tuple(data.get("args", ())))


def _signal(children, signum: int) -> None:
    """Signal each child's whole process group (analysis worker processes included)."""
    for child in children:
        if child is not None and child.poll() is None:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass


def _settle(paths: RunPaths, children: dict[str, subprocess.Popen], cancelled: bool) -> None:
    """Children that ended without recording how (killed, crashed on start-up) are recorded here."""
    record = read_run(paths)
    for command, child in children.items():
        kind = KINDS[command]
        if kind.status(record) not in ACTIVE_STATUSES or job_is_active(paths, kind.lock):
            continue
        if cancelled:
            kind.record_end(paths, "cancelled", "cancelled by the user")
        elif child.returncode == 0 and kind.done_on_exit_0:
            kind.record_end(paths, "completed", None)
        else:
            kind.record_end(paths, "failed", job_log_tail(paths, child.log_start)
                            or f"spectrascope {command} exited with status {child.returncode}")


def _follow_up(job: Job, running: subprocess.Popen | None, done: set[int],
               again: bool = False) -> tuple[subprocess.Popen | None, set, bool]:
    """Start the job's follow-up command (training: an analysis) over the checkpoints that landed since
    the last one, once the last one has ended; `again`: even with none new (the pass after training ended,
    when the default randomization policy adds the last checkpoint). Says whether it started one."""
    if job.kind.follow_up is None or (running is not None and running.poll() is None):
        return running, done, False
    landed = set(checkpoint_epochs(job.paths))
    if not (landed - done or again):
        return running, done, False
    return spawn_command(job.kind.follow_up, ("--run-id", job.run_id), job.paths), landed, True


def run_job(job: Job, report: Report = lambda fraction, text: None, queued: bool = True,
            fenced: Callable[[], bool] = lambda: False) -> str:
    """Run a submitted job to its end and return how it ended; `queued`: wait for a job slot first (a team's
    Celery workers have their own). Cancelling sends SIGTERM (each command records itself `cancelled`),
    then SIGKILL if a child is still there KILL_AFTER_SECONDS later. Once `fenced()` (a team worker lost
    its lease: another may take the job over) the children are killed at once and nothing is recorded:
    "fenced"."""
    paths = job.paths
    slot = job_slot(job.run_id, lambda: cancel_requested(paths), report) if queued else nullcontext(True)
    with job_lock(paths, RUNNER_LOCK), slot as got_slot:
        if not got_slot or cancel_requested(paths):
            job.kind.record_end(paths, "cancelled", "cancelled by the user")
            clear_cancel_request(paths)
            return "cancelled"
        main = spawn_command(job.command, job.args, paths)
        follow_up, followed, stopping_since, last_pass = None, set(), None, False
        while True:
            finished = main.poll() is not None
            last_pass_owed = finished and main.returncode == 0 and job.kind.follow_up is not None and not last_pass
            if fenced():
                _signal((main, follow_up), signal.SIGKILL)
                return "fenced"
            if cancel_requested(paths):
                if stopping_since is None:
                    stopping_since = time.monotonic()
                    _signal((main, follow_up), signal.SIGTERM)
                elif time.monotonic() - stopping_since > KILL_AFTER_SECONDS:
                    _signal((main, follow_up), signal.SIGKILL)
            else:
                follow_up, followed, started = _follow_up(job, follow_up, followed, again=last_pass_owed)
                last_pass = last_pass or (last_pass_owed and started)
            report(*progress(read_run(paths), job.kind))
            if (finished and (follow_up is None or follow_up.poll() is not None)
                    and (last_pass or not last_pass_owed or cancel_requested(paths))):
                break
            time.sleep(POLL_SECONDS)
        children = {job.command: main, **({job.kind.follow_up: follow_up} if follow_up else {})}
        _settle(paths, children, cancelled=cancel_requested(paths))
        clear_cancel_request(paths)
    return outcome(job)


def outcome(job: Job) -> str:
    return job.kind.status(read_run(job.paths)) or "unknown"


def start_detached(job: Job) -> None:
    """Start `python -m spectrascope.jobs JOB` so that it is nobody's child: killing the caller leaves it
    running."""
    launcher = [sys.executable, "-m", "spectrascope.jobs", "--detach", job.to_json()]
    subprocess.run(launcher, check=True, stdin=subprocess.DEVNULL, start_new_session=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = Job.from_dict(json.loads(argv[-1]))
    if argv[0] == "--detach":  # the intermediate process: start the job and exit, re-parenting it to init
        with open_job_log(job.paths) as log:
            subprocess.Popen([sys.executable, "-m", "spectrascope.jobs", argv[-1]], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return 0
    return 0 if run_recorded(job) == "completed" else 1


def run_recorded(job: Job, **options) -> str:
    """run_job, with a failure of the runner itself recorded in the run (and its traceback in job.log)."""
    try:
        return run_job(job, **options)
    except BaseException as exc:
        traceback.print_exc()  # into job.log
        job.kind.record_end(job.paths, "failed", f"the job runner failed: {type(exc).__name__}: {exc}")
        if not isinstance(exc, Exception):
            raise
        return "failed"
