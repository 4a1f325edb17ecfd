"""Jobs on Celery workers, for a team (REDIS_URL set): a job goes to its kind's queue, and a worker on
any host that mounts the same data dir runs it through the same supervisor as a single-machine job (the
CLI in child processes; Cancel through the run's `.cancel` file, wherever the job runs). The web process
never runs a job itself.

    celery -A app.worker worker -Q train --concurrency 1               # a GPU box
    celery -A app.worker worker -Q analysis,celery --concurrency 4     # a CPU box (and the page's callbacks)

A worker that dies mid-job stops renewing its lease (spectrascope.jobs.leases); the other workers check
the leases every few seconds, mark the run `interrupted` and submit the job again, which resumes it
(`train --resume` from the last complete epoch; an analysis keeps the epochs it saved). Broker
redelivery is a second path to the same end: a delivery of a job that is no longer current is dropped.
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
from spectrascope.jobs.supervisor import Job, run_job

TASK = "spectrascope.run_job"
QUEUES = {"train": "train", "analyze": "analysis"}  # a job's command -> the queue of the workers that run it
LOST_WORKER_NOTE = ("the worker running this job was lost; the job was submitted again and goes on from where it "
                    "stopped on the next free worker")
log = logging.getLogger("spectrascope.jobs")


@lru_cache(maxsize=None)
def celery_app(url: str):
    """One Celery app per Redis URL, shared by the jobs and the dashboard's background callbacks. Settings
    for long jobs: a task is acknowledged once done (a lost worker's task is delivered again), one task
    fetched at a time, and a visibility timeout above the longest job, so the broker never hands a job
    that is still running to a second worker."""
    from celery import Celery

    app = Celery("spectrascope", broker=url, backend=url)
    app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                    broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds()},
                    result_expires=24 * 3600, broker_connection_retry_on_startup=True)
    app.task(name=TASK)(_run_delivered_job)
    return app


def enqueue(job: Job) -> None:
    """Make the job its run's current one and send it to the queue of its kind."""
    client = leases.connect()
    queue = QUEUES[job.command]
    job_id = leases.make_current(client, job.run_id, job.to_json(), queue)
    celery_app(settings.redis_url()).send_task(TASK, args=(job.to_json(), job_id), queue=queue)
    log.info("sent %s of %s to the %s queue", job.command, job.run_id, queue)


def _run_delivered_job(job_json: str, job_id: str) -> str:
    """The task: run the job under its run's lease, unless it is no longer current or runs elsewhere."""
    job = Job.from_dict(json.loads(job_json))
    client = leases.connect()
    if not leases.is_current(client, job.run_id, job_id):
        return "superseded"  # cancelled before it started, or submitted again since
    with leases.lease(client, job.run_id, settings.lease_seconds()) as held:
        if not held:
            return "running elsewhere"
        leases.mark_started(client, job.run_id, QUEUES[job.command])
        log.info("running %s of %s", job.command, job.run_id)
        try:
            return run_job(job, queued=False)
        finally:
            leases.finish(client, job.run_id, job_id)


# --- failover ------------------------------------------------------------------------------------


def fail_over(client) -> list[str]:
    """Submit again every started job whose lease lapsed (its worker is gone), once each; the runs. Between
    the lapse and this, the page reads the run `interrupted`; after it, `queued` with LOST_WORKER_NOTE."""
    resumed = []
    for run_id, entry in leases.started_runs(client):
        if leases.lease_held(client, run_id) or not leases.is_current(client, run_id, entry["id"]) \
                or not leases.take_over(client, entry["id"]):
            continue
        job = Job.from_dict(leases.job_of(entry))
        job.kind.record_end(job.paths, "queued", LOST_WORKER_NOTE)
        enqueue(job.resumed())
        log.warning("the worker running %s of %s was lost: submitted again to resume", job.command, run_id)
        resumed.append(run_id)
    return resumed


def _watch_leases(stop: threading.Event) -> None:
    client = leases.connect()
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
