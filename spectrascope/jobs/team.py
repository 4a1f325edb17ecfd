"""Jobs on Celery workers, for a team (REDIS_URL set): a job goes to its kind's queue, and a worker on
any host that mounts the same data dir runs it through the same supervisor as a single-machine job (the
CLI in child processes; Cancel through the run's `.cancel` file, wherever the job runs). The web process
never runs a job itself.

    celery -A app.worker worker -Q train --concurrency 1               # a GPU box
    celery -A app.worker worker -Q analysis,celery --concurrency 4     # a CPU box (and the page's callbacks)

A worker that dies mid-job stops renewing its lease (spectrascope.jobs.leases) and its heartbeat in the
data directory (spectrascope.jobs.ledger), and its job's processes die with it; the page reads the run
`interrupted`. Every worker checks the leases twice per lease time: the first to see a lapsed one whose
heartbeat stopped takes the job over (one Redis script, so exactly one does) and submits what it left to
do, which goes on where it stopped (`train --resume` from the last complete epoch; an analysis keeps the
epochs it saved). A broker's redelivery of a lost job resumes it the same way; a delivery of a job that is
no longer current is dropped.

Redis is only the queue: a job runs on through a Redis outage (training needs no broker), and takes its
lease and record again if Redis comes back without them. A job Redis forgot while it waited, or whose
worker was lost during the outage, is queued again from its record in the data directory, once.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from functools import lru_cache

from spectrascope import settings
from spectrascope.command import die_with_parent
from spectrascope.jobs import leases, ledger, probe
from spectrascope.jobs.commands import KINDS
from spectrascope.jobs.supervisor import Job, run_recorded
from spectrascope.runs import ACTIVE_STATUSES, RunBusyError, RunPaths, open_job_log, read_run

TASK = "spectrascope.run_job"
# a job's command -> the queue of the workers that run it (exports draw in Chromium: CPU work)
QUEUES = {"train": "train", "analyze": "analysis", "export": "analysis", "report": "analysis"}
LOST_WORKER_NOTE = ("the worker running this job was lost; the job was submitted again and goes on from where it "
                    "stopped on the next free worker")
FORGOTTEN_NOTE = ("Redis lost this job (it restarted without it); the job was submitted again from the run's record "
                  "and goes on from where it stopped on the next free worker")
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
                    result_backend_always_retry=True, redis_retry_on_timeout=True,
                    worker_direct=True)  # a queue of each worker's own, for its probe (spectrascope.jobs.probe)
    # a Redis that does not answer for a moment: the delivery is tried again, not lost with its job
    app.task(name=TASK, autoretry_for=(redis.RedisError,), retry_backoff=True, max_retries=20)(_run_delivered_job)
    probe.register(app)
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
        ledger.record(job.paths, job_id, job.to_json(), QUEUES[job.command])
        _send(job, job_id)
    except BaseException:  # never sent: it must not hold the run
        ledger.forget(job.paths, job_id)
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
    client, paths, queue = _client(), job.paths, QUEUES[job.command]
    with leases.lease(client, job.run_id, settings.lease_seconds(), beat=lambda: ledger.beat(paths, job_id),
                      restored=lambda: _taken_back(client, job, job_id, job_json)) as held:
        if held is None:
            return "running elsewhere"  # a second delivery of the job a worker is running
        before = leases.start(client, job.run_id, job_id, queue)
        if before is None:
            return "superseded"  # cancelled in line, or taken over since
        if before:  # delivered again after its worker was lost: go on where it stopped
            job = job.resumed()
        log.info("running %s of %s", job.command, job.run_id)
        outcome = run_recorded(job, queued=False, fenced=held.lost.is_set)
    if outcome != "fenced":
        ledger.forget(paths, job_id)
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


def _taken_back(client, job: Job, job_id: str, job_json: str) -> bool:
    """The running job's lease lapsed while Redis was away, or Redis restarted without it: the job is the run's
    current one again (False: another job is), as its job.log says."""
    current = leases.restore(client, job.run_id, job_id, job_json, QUEUES[job.command])
    if current:
        _say(job.paths, f"this job's lease lapsed while Redis was away, or Redis restarted without it: "
                        f"{ledger.worker_name()} took it back, and the job went on without a break")
    return current


def _say(paths: RunPaths, text: str) -> None:
    with open_job_log(paths, text):
        pass


def _resubmitted(job: Job, job_id: str, note: str) -> None:
    """A lost or forgotten job in line again, as its run and its job.log say (who noticed, how far it got)."""
    queue = QUEUES[job.command]
    ledger.record(job.paths, job_id, job.to_json(), queue)
    reached = job.kind.describe(*job.kind.counts(read_run(job.paths)))
    job.kind.record_end(job.paths, "queued", note)
    _say(job.paths, f"{note} (noticed by {ledger.worker_name()}; it had reached {reached}): "
                    f"spectrascope {job.command} {' '.join(job.args)}")
    _send(job, job_id)
    log.warning("%s: %s of %s submitted again", note, job.command, job.run_id)


def fail_over(client) -> list[str]:
    """Submit again what every started job whose lease lapsed and whose heartbeat stopped (its worker is gone)
    left to do, exactly once each; the runs. Between the lapse and this, the page reads the run
    `interrupted`; after it, `queued` with LOST_WORKER_NOTE."""
    resumed = []
    for run_id, entry in leases.started_runs(client):
        try:
            job = Job.from_dict(leases.job_of(entry))
            if leases.lease_held(client, run_id) or ledger.alive(job.paths, settings.lease_seconds()):
                continue
            paths, job = job.paths, left_to_do(job)
            if job is None:  # it had done its work
                ledger.forget(paths, entry["id"])
                leases.finish(client, run_id, entry["id"])
                continue
            job_id = leases.take_over(client, run_id, entry, job.to_json())
            if job_id is None:
                continue  # its lease came back, or another worker took it over
            _resubmitted(job, job_id, LOST_WORKER_NOTE)
            resumed.append(run_id)
        except Exception:  # noqa: BLE001 - one run's trouble must not stop the others' failover
            log.exception("failing over the job of %s failed", run_id)
    return resumed


def requeue_forgotten(client) -> list[str]:
    """Submit again, once each, the jobs the data directory records that Redis no longer knows (it restarted
    empty) and that no worker runs (no heartbeat): one that waited in line as it was, one that had started
    going on where it stopped; the runs."""
    requeued = []
    for paths in ledger.recorded_runs(settings.data_dir()):
        try:
            recorded = ledger.recorded(paths)
            if (recorded is None or leases.current(client, paths.run_id) is not None
                    or ledger.alive(paths, settings.lease_seconds())):
                continue
            job = _forgotten(paths, Job.from_dict(json.loads(recorded["job"])))
            if job is None:
                ledger.forget(paths, recorded["id"])  # it ended, and its worker was lost before saying so
                continue
            job_id = leases.claim(client, paths.run_id, job.to_json(), QUEUES[job.command])
            if job_id is None:
                continue  # another worker queued it first
            if (ledger.recorded(paths) or {}).get("id") != recorded["id"]:
                leases.finish(client, paths.run_id, job_id)  # ... and it even ran since: not twice
                continue
            _resubmitted(job, job_id, FORGOTTEN_NOTE)
            requeued.append(paths.run_id)
        except Exception:  # noqa: BLE001 - one run's trouble must not stop the others'
            log.exception("queueing again the forgotten job of %s failed", paths.run_id)
    return requeued


def _forgotten(paths: RunPaths, job: Job) -> Job | None:
    """What a job Redis forgot leaves to do: itself as submitted while it waited in line, else left_to_do."""
    return job if job.kind.status(read_run(paths)) == "queued" else left_to_do(job)


def _watch_leases(stop: threading.Event) -> None:
    """Twice a lease: take over the jobs of lost workers, queue again those Redis forgot. An outage is logged
    once as it starts and once as it ends, not at every tick."""
    import redis

    client, away_since = _client(), None
    while not stop.wait(settings.lease_seconds() / 2):
        try:
            fail_over(client)
            requeue_forgotten(client)
        except (redis.RedisError, OSError) as exc:
            if away_since is None:
                away_since = time.monotonic()
                log.warning("Redis does not answer (%s): running jobs go on; the leases are checked again once "
                            "it does", exc)
            continue
        except Exception:  # noqa: BLE001 - a bug must not stop the watch
            log.exception("checking the job leases failed")
        if away_since is not None:
            log.warning("Redis answers again after %.0f s", time.monotonic() - away_since)
            away_since = None


def install_worker_hooks() -> None:
    """In a Celery worker: every worker watches the others' leases and probes its own consumer (exiting when
    it stops taking jobs); a pool process dies with its worker (so a `kill -9` of the worker takes its jobs'
    processes with it: nothing runs on unsupervised)."""
    from celery import signals

    stop = threading.Event()

    @signals.worker_ready.connect(weak=False)
    def start_watching(sender, **_):
        threading.Thread(target=_watch_leases, args=(stop,), name="lease-watch", daemon=True).start()
        threading.Thread(target=probe.watch, args=(sender.app, sender.hostname, stop), name="probe",
                         daemon=True).start()

    @signals.worker_shutdown.connect(weak=False)
    def stop_watching(**_):
        stop.set()

    @signals.worker_process_init.connect(weak=False)
    def die_with_worker(**_):
        die_with_parent(os.getppid())
