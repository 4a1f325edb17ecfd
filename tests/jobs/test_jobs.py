"""Jobs started from the dashboard: the real CLI in child processes, a slot queue, cancel, errors."""
from __future__ import annotations

import fcntl
import os
import threading

import pytest

from helpers import wait_for
from spectrascope import jobs, settings
from spectrascope.errors import UserError
from spectrascope.jobs import queue as job_queue
from spectrascope.jobs import supervisor
from spectrascope.runs import RunPaths, job_is_active, job_lock, read_run, run_paths, update_run
from spectrascope.runs.files import read_csv

pytestmark = pytest.mark.slow


@pytest.fixture
def job_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPECTRASCOPE_MAX_JOBS", "1")
    return tmp_path / "data"


def paths_of(run_id: str) -> RunPaths:
    return run_paths(settings.data_dir(), run_id)


def fast_polls(monkeypatch, seconds: float) -> None:
    """Poll every `seconds`: the queue's wait for a slot and the runner's and watcher's loops."""
    monkeypatch.setattr(job_queue, "POLL_SECONDS", seconds)
    monkeypatch.setattr(supervisor, "POLL_SECONDS", seconds)


def _run_in_thread(job):
    outcome, reports = {}, []
    thread = threading.Thread(target=lambda: outcome.setdefault("status", jobs.run_job(job, lambda *r: reports.append(r))))
    thread.start()
    return thread, outcome, reports


def test_a_training_job_trains_and_analyses_every_epoch(job_data):
    job = jobs.submit_training("demo", "j1", epochs=2)
    assert read_run(paths_of("j1")).status == "queued"
    reports = []
    assert jobs.run_job(job, lambda *report: reports.append(report)) == "completed"
    paths = paths_of("j1")
    record = read_run(paths)
    assert record.status == "completed" and record.config["epochs"] == 2
    assert record.analysis.status == "completed"
    assert {row["epoch"] for row in read_csv(paths.layers_csv)} == {"0", "1", "2"}  # the last epoch too
    assert reports[-1][0] == 1.0 and "epoch 2 of 2" in reports[-1][1]
    assert "spectrascope train --preset demo --run-id j1 --epochs 2" in paths.job_log.read_text()
    assert not job_is_active(paths, "job") and not paths.cancel_request.exists()


