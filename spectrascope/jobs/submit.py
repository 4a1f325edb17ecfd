"""What the dashboard (or any front end) asks of the jobs: submit a training or an analysis, start it,
cancel, list.

Submitting checks the request with the commands' own rules and records the job in the run at once
(`queued`), so every page shows it before its process starts. Starting hands it to this machine's job
runner, or, for a team (REDIS_URL set), to the Celery workers (spectrascope.jobs.team)."""
from __future__ import annotations

import logging
import re
import time

from analysis.options import BACKENDS
from spectrascope import settings
from spectrascope.errors import UserError
from spectrascope.jobs import leases, ledger
from spectrascope.jobs.commands import KINDS, JobKind, progress
from spectrascope.jobs.queue import POLL_SECONDS, waiting_runs
from spectrascope.jobs.supervisor import RUNNER_LOCK, START_GRACE_SECONDS, Job, Report, outcome, start_detached
from spectrascope.runs import (
    ACTIVE_STATUSES, RunBusyError, RunFormatError, RunRecord, cancel_requested, checkpoint_epochs, clear_cancel_request,
    ensure_writable_dir, job_is_active, new_run_record, read_run, run_paths, update_run, write_run,
)
from spectrascope.runs import request_cancel as cancel_run_job
from training.config import default_run_id, preset_config

log = logging.getLogger("spectrascope.jobs")
REPORT_FILE = "report.html"


def _flags(overrides: dict) -> list[str]:
    """Keyword overrides as the CLI's flags (`--no-flip` for a false switch)."""
    args = []
    for name, value in overrides.items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            args.append(f"--{flag}" if value else f"--no-{flag}")
        elif value is not None:
            args += [f"--{flag}", str(value)]
    return args


def submit_training(preset: str, run_id: str | None = None, **overrides) -> Job:
    """Check the request and reserve the run as `queued`; raises UserError naming what is wrong."""
    config = preset_config(preset, **overrides)
    run_id = run_id or default_run_id(preset)
    paths = run_paths(settings.data_dir(), run_id)
    ensure_writable_dir(settings.data_dir())
    try:
        paths.root.mkdir(parents=True)
    except FileExistsError:
        raise RunFormatError(f"run {run_id!r} already exists: choose another run id") from None
    write_run(paths, new_run_record(run_id, kind="trained", preset=preset, config=config.to_dict(),
                                    total_epochs=config.epochs, provenance={}))
    return Job(run_id, "train", ("--preset", preset, "--run-id", run_id, *_flags(overrides)))


def submit_resume(run_id: str, device: str | None = None) -> Job:
    """Continue an interrupted, failed or cancelled training from its last complete epoch, with its own config,
    on the job runner (a team's workers with REDIS_URL); its follow-up analysis takes the checkpoints not yet
    analysed; `device` may differ (another machine). The train command checks the rest (a run that diverged)
    and records its refusal."""
    paths = run_paths(settings.data_dir(), run_id)
    record = read_run(paths)  # a clear error for an unknown run
    if record.kind != "trained":
        raise UserError(f"run {run_id!r} was imported, not trained by spectrascope: it cannot be resumed")
    if record.status == "completed":
        raise UserError(f"run {run_id!r} is complete: nothing to resume")
    if job_claims_run(run_id) or job_is_active(paths, KINDS["train"].lock):
        raise UserError(f"run {run_id!r} already has a job working on it: wait for it to finish, or cancel it")
    clear_cancel_request(paths)
    update_run(paths, status="queued", error=None, progress={"phase": "queued"})
    return Job(run_id, "train", ("--run-id", run_id, "--resume") + (("--device", device) if device else ()))


def submit_analysis(run_id: str, backend: str = "fast", randomize: bool = False) -> Job:
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    paths = run_paths(settings.data_dir(), run_id)
    read_run(paths)  # a clear error for an unknown run
    if not checkpoint_epochs(paths):
        raise UserError(f"run {run_id!r} has no checkpoints yet: nothing to analyse")
    if job_claims_run(run_id) or job_is_active(paths, KINDS["analyze"].lock):
        raise UserError(f"run {run_id!r} already has a job working on it: wait for it to finish, or cancel it")
    clear_cancel_request(paths)  # left by an earlier job that ended before it saw it
    update_run(paths, analysis={"status": "queued", "backend": backend, "error": None, "errors": {}})
    return Job(run_id, "analyze", ("--run-id", run_id, "--backend", backend) + (("--randomize",) if randomize else ()))


def _claim_for_export(run_id: str, command: str, name: str) -> None:
    """Check the run can be exported now and record the export `queued` (the command checks the rest: the
    layer, the analysis, and records its refusal as the job's error)."""
    paths = run_paths(settings.data_dir(), run_id)
    read_run(paths)  # a clear error for an unknown run
    if not paths.layers_csv.exists():
        raise UserError(f"run {run_id!r} has not been analysed yet: analyse it, then export it")
    if job_claims_run(run_id) or job_is_active(paths, KINDS[command].lock):
        raise UserError(f"run {run_id!r} already has a job working on it: wait for it to finish, or cancel it")
    clear_cancel_request(paths)
    update_run(paths, export={"status": "queued", "command": command, "file": name, "frames_done": 0,
                              "frames_total": None, "error": None})


