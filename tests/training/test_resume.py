"""Interrupted runs: SIGKILL then --resume replays the uninterrupted run exactly; SIGTERM cancels; a second
job on a run in training is refused."""
from __future__ import annotations

import signal
from dataclasses import replace

import pytest
import torch

from helpers import (
    METRICS_HEADER, checkpoint_files, read_metrics_csv, read_run_json, run_dir, spectrascope, start_spectrascope,
    stderr_of, wait_for,
)
from spectrascope.runs import job_is_active, run_paths, update_run
from training.config import PRESETS
from training.recorder import RunRecorder

pytestmark = pytest.mark.slow

# the demo preset, small: 8 epochs of 89 steps (1437 images // 16) on a width-8 ResNet-18
EPOCHS = 8
SMALL_DEMO = ["--preset", "demo", "--epochs", str(EPOCHS), "--width", "8", "--batch-size", "16"]
LONG_DEMO = ["--preset", "demo", "--epochs", "200", "--width", "8"]  # never meant to finish


def progress_epoch(data_dir, run_id):
    record = read_run_json(data_dir, run_id)
    return None if record is None else record["progress"].get("epoch")


def is_running(data_dir, run_id) -> bool:
    record = read_run_json(data_dir, run_id)
    return record is not None and record["status"] == "running"


def stop(process) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path):
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    interrupted.mkdir(), reference.mkdir()
    # one training at a time: two torch processes on 2 cores, each with 2 OpenMP threads, can take minutes
    uninterrupted = spectrascope("train", *SMALL_DEMO, "--data-dir", reference / "data", "--run-id", "R",
                                 cwd=reference, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    data_dir = interrupted / "data"
    victim = start_spectrascope("train", *SMALL_DEMO, "--data-dir", data_dir, "--run-id", "R", cwd=interrupted)
    try:
        wait_for(lambda: (progress_epoch(data_dir, "R") or 0) >= 2, 240, "epoch 2 to complete", process=victim)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(victim)

    # killed mid-run: still marked running, but nobody holds the training lock
    record = read_run_json(data_dir, "R")
    assert record["status"] == "running"
    assert 2 <= record["progress"]["epoch"] < EPOCHS
    assert len(checkpoint_files(data_dir, "R")) < EPOCHS + 1
    assert not job_is_active(run_paths(data_dir, "R"))
    epoch_1 = run_dir(data_dir, "R") / "checkpoints" / "epoch_0001.pt"
    epoch_1_written = epoch_1.stat().st_mtime_ns

    # the original command with --resume added, as users type it: flags equal to the run's config are fine
    resumed = spectrascope("train", *SMALL_DEMO, "--resume", "--run-id", "R", "--data-dir", data_dir, cwd=interrupted,
                           timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert epoch_1.stat().st_mtime_ns == epoch_1_written  # continued, not retrained from the start
    assert f"epoch 1/{EPOCHS}  train_loss" in uninterrupted.stderr
    assert f"epoch 1/{EPOCHS}  train_loss" not in resumed.stderr

    record = read_run_json(data_dir, "R")
    assert record["status"] == "completed" and record["progress"]["epoch"] == EPOCHS
    assert checkpoint_files(data_dir, "R") == [f"epoch_{e:04d}.pt" for e in range(EPOCHS + 1)]

    _, resumed_rows = read_metrics_csv(data_dir, "R")
    _, reference_rows = read_metrics_csv(reference / "data", "R")
    assert [row["epoch"] for row in resumed_rows] == [str(e) for e in range(EPOCHS + 1)]
    assert len(reference_rows) == len(resumed_rows)
    for resumed_row, reference_row in zip(resumed_rows, reference_rows):
        for column in METRICS_HEADER:
            if column != "seconds":  # wall time is the one thing allowed to differ; floats are written in full
                assert resumed_row[column] == reference_row[column], (resumed_row["epoch"], column)

    last = f"epoch_{EPOCHS:04d}.pt"
    resumed_weights = torch.load(run_dir(data_dir, "R") / "checkpoints" / last, weights_only=True)
    reference_weights = torch.load(run_dir(reference / "data", "R") / "checkpoints" / last, weights_only=True)
    assert resumed_weights.keys() == reference_weights.keys()
    for key in reference_weights:
        assert torch.equal(resumed_weights[key], reference_weights[key]), key


def test_sigterm_cancels_the_run_and_marks_it_cancelled(tmp_path):
    data_dir = tmp_path / "data"
    job = start_spectrascope("train", *LONG_DEMO, "--data-dir", data_dir, "--run-id", "T", cwd=tmp_path)
    try:
        wait_for(lambda: is_running(data_dir, "T") and (progress_epoch(data_dir, "T") or 0) >= 1, 240,
                 "training to be under way", process=job)
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=60) == 130
    finally:
        stop(job)
    record = read_run_json(data_dir, "T")
    assert record["status"] == "cancelled"
    assert record["progress"]["phase"] == "cancelled"
    assert record["error"] == "cancelled by the user"
    assert stderr_of(job).splitlines()[-1] == "spectrascope: cancelled"
    assert not job_is_active(run_paths(data_dir, "T"))


def test_second_job_on_a_run_in_training_is_refused_as_busy(tmp_path):
    data_dir = tmp_path / "data"
    job = start_spectrascope("train", *LONG_DEMO, "--data-dir", data_dir, "--run-id", "B", cwd=tmp_path)
    try:
        wait_for(lambda: is_running(data_dir, "B"), 240, "the run to be running", process=job)
        second = spectrascope("train", "--resume", "--run-id", "B", "--data-dir", data_dir, cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("spectrascope: error: ")
        assert "busy" in lines[0] and str(job.pid) in lines[0]

        assert job.poll() is None, "the first job was disturbed"
        assert read_run_json(data_dir, "B")["status"] == "running"
        assert job_is_active(run_paths(data_dir, "B"))
    finally:
        stop(job)


@pytest.mark.parametrize("damaged", ["training_state.pt", "checkpoints/epoch_0001.pt"])
def test_resume_from_a_damaged_file_is_refused_with_one_line_and_nothing_removed(tmp_path, damaged):
    data_dir = tmp_path / "data"
    config = replace(PRESETS["demo"], epochs=3).to_dict()
    with RunRecorder(data_dir, "D", config=config, preset="demo", total_epochs=3) as run:
        for epoch in range(3):  # epoch 2 is past the training state: a resume would remove it
            run.log_epoch(epoch, {"w": torch.ones(2)}, training_state={} if epoch < 2 else None, test_acc=0.5)
    update_run(run_paths(data_dir, "D"), status="running")  # as a killed job leaves it
    (run_dir(data_dir, "D") / damaged).write_bytes(b"garbage")
    files = sorted(p.name for p in (run_dir(data_dir, "D") / "checkpoints").iterdir())
    metrics = read_metrics_csv(data_dir, "D")

    process = spectrascope("train", "--resume", "--run-id", "D", "--data-dir", data_dir, cwd=tmp_path)
    assert process.returncode == 2, process.stderr
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrascope: error: cannot resume run 'D': "), process.stderr
    assert f"{damaged} cannot be used (not a PyTorch checkpoint" in lines[0]
    assert sorted(p.name for p in (run_dir(data_dir, "D") / "checkpoints").iterdir()) == files
    assert read_metrics_csv(data_dir, "D") == metrics
    assert read_run_json(data_dir, "D")["status"] == "failed"