def test_jobs_beyond_the_limit_wait_queued_and_can_be_cancelled_while_waiting(job_data):
    slots = job_data / "jobs"
    slots.mkdir(parents=True)
    busy = os.open(slots / "slot-0.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(busy, fcntl.LOCK_EX)  # another job holds the only slot
    try:
        job = jobs.submit_training("demo", "waiting", epochs=1)
        thread, outcome, reports = _run_in_thread(job)
        wait_for(lambda: reports, 60, "the job's first report")
        assert reports[-1] == (0.0, "queued: waiting for a free job slot")
        assert read_run(paths_of("waiting")).status == "queued"
        jobs.request_cancel("waiting")
        thread.join(30)
    finally:
        os.close(busy)
    assert outcome["status"] == "cancelled"
    record = read_run(paths_of("waiting"))
    assert record.status == "cancelled" and record.error == "cancelled by the user"
    assert not (paths_of("waiting").checkpoints).exists()


def test_a_second_job_starts_when_the_slot_frees(job_data, monkeypatch):
    fast_polls(monkeypatch, 0.1)
    first = jobs.submit_training("demo", "first", epochs=1)
    second = jobs.submit_training("demo", "second", epochs=1)
    thread_1, outcome_1, _ = _run_in_thread(first)
    wait_for(lambda: job_is_active(paths_of("first"), "job"), 60, "the first job to start")
    thread_2, outcome_2, reports_2 = _run_in_thread(second)
    wait_for(lambda: reports_2, 60, "the second job's first report")
    assert reports_2[0][1] == "queued: waiting for a free job slot"
    thread_1.join(120)
    thread_2.join(120)
    assert outcome_1["status"] == outcome_2["status"] == "completed"


def test_cancel_stops_a_training_job_and_marks_the_run_cancelled(job_data):
    job = jobs.submit_training("demo", "stopme", epochs=50)
    thread, outcome, _ = _run_in_thread(job)
    paths = paths_of("stopme")
    wait_for(lambda: (read_run(paths).progress.epoch or 0) >= 1, 120, "the first epoch")
    jobs.request_cancel("stopme")
    thread.join(60)
    assert outcome["status"] == "cancelled"
    record = read_run(paths)
    assert record.status == "cancelled" and record.progress.epoch < 50
    assert not job_is_active(paths, "training") and not paths.cancel_request.exists()


def test_a_job_that_fails_records_its_error_in_the_run(job_data):
    job = jobs.submit_training("cifar100-resnet18", "nodata", epochs=1)  # CIFAR-100 is not in the data dir
    assert jobs.run_job(job) == "failed"
    record = read_run(paths_of("nodata"))
    assert record.status == "failed" and "CIFAR-100" in record.error


def test_an_analysis_job_brings_the_analysis_up_to_date(dashboard_data, monkeypatch):
    monkeypatch.setenv("SPECTRASCOPE_MAX_JOBS", "1")
    paths = paths_of("demo")
    paths.layers_csv.unlink()
    (paths.analysis / "manifest.json").unlink()
    job = jobs.submit_analysis("demo", "fast")
    assert read_run(paths).analysis.status == "queued"
    assert jobs.run_job(job) == "completed"
    assert {row["epoch"] for row in read_csv(paths.layers_csv)} == {"0", "1", "2", "3"}


def test_a_run_with_a_live_job_refuses_another(dashboard_data):
    with job_lock(paths_of("demo"), "job"):
        with pytest.raises(UserError, match="already has a job"):
            jobs.submit_analysis("demo")


def test_detached_jobs_outlive_their_starter_and_the_watcher_follows_them(job_data):
    job = jobs.submit_training("demo", "detached", epochs=1)
    jobs.start_detached(job)
    paths = paths_of("detached")
    # the lock is taken a moment before the holder's pid is written into it
    holder = int(wait_for(lambda: job_is_active(paths, "job") and paths.job_lock("job").read_text().strip(), 30,
                          "the detached job to start"))
    assert holder != os.getpid() and os.getppid() != holder
    with open(f"/proc/{holder}/stat") as stat:
        assert int(stat.read().split(")")[1].split()[1]) != os.getpid()  # not our child
    reports = []
    assert jobs.watch(job, lambda *report: reports.append(report)) == "completed"
    assert reports and not job_is_active(paths, "job")


def test_max_jobs_must_be_a_positive_integer(monkeypatch):
    monkeypatch.setenv("SPECTRASCOPE_MAX_JOBS", "zero")
    with pytest.raises(UserError, match="SPECTRASCOPE_MAX_JOBS must be a positive integer"):
        settings.max_jobs()


def test_submitted_overrides_become_the_cli_flags(job_data):
    job = jobs.submit_training("demo", "flags", epochs=3, lr=0.05, flip=True, nesterov=False)
    assert job.args == ("--preset", "demo", "--run-id", "flags", "--epochs", "3", "--lr", "0.05", "--flip",
                        "--no-nesterov")
    record = read_run(paths_of("flags"))
    assert record.config["flip"] is True and record.config["nesterov"] is False


def test_analysing_an_up_to_date_run_completes_every_time(dashboard_data, monkeypatch):
    monkeypatch.setenv("SPECTRASCOPE_MAX_JOBS", "1")
    for _ in range(2):
        assert jobs.run_job(jobs.submit_analysis("demo")) == "completed"
        analysis = read_run(paths_of("demo")).analysis
        assert analysis.status == "completed" and not analysis.error


def test_a_job_runner_that_fails_records_it_in_the_run(job_data, monkeypatch):
    job = jobs.submit_training("demo", "broken", epochs=1)
    monkeypatch.setenv("SPECTRASCOPE_MAX_JOBS", "abc")  # the runner cannot even take a slot
    assert supervisor.main([job.to_json()]) == 1
    record = read_run(paths_of("broken"))
    assert record.status == "failed" and "SPECTRASCOPE_MAX_JOBS must be a positive integer" in record.error
    assert not job_is_active(paths_of("broken"), "job")


def test_a_failed_training_reports_its_own_lines_of_the_log(job_data):
    paths = paths_of("nodata2")
    job = jobs.submit_training("cifar100-resnet18", "nodata2", epochs=1)
    paths.job_log.write_text("an older job's last words\n")
    assert jobs.run_job(job) == "failed"
    error = read_run(paths).error
    assert "CIFAR-100" in error and "older job" not in error


def test_waiting_jobs_get_the_slot_first_come_first_served(job_data, monkeypatch):
    fast_polls(monkeypatch, 0.05)
    slots = job_data / "jobs"
    slots.mkdir(parents=True)
    busy = os.open(slots / "slot-0.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(busy, fcntl.LOCK_EX)
    order, threads = [], []

    def take_slot(run_id: str) -> None:
        with job_queue.job_slot(run_id, lambda: False, lambda *report: None) as got:  # never cancelled
            order.append((run_id, got))

    dead_waiter = slots / f"{1:020d}-dead.wait"  # queued first, but its process is gone
    dead_waiter.touch()
    for run_id in ("first", "second", "third"):
        threads.append(threading.Thread(target=take_slot, args=(run_id,)))
        threads[-1].start()
        wait_for(lambda: len(set(slots.glob("*.wait")) - {dead_waiter}) == len(threads), 10, f"{run_id} to queue")
    os.close(busy)  # the slot frees: they take it one after another, in the order they came
    for thread in threads:
        thread.join(30)
    assert order == [("first", True), ("second", True), ("third", True)]
    assert list(slots.glob("*.wait")) == []


def test_a_waiter_still_locking_its_ticket_is_not_taken_for_a_dead_one(tmp_path):
    """A ticket is made as a dot-file draft, locked, then renamed: a draft is nobody's place in line yet."""
    draft = tmp_path / f".{1:020d}-first.wait"
    draft.touch()  # created, not yet locked
    ticket = tmp_path / f"{2:020d}-second.wait"
    ticket.touch()
    assert job_queue._first_in_line(ticket)
    assert draft.exists(), "the draft was cleared away as a dead waiter's ticket"


def test_a_new_analysis_clears_the_last_ones_errors(dashboard_data):
    paths = paths_of("demo")
    update_run(paths, analysis={"status": "failed", "errors": {"2": "non-finite values"}, "error": "boom"})
    jobs.submit_analysis("demo")
    state = read_run(paths).analysis
    assert (state.status, state.errors, state.error) == ("queued", {}, None)


def test_submit_train_resume_goes_on_from_the_last_complete_epoch_and_analyses_the_rest(job_data):
    import signal
    import subprocess

    from helpers import REPO, SPECTRASCOPE, cli_env, spectrascope

    trainer = subprocess.Popen([*SPECTRASCOPE, "train", "--preset", "demo", "--epochs", "40", "--run-id",
                                "cut", "--data-dir", str(job_data)], cwd=REPO, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = paths_of("cut")
    wait_for(lambda: paths.run_json.exists() and (read_run(paths).progress.epoch or 0) >= 2, 120, "two epochs")
    trainer.send_signal(signal.SIGKILL)  # the machine went down mid-training
    trainer.wait()
    stopped_at = read_run(paths).progress.epoch
    first = paths.checkpoint(1).stat().st_mtime_ns

    refused = spectrascope("submit", "train", "--resume", "--run-id", "cut", "--lr", "0.5", "--data-dir", job_data)
    assert refused.returncode == 2 and "uses the run's own config; drop --lr" in refused.stderr
    assert refused.stderr.count("spectrascope") == 1  # the program named once
    submitted = spectrascope("submit", "train", "--resume", "--run-id", "cut", "--data-dir", job_data)
    assert submitted.returncode == 0, submitted.stderr
    assert "queued spectrascope train --run-id cut --resume on this machine's job runner" in submitted.stdout
    wait_for(lambda: not jobs.job_is_running("cut") and (read_run(paths).status, read_run(paths).analysis_state.status)
             == ("completed", "completed"), 300, "the resumed run's job to end, trained and analysed")
    assert read_run(paths).progress.epoch == 40 > stopped_at and paths.checkpoint(1).stat().st_mtime_ns == first
    assert {int(row["epoch"]) for row in read_csv(paths.layers_csv)} == set(range(41))  # the old epochs too
    again = spectrascope("submit", "train", "--resume", "--run-id", "cut", "--data-dir", job_data)
    assert again.returncode == 2 and "is complete: nothing to resume" in again.stderr

