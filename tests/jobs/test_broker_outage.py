"""A team survives its broker: redis-server killed with kill -9 mid-job and started again, empty (as a box
without persistence comes back) or from its append-only file, with two real Celery `train` workers and an
`analysis` one, each in its own folder, sharing one data dir as hosts would."""
from __future__ import annotations

import os
import time

import pytest
from helpers import REPO, read_metrics_csv, spectrascope, wait_for
from team_helpers import RedisServer, Worker

from spectrascope import jobs
from spectrascope.jobs.team import FORGOTTEN_NOTE, LOST_WORKER_NOTE, celery_app
from spectrascope.runs import read_run, run_paths

pytestmark = pytest.mark.slow
LEASE_SECONDS = 2
OUTAGE_SECONDS = 4 * LEASE_SECONDS  # every lease in Redis lapses meanwhile
EPOCHS = 20  # about a second each: the outage falls well inside the training
JOB_WAIT = 300
WORKERS = ("train-1", "train-2", "analysis")


@pytest.fixture(params=["restarted empty", "restarted from its append-only file"])
def team(request, tmp_path, monkeypatch):
    """(redis server, data dir, workers by name), this process set up as the web front."""
    server = RedisServer(tmp_path / "redis", append_only="append-only" in request.param)
    data_dir = tmp_path / "shared-data"
    env = {**os.environ, "REDIS_URL": server.url, "SPECTRASCOPE_DATA_DIR": str(data_dir),
           "SPECTRASCOPE_LEASE_SECONDS": str(LEASE_SECONDS), "PYTHONPATH": str(REPO)}
    for name in ("REDIS_URL", "SPECTRASCOPE_DATA_DIR", "SPECTRASCOPE_LEASE_SECONDS"):
        monkeypatch.setenv(name, env[name])
    workers = {}
    try:
        for name in WORKERS:
            workers[name] = Worker(tmp_path / f"{name}-box", env, "analysis,celery" if name == "analysis" else "train",
                                   name)
        yield server, data_dir, workers
    finally:
        for worker in workers.values():
            worker.stop()
        server.stop()


def _done(data_dir, run_id: str) -> bool:
    record = read_run(run_paths(data_dir, run_id))
    return (record.status, record.analysis_state.status) == ("completed", "completed")


def _runners(workers, run_id: str) -> list[str]:
    return [name for name, worker in workers.items() if worker.ran("train", run_id)]


def _job_log(data_dir, run_id: str) -> str:
    return run_paths(data_dir, run_id).job_log.read_text()


def test_a_redis_restart_mid_job_loses_no_job_and_leaves_no_worker_deaf(team, tmp_path):
    server, data_dir, workers = team
    reference = spectrascope("train", "--preset", "demo", "--epochs", EPOCHS, "--run-id", "through",
                             "--data-dir", tmp_path / "reference", timeout=300)
    assert reference.returncode == 0, reference.stderr
    jobs.start(jobs.submit_training("demo", "through", epochs=EPOCHS))
    jobs.start(jobs.submit_training("demo", "beside", epochs=EPOCHS))
    jobs.start(jobs.submit_training("demo", "waiting", epochs=2))  # in line: both train workers are busy
    through = run_paths(data_dir, "through")
    wait_for(lambda: (read_run(through).progress.epoch or 0) >= 2, JOB_WAIT, "two epochs of the first training")
    assert jobs.place_in_line("waiting") == "next in line"

    server.kill()
    killed_at = read_run(through).progress.epoch
    wait_for(lambda: (read_run(through).progress.epoch or 0) > killed_at, 30, "the training to go on without Redis")
    assert jobs.job_is_running("through")  # the page sees the worker's heartbeat: not "its process died"
    time.sleep(OUTAGE_SECONDS)  # the outage itself, which the test is about: no condition to wait for
    assert read_run(through).progress.epoch < EPOCHS, "the training finished during the outage: make it longer"
    server.start()

    for run_id in ("through", "beside", "waiting"):
        wait_for(lambda: _done(data_dir, run_id), JOB_WAIT, f"{run_id} to be trained and analysed")
        assert len(_runners(workers, run_id)) == 1, f"{run_id} ran on {_runners(workers, run_id)}"
    header, rows = read_metrics_csv(data_dir, "through")
    _, expected = read_metrics_csv(tmp_path / "reference", "through")
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in rows] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in expected]
    for run_id in ("through", "beside"):  # no takeover: their leases, lapsed or forgotten, were taken back
        log = _job_log(data_dir, run_id)
        assert LOST_WORKER_NOTE not in log and FORGOTTEN_NOTE not in log and "took it back" in log
    # a Redis that came back empty forgot the job in line: it was queued again from the run's record, once
    assert _job_log(data_dir, "waiting").count(FORGOTTEN_NOTE) == (0 if server.append_only else 1)

    pongs = {name.split("@")[0] for reply in celery_app(server.url).control.ping(timeout=5) for name in reply}
    assert pongs == set(WORKERS)
    jobs.start(jobs.submit_training("demo", "after-1", epochs=6))
    jobs.start(jobs.submit_training("demo", "after-2", epochs=6))
    wait_for(lambda: all(read_run(run_paths(data_dir, run_id)).status == "running" for run_id in ("after-1", "after-2")),
             60, "both train workers to take a job at once")
    for run_id in ("after-1", "after-2"):
        wait_for(lambda: _done(data_dir, run_id), JOB_WAIT, f"{run_id} to complete")