def submit_export(run_id: str, view: str, fmt: str, layer: str | None = None, biases: bool = False) -> Job:
    """A view of the run over its epochs as a file in its exports/ folder, for the page to offer."""
    name = "-".join([view] + ([re.sub(r"[^\w.-]", "_", layer)] if layer else []) + (["biases"] if biases else []))
    name = f"{name}.{fmt}"
    _claim_for_export(run_id, "export", name)
    return Job(run_id, "export", ("--run", run_id, "--view", view, "--format", fmt, "--to-run", name)
               + (("--layer", layer) if layer else ()) + (("--biases",) if biases else ()))


def submit_report(run_id: str) -> Job:
    _claim_for_export(run_id, "report", REPORT_FILE)
    return Job(run_id, "report", ("--run", run_id, "--to-run", REPORT_FILE))


def start(job: Job) -> None:
    """Run a submitted job: on the team's workers when REDIS_URL is set, else here, detached."""
    if settings.redis_url():
        from spectrascope.jobs import team  # Celery, only for a team

        team.enqueue(job)
    else:
        start_detached(job)


def _team_entry(run_id: str) -> tuple[object, dict | None]:
    """(Redis client, the run's current team job) when REDIS_URL is set; (None, None) otherwise, or while
    Redis does not answer (the page then shows what the run says; /health names the problem)."""
    url = settings.redis_url()
    if not url:
        return None, None
    import redis

    client = leases.connect(url)
    try:
        return client, leases.current(client, run_id)
    except (redis.RedisError, OSError) as exc:
        log.warning("Redis does not answer (%s): showing the runs without their team jobs", exc)
        return None, None


def request_cancel(run_id: str) -> None:
    """Ask the run's job to stop; it is marked `cancelled` by the job itself within a second. A team job no
    worker has started yet is taken out of line and marked at once."""
    paths = run_paths(settings.data_dir(), run_id)
    client, entry = _team_entry(run_id)
    if entry and leases.cancel_in_line(client, run_id, entry):
        ledger.forget(paths, entry["id"])
        Job.from_dict(leases.job_of(entry)).kind.record_end(paths, "cancelled", "cancelled by the user")
        return
    cancel_run_job(paths)


def active_job(record: RunRecord) -> tuple[JobKind, float, str] | None:
    """The job at work on a run (training before its analysis), with its progress; None when idle."""
    for kind in KINDS.values():
        if kind.status(record) in ACTIVE_STATUSES:
            return (kind, *progress(record, kind))
    return None


def place_in_line(run_id: str) -> str | None:
    """"next in line", "#2 in line", ...; None when the run's job is not waiting for a slot (or a worker)."""
    client, entry = _team_entry(run_id)
    if entry:
        place = leases.place_in_line(client, run_id, entry["queue"])
    else:
        waiting = waiting_runs()
        place = waiting.index(run_id) + 1 if run_id in waiting else None
    if place is None:
        return None
    return "next in line" if place == 1 else f"#{place} in line"


def cancelling(run_id: str) -> bool:
    """True between a cancel request and the job's end."""
    return cancel_requested(run_paths(settings.data_dir(), run_id))


def job_is_running(run_id: str) -> bool:
    """True while a job runner holds the run (queued or at work): this machine's (its lock), or for a team
    a worker's heartbeat (whatever Redis says), a job in the workers' line or a worker's live lease. A team
    job whose lease lapsed is not running (its worker is gone: the page reads `interrupted`), though it still
    claims the run (job_claims_run)."""
    paths = run_paths(settings.data_dir(), run_id)
    if job_is_active(paths, RUNNER_LOCK) or (settings.redis_url() and ledger.alive(paths, settings.lease_seconds())):
        return True
    client, entry = _team_entry(run_id)
    return bool(entry) and (entry.get("started") == "0" or leases.lease_held(client, run_id))


def refuse_while_team_job(run_id: str) -> None:
    """Delete and `rm` check file locks, which a team's job (in line, or on another host) does not hold here."""
    if settings.redis_url() and job_claims_run(run_id):
        raise RunBusyError(f"run {run_id!r} has a job in line or at work on the team's workers: cancel it first")


def job_claims_run(run_id: str) -> bool:
    """True while no other job may start on the run: one is running, or a team's job is current (in line,
    running, or lost and about to be taken over), in Redis or on record in the data directory (Redis forgot
    it, and a worker queues it again)."""
    paths = run_paths(settings.data_dir(), run_id)
    if job_is_active(paths, RUNNER_LOCK):
        return True
    if settings.redis_url() and ledger.recorded(paths) is not None:
        return True
    return _team_entry(run_id)[1] is not None  # a leased job is current too


def watch(job: Job, report: Report) -> str:
    """Report a started job's progress until it ends (what a Dash background callback does), wherever it
    runs."""
    started, seen = time.monotonic(), False
    while True:
        alive = job_is_running(job.run_id)
        seen = seen or alive
        if not alive and (seen or time.monotonic() - started > START_GRACE_SECONDS):
            break
        report(*progress(read_run(job.paths), job.kind))
        time.sleep(POLL_SECONDS)
    return outcome(job)
