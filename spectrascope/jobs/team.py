"""Jobs on Celery workers, for a team (REDIS_URL set): a job goes to its kind's queue, and a worker on
any host that mounts the same data dir runs it through the same supervisor as a single-machine job (the
CLI in child processes; Cancel through the run's `.cancel` file, wherever the job runs). The web process
never runs a job itself.

    celery -A app.worker worker -Q train --concurrency 1               # a GPU box
    celery -A app.worker worker -Q analysis,celery --concurrency 4     # a CPU box (and the page's callbacks)

A worker that dies mid-job stops renewing its lease (spectrascope.jobs.leases), and its job's processes
die with it; the page reads the run `interrupted`. Every worker checks the leases twice per lease time:
the first to see a lapsed one takes the job over (one Redis script, so exactly one does) and submits
what it left to do, which goes on where it stopped (`train --resume` from the last complete epoch; an
analysis keeps the epochs it saved). A worker that cannot renew its lease (Redis unreachable) kills its
job before the lease lapses, so two workers never run one job. A broker's redelivery of a lost job
resumes it the same way; a delivery of a job that is no longer current is dropped.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from functools import lru_cache

from spectrascope import settings
from spectrascope.command import die_with_parent
from spectrascope.jobs import leases
from spectrascope.jobs.commands import KINDS
from spectrascope.jobs.supervisor import Job, run_recorded
from spectrascope.runs import ACTIVE_STATUSES, RunBusyError, read_run

TASK = "spectrascope.run_job"
# a job's command -> the queue of the workers that run it (exports draw in Chromium: CPU work)
QUEUES = {"train": "train", "analyze": "analysis", "export": "analysis", "report": "analysis"}
LOST_WORKER_NOTE = ("the worker running this job was lost; the job was submitted again and goes on from where it "
                    "stopped on the next free worker")
log = logging.getLogger("spectrascope.jobs")


@lru_cache(maxsize=None)
def celery_app(url: str):
    """One Celery app per Redis URL, shared by the jobs and the dashboard's background callbacks. Settings
    for long jobs: a task is acknowledged once done (a lost worker's task is delivered again), one task
    fetched at a time, and a visibility timeout above the longest job, so the broker never hands a job
    that is still running to a second worker. While Redis is away, a worker reconnects for as long as it takes
    (never giving up after celery's default 100 tries) and lets the task it runs go on: training needs no
    broker, and its lease renewals retry on their own."""
    import redis
    from celery import Celery

    app = Celery("spectrascope", broker=url, backend=url)
    app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                    broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds()},
                    result_expires=24 * 3600, broker_connection_retry_on_startup=True,
                    broker_connection_retry=True, broker_connection_max_retries=None,
                    worker_cancel_long_running_tasks_on_connection_loss=False,
                    result_backend_always_retry=True, redis_retry_on_timeout=True)
    # a Redis that does not answer for a moment: the delivery is tried again, not lost with its job
    app.task(name=TASK, autoretry_for=(redis.RedisError,), retry_backoff=True, max_retries=20)(_run_delivered_job)
    return app


def _client():
    return leases.connect(settings.redis_url())


def enqueue(job: Job) -> None:
    """Make the job its run's current one and send it to the queue of its kind; refused while the run has a
    job (in line, running, or lost and not yet taken over)."""
    client = _client()
    job_id = leases.claim(client, job.run_id, job.to_json(), QUEUES[job.command])
    if job_id is None:
        raise RunBusyError(f"run {job.run_id!r} already has a job (in line, running or being resumed): wait for "
                           "it to finish, or cancel it")
    try:
        _send(job, job_id)
    except BaseException:  # never sent: it must not hold the run
        leases.finish(client, job.run_id, job_id)
        raise


def _send(job: Job, job_id: str) -> None:
    queue = QUEUES[job.command]
    celery_app(settings.redis_url()).send_task(TASK, args=(job.to_json(), job_id), queue=queue)
    log.info("sent %s of %s to the %s queue", job.command, job.run_id, queue)


def _run_delivered_job(job_json: str, job_id: str) -> str:
    """The task: run the job under its run's lease, unless it is no longer current or another worker runs
    it. The lease is let go before the job stops being current, so the run's next job never finds it held."""
    job = Job.from_dict(json.loads(job_json))
    client = _client()
    with leases.lease(client, job.run_id, settings.lease_seconds()) as held:
        if held is None:
            return "running elsewhere"  # a second delivery of the job a worker is running
        before = leases.start(client, job.run_id, job_id, QUEUES[job.command])
        if before is None:
            return "superseded"  # cancelled in line, or taken over since
        if before:  # delivered again after its worker was lost: go on where it stopped
            job = job.resumed()
        log.info("running %s of %s", job.command, job.run_id)
        outcome = run_recorded(job, queued=False, fenced=held.lost.is_set)
    if outcome != "fenced":
        leases.finish(client, job.run_id, job_id)
    return outcome


# --- failover ------------------------------------------------------------------------------------


def left_to_do(job: Job) -> Job | None:
    """What a lost job leaves to do, from the run: the job itself, going on where it stopped; its follow-up
    alone when only that was at work (a training that completed while its analysis ran); else nothing."""
    record = read_run(job.paths)
    if job.kind.status(record) in ACTIVE_STATUSES:
        return job.resumed()
    follow_up = job.kind.follow_up
    if follow_up and KINDS[follow_up].status(record) in ACTIVE_STATUSES:
        return Job(job.run_id, follow_up, ("--run-id", job.run_id))
    return None


def fail_over(client) -> list[str]:
    """Submit again what every started job whose lease lapsed (its worker is gone) left to do, exactly once
    each; the runs. Between the lapse and this, the page reads the run `interrupted`; after it, `queued`
    with LOST_WORKER_NOTE."""
    resumed = []
    for run_id, entry in leases.started_runs(client):
        try:
            if leases.lease_held(client, run_id):
                continue
            job = left_to_do(Job.from_dict(leases.job_of(entry)))
            if job is None:
                leases.finish(client, run_id, entry["id"])  # it had done its work
                continue
            job_id = leases.take_over(client, run_id, entry, job.to_json())
            if job_id is None:
                continue  # its lease came back, or another worker took it over
            job.kind.record_end(job.paths, "queued", LOST_WORKER_NOTE)
            _send(job, job_id)
            log.warning("the worker running the job of %s was lost: %s submitted again", run_id, job.command)
            resumed.append(run_id)
        except Exception:  # noqa: BLE001 - one run's trouble must not stop the others' failover
            log.exception("failing over the job of %s failed", run_id)
    return resumed


def _watch_leases(stop: threading.Event) -> None:
    client = _client()
    while not stop.wait(settings.lease_seconds() / 2):
        try:
            fail_over(client)
        except Exception:  # noqa: BLE001 - Redis gone for a moment: look again at the next tick
            log.exception("checking the job leases failed")


def install_worker_hooks() -> None:
    """In a Celery worker: every worker watches the others' leases; a pool process dies with its worker
    (so a `kill -9` of the worker takes its jobs' processes with it: nothing runs on unsupervised)."""
    from celery import signals

    stop = threading.Event()

    @signals.worker_ready.connect(weak=False)
    def start_watching(**_):
        threading.Thread(target=_watch_leases, args=(stop,), name="lease-watch", daemon=True).start()

    @signals.worker_shutdown.connect(weak=False)
    def stop_watching(**_):
        stop.set()

    @signals.worker_process_init.connect(weak=False)
    def die_with_worker(**_):
        die_with_parent(os.getppid())
