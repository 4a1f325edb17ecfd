"""Jobs on Celery workers (REDIS_URL set), as a team runs them: a real redis-server and real Celery
workers, one per queue, each started in its own working directory and sharing one data dir, as two hosts
would. Jobs are submitted the way the page submits them (spectrascope.jobs.submit_* then start)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from helpers import REPO, SPECTRASCOPE, read_metrics_csv, spectrascope, wait_for
from team_helpers import Worker

from spectrascope import jobs
from spectrascope.jobs import leases, probe
from spectrascope.jobs.team import LOST_WORKER_NOTE, celery_app
from spectrascope.runs import checkpoint_epochs, job_is_active, read_manifest, read_run, run_paths

pytestmark = pytest.mark.slow
LEASE_SECONDS = 2  # a lost worker is noticed within about 3 s
JOB_WAIT = 240


@pytest.fixture(scope="module")
def team(redis_url, tmp_path_factory):
    """(data dir, env, {"train": worker, "analysis": worker}); the test process submits as the page does."""
    root = tmp_path_factory.mktemp("team")
    data_dir = root / "shared-data"
    env = {**os.environ, "REDIS_URL": redis_url, "SPECTRASCOPE_DATA_DIR": str(data_dir),
           "SPECTRASCOPE_LEASE_SECONDS": str(LEASE_SECONDS), "PYTHONPATH": str(REPO)}
    workers = {}
    try:
        workers["train"] = Worker(root / "gpu-box", env, "train", "train")
        workers["analysis"] = Worker(root / "cpu-box", env, "analysis,celery", "analysis")
        yield data_dir, env, workers
    finally:
        for worker in workers.values():
            worker.stop()


@pytest.fixture
def submitter(team, monkeypatch):
    """This process set up as the web front: same REDIS_URL, data dir and lease time as the workers."""
    data_dir, env, workers = team
    for name in ("REDIS_URL", "SPECTRASCOPE_DATA_DIR", "SPECTRASCOPE_LEASE_SECONDS"):
        monkeypatch.setenv(name, env[name])
    return data_dir, env, workers


def _status(data_dir, run_id: str) -> tuple[str, str | None]:
    """(training status, analysis status), once the job has let go of the run."""
    if jobs.job_is_running(run_id):
        return "job at work", None
    record = read_run(run_paths(data_dir, run_id))
    return record.status, record.analysis_state.status


def test_a_training_and_an_analysis_run_on_the_workers_of_their_queues(submitter):
    data_dir, _, workers = submitter
    jobs.start(jobs.submit_training("demo", "on-train", epochs=2))
    wait_for(lambda: _status(data_dir, "on-train") == ("completed", "completed"), JOB_WAIT,
             "the training and its follow-up analysis to complete")
    assert workers["train"].ran("train", "on-train") and not workers["analysis"].ran("train", "on-train")

    submitted = spectrascope("submit", "analyze", "--run-id", "on-train", "--randomize", "--data-dir", data_dir,
                             env={"REDIS_URL": os.environ["REDIS_URL"]})  # from any machine with the settings
    assert submitted.returncode == 0 and "queued spectrascope analyze --run-id on-train" in submitted.stdout
    wait_for(lambda: workers["analysis"].ran("analyze", "on-train"), 60, "the analysis worker to take the job")
    wait_for(lambda: _status(data_dir, "on-train")[1] == "completed", JOB_WAIT, "the analysis to complete")
    assert not workers["train"].ran("analyze", "on-train")
    assert run_paths(data_dir, "on-train").randomized_esd(2).exists()  # the job's own flags reached the worker


def test_a_job_waiting_for_a_worker_shows_its_place_and_cancels_at_once(submitter):
    data_dir, _, workers = submitter
    jobs.start(jobs.submit_training("demo", "first", epochs=4))
    wait_for(lambda: workers["train"].ran("train", "first"), 60, "the training worker to take the first job")
    jobs.start(jobs.submit_training("demo", "second", epochs=1))
    assert jobs.place_in_line("second") == "next in line" and jobs.job_is_running("second")
    jobs.request_cancel("second")
    assert _status(data_dir, "second")[0] == "cancelled" and jobs.place_in_line("second") is None
    wait_for(lambda: _status(data_dir, "first")[0] == "completed", JOB_WAIT, "the first training to complete")
    wait_for(lambda: "superseded" in workers["train"].log.read_text(), 60, "the cancelled job's delivery to be dropped")
    assert not workers["train"].ran("train", "second") and checkpoint_epochs(run_paths(data_dir, "second")) == []


def test_cancel_stops_a_team_job_where_it_runs(submitter):
    data_dir, _, workers = submitter
    jobs.start(jobs.submit_training("demo", "stopped", epochs=200))
    paths = run_paths(data_dir, "stopped")
    wait_for(lambda: (read_run(paths).progress.epoch or 0) >= 1, JOB_WAIT, "the first epoch")
    jobs.request_cancel("stopped")
    wait_for(lambda: _status(data_dir, "stopped")[0] == "cancelled", 60, "the job to stop and say so")
    assert workers["train"].ran("train", "stopped") and read_run(paths).progress.epoch < 200


def test_a_killed_training_worker_s_job_resumes_on_a_fresh_worker_with_identical_metrics(submitter, tmp_path):
    data_dir, env, workers = submitter
    epochs = 8
    reference = spectrascope("train", "--preset", "demo", "--epochs", epochs, "--run-id", "lost",
                             "--data-dir", tmp_path / "reference", timeout=300)
    assert reference.returncode == 0, reference.stderr
    paths = run_paths(data_dir, "lost")
    jobs.start(jobs.submit_training("demo", "lost", epochs=epochs))
    wait_for(lambda: (read_run(paths).progress.epoch or 0) >= 2, JOB_WAIT, "two epochs to be trained")
    workers["train"].process.send_signal(signal.SIGKILL)  # the GPU box is lost
    workers["train"].process.wait()
    killed_at = read_run(paths).progress.epoch
    assert killed_at < epochs, "the training finished before the worker was killed: make it longer"
    first_checkpoint = paths.checkpoint(1).stat().st_mtime_ns

    # its job's processes died with it; within a minute another worker notices and submits the job again
    wait_for(lambda: not job_is_active(paths, "training"), 30, "the training process to die with its worker")
    wait_for(lambda: read_run(paths).error == LOST_WORKER_NOTE, 60, "the job to be submitted again")
    assert read_run(paths).status == "queued" and jobs.place_in_line("lost") == "next in line"

    workers["train"] = Worker(data_dir.parent / "gpu-box-2", env, "train", "train-2")
    wait_for(lambda: _status(data_dir, "lost") == ("completed", "completed"), JOB_WAIT, "the resumed run to complete")
    assert workers["train"].ran("train", "lost")
    assert paths.checkpoint(1).stat().st_mtime_ns == first_checkpoint  # resumed, not trained again
    header, rows = read_metrics_csv(data_dir, "lost")
    _, reference_rows = read_metrics_csv(tmp_path / "reference", "lost")
    assert [row["epoch"] for row in rows] == [str(epoch) for epoch in range(epochs + 1)]
    for row, expected in zip(rows, reference_rows):
        assert {k: v for k, v in row.items() if k != "seconds"} == {k: v for k, v in expected.items() if k != "seconds"}



def test_a_killed_analysis_worker_s_job_goes_on_from_its_saved_epochs_on_a_fresh_worker(submitter, tmp_path):
    data_dir, env, workers = submitter
    trained = spectrascope("train", "--preset", "demo", "--epochs", 30, "--run-id", "long-analysis",
                           "--data-dir", data_dir, timeout=300)
    assert trained.returncode == 0, trained.stderr
    paths = run_paths(data_dir, "long-analysis")
    jobs.start(jobs.submit_analysis("long-analysis", "weightwatcher"))  # the slow backend: time to kill it
    wait_for(lambda: len(read_manifest(paths) or {}) >= 2, JOB_WAIT, "the analysis to save two epochs")
    workers["analysis"].process.send_signal(signal.SIGKILL)
    workers["analysis"].process.wait()
    saved = {epoch: paths.esd(epoch).stat().st_mtime_ns for epoch in read_manifest(paths)}
    assert len(saved) < 31, "the analysis finished before its worker was killed: make it longer"

    wait_for(lambda: not job_is_active(paths, "analysis"), 30, "the analysis process to die with its worker")
    wait_for(lambda: read_run(paths).analysis_state.error == LOST_WORKER_NOTE, 60, "the job to be submitted again")
    workers["analysis"] = Worker(data_dir.parent / "cpu-box-2", env, "analysis,celery", "analysis-2")
    wait_for(lambda: _status(data_dir, "long-analysis")[1] == "completed", JOB_WAIT, "the analysis to complete")
    assert workers["analysis"].ran("analyze", "long-analysis") and len(read_manifest(paths)) == 31
    assert {epoch: paths.esd(epoch).stat().st_mtime_ns for epoch in saved} == saved  # not analysed again


def test_an_interrupted_run_resumes_on_the_team_s_workers_through_submit(submitter):
    data_dir, env, workers = submitter
    trainer = subprocess.Popen([*SPECTRASCOPE, "train", "--preset", "demo", "--epochs", "30", "--run-id", "cut-short",
                                "--data-dir", str(data_dir)], cwd=REPO, env={**env, "REDIS_URL": ""},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = run_paths(data_dir, "cut-short")
    wait_for(lambda: paths.run_json.exists() and (read_run(paths).progress.epoch or 0) >= 2, 120, "two epochs")
    trainer.send_signal(signal.SIGKILL)  # a laptop's training, cut short: the team's workers finish it
    trainer.wait()
    submitted = spectrascope("submit", "train", "--resume", "--run-id", "cut-short", "--data-dir", data_dir,
                             env={"REDIS_URL": env["REDIS_URL"]})
    assert submitted.returncode == 0, submitted.stderr
    assert "queued spectrascope train --run-id cut-short --resume on the team's workers" in submitted.stdout
    wait_for(lambda: _status(data_dir, "cut-short") == ("completed", "completed"), JOB_WAIT,
             "the resumed run to be trained and analysed")
    assert workers["train"].ran("train", "cut-short") and read_run(paths).progress.epoch == 30


def test_a_worker_that_stops_taking_jobs_says_so_and_exits(submitter):
    from celery.utils.nodenames import worker_direct

    data_dir, env, _ = submitter
    worker = Worker(data_dir.parent / "deaf-box", {**env, "SPECTRASCOPE_PROBE_SECONDS": "1"}, "probed", "deaf")
    try:
        wait_for(lambda: worker.log.read_text().count(f"Task {probe.TASK}[") >= 6, 60, "three probes taken")
        assert worker.process.poll() is None
        name = f"deaf@{socket.gethostname()}"
        for queue in ("probed", worker_direct(name).name):  # connected, and consuming nothing: deaf
            celery_app(env["REDIS_URL"]).control.cancel_consumer(queue, destination=[name], reply=True)
        wait_for(lambda: worker.process.poll() is not None, 60, "the deaf worker to exit", interval=0.2)
        assert worker.process.returncode == 1
        assert "stopped taking jobs from its queues" in worker.log.read_text()
    finally:
        worker.stop()


# --- the shared state in Redis, without workers ----------------------------------------------------


def test_a_lease_is_held_by_one_worker_renewed_while_held_and_freed_after(redis_url):
    client = leases.connect(redis_url)
    with leases.lease(client, "r", seconds=1.5) as first:
        with leases.lease(client, "r", seconds=1.5) as second:
            assert first and second is None
        time.sleep(4.5)  # three lifetimes: alive only because it is renewed
        assert leases.lease_held(client, "r") and not first.lost.is_set()
    assert not leases.lease_held(client, "r")


def test_a_worker_whose_lease_another_holds_is_told_to_stop(redis_url):
    client = leases.connect(redis_url)
    with leases.lease(client, "fenced", seconds=1.5) as held:
        client.set("spectrascope:lease:fenced", "another-worker")  # it lapsed and another took the job over
        assert held.lost.wait(5)


def test_a_lease_and_job_redis_forgot_are_taken_again_and_the_job_goes_on(redis_url):
    client = leases.connect(redis_url)
    job = '{"run_id": "amnesia", "command": "train"}'
    job_id = leases.claim(client, "amnesia", job, "train")
    leases.start(client, "amnesia", job_id, "train")
    beats = []
    with leases.lease(client, "amnesia", seconds=1.5, beat=lambda: beats.append(time.monotonic()),
                      restored=lambda: leases.restore(client, "amnesia", job_id, job, "train")) as held:
        client.delete("spectrascope:lease:amnesia", "spectrascope:job:amnesia")  # Redis restarted empty
        wait_for(lambda: leases.lease_held(client, "amnesia") and leases.current(client, "amnesia"), 5,
                 "the lease and the job record to be put back")
        assert not held.lost.is_set()
        assert leases.current(client, "amnesia") == {"id": job_id, "job": job, "queue": "train", "started": "1"}
        wait_for(lambda: len(beats) >= 3, 5, "the heartbeat at each renewal")
    assert not leases.lease_held(client, "amnesia")
    leases.finish(client, "amnesia", job_id)


def test_a_job_superseded_while_redis_forgot_its_lease_is_told_to_stop(redis_url):
    client = leases.connect(redis_url)
    job_id = leases.claim(client, "replaced", "{}", "train")
    with leases.lease(client, "replaced", seconds=1.5,
                      restored=lambda: leases.restore(client, "replaced", job_id, "{}", "train")) as held:
        client.delete("spectrascope:lease:replaced")
        leases.finish(client, "replaced", job_id)
        assert leases.claim(client, "replaced", "{}", "train")  # the run's job now is another
        assert held.lost.wait(5)
    assert leases.cancel_in_line(client, "replaced", leases.current(client, "replaced"))


def test_a_run_s_jobs_start_cancel_and_take_over_one_at_a_time(redis_url):
    client = leases.connect(redis_url)
    first = leases.claim(client, "one", '{"run_id": "one", "command": "train"}', "train")
    assert first and leases.claim(client, "one", "{}", "train") is None  # one job per run
    entry = leases.current(client, "one")
    assert leases.start(client, "one", "not-current", "train") is None
    assert leases.start(client, "one", first, "train") == 0
    assert not leases.cancel_in_line(client, "one", entry)  # started: it is cancelled through the run
    assert leases.start(client, "one", first, "train") == 1  # a redelivery: started once before
    entry = leases.current(client, "one")
    with leases.lease(client, "one", seconds=5):
        assert leases.take_over(client, "one", entry, "{}") is None  # its worker is alive
    takers = [leases.take_over(client, "one", entry, '{"resumed": true}') for _ in range(3)]
    assert takers[0] and takers[1:] == [None, None]  # exactly once
    assert leases.current(client, "one")["started"] == "0" and leases.place_in_line(client, "one", "train") == 1
    assert leases.cancel_in_line(client, "one", leases.current(client, "one"))
    assert leases.current(client, "one") is None and leases.place_in_line(client, "one", "train") is None


def test_a_team_job_counts_as_running_while_in_line_or_leased_not_once_its_lease_lapsed(redis_url, monkeypatch,
                                                                                          tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path))
    client = leases.connect(redis_url)
    job_id = leases.claim(client, "solo", '{"run_id": "solo", "command": "train"}', "train")
    assert jobs.job_is_running("solo") and jobs.place_in_line("solo") == "next in line"
    leases.start(client, "solo", job_id, "train")
    with leases.lease(client, "solo", seconds=5):
        assert jobs.job_is_running("solo") and jobs.place_in_line("solo") is None
    assert not jobs.job_is_running("solo")  # started, and no worker renews its lease: the page says interrupted
    assert jobs.job_claims_run("solo")  # yet no other job may start until it is taken over


def test_rm_refuses_a_run_a_team_job_claims(redis_url, tmp_path):
    (tmp_path / "runs" / "claimed").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "runs" / "data" / "run-0.1.0.json", tmp_path / "runs" / "claimed" / "run.json")
    client = leases.connect(redis_url)
    job_id = leases.claim(client, "claimed", '{"run_id": "claimed", "command": "train"}', "train")
    refused = spectrascope("rm", "claimed", "--data-dir", tmp_path, env={"REDIS_URL": redis_url})
    assert refused.returncode == 2 and "has a job in line or at work" in refused.stderr
    assert (tmp_path / "runs" / "claimed").is_dir()
    leases.finish(client, "claimed", job_id)
    deleted = spectrascope("rm", "claimed", "--data-dir", tmp_path, env={"REDIS_URL": redis_url})
    assert deleted.returncode == 0, deleted.stderr
    assert not (tmp_path / "runs" / "claimed").exists()
