"""A run whose loss or weights go NaN/Inf stops as `failed`, naming the epoch and the likely cause, and
keeps what it recorded; the form's and the CLI's checks refuse what cannot train before a run exists."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from helpers import checkpoint_files, read_run_json, spectrascope
from spectrascope.runs import read_metrics, run_paths
from training.config import ConfigError, preset_config, resnet18_parameters
from training.model import ResNet18
from training.recorder import RunRecorder, TrainingDiverged


def record_until_nan(data_dir, poison) -> None:
    """Epochs 0 and 1 finite, then `poison(model, metrics)` makes epoch 2 non-finite."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with RunRecorder(data_dir, "nan", config={"lr": 3.0}, total_epochs=5) as run:
        for epoch in range(5):
            metrics = {"train_loss": 1.0 / (epoch + 1), "test_acc": 0.5}
            if epoch == 2:
                poison(model, metrics)
            run.log_epoch(epoch, model, **metrics)


def nan_loss(model, metrics):
    metrics["train_loss"] = math.nan


def inf_weights(model, metrics):
    with torch.no_grad():
        model[0].weight[0, 0] = math.inf


@pytest.mark.parametrize("poison, what", [(nan_loss, "train_loss"), (inf_weights, "1 of the model's 4 tensors")])
def test_a_diverged_epoch_stops_the_run_as_failed_naming_epoch_and_cause(tmp_path, poison, what):
    with pytest.raises(TrainingDiverged, match=f"diverged at epoch 2: {what} NaN/Inf"):
        record_until_nan(tmp_path, poison)
    record = read_run_json(tmp_path, "nan")
    assert record["status"] == "failed" and record["non_finite_from"] == 2
    assert "epoch 2" in record["error"] and "learning rate (peak 3) is the likely cause" in record["error"]
    assert checkpoint_files(tmp_path, "nan") == [f"epoch_{e:04d}.pt" for e in range(3)]
    assert [row["epoch"] for row in read_metrics(run_paths(tmp_path, "nan"))] == [0, 1, 2]


def test_a_measured_nan_is_written_nan_not_left_empty(tmp_path):
    with pytest.raises(TrainingDiverged):
        record_until_nan(tmp_path, nan_loss)
    lines = run_paths(tmp_path, "nan").metrics_csv.read_text().splitlines()
    assert lines[3].split(",")[:2] == ["2", "nan"] and lines[1].split(",")[3] == ""  # test_loss never measured


def test_a_diverged_run_cannot_be_resumed(tmp_path):
    with pytest.raises(TrainingDiverged):
        record_until_nan(tmp_path, nan_loss)
    paths = run_paths(tmp_path, "nan")
    data = json.loads(paths.run_json.read_text())
    data["config"] = preset_config("demo").to_dict()  # a config the trainer could resume with
    paths.run_json.write_text(json.dumps(data))
    process = spectrascope("train", "--resume", "--run-id", "nan", "--data-dir", tmp_path)
    assert process.returncode == 2
    assert "diverged at epoch 2 (NaN/Inf)" in process.stderr and "smaller --lr" in process.stderr


@pytest.mark.parametrize("width, channels, classes", [(16, 1, 10), (64, 3, 100), (5, 2, 7)])
def test_the_parameter_count_used_for_the_memory_check_is_the_models(width, channels, classes):
    model = ResNet18(classes, channels, width)
    assert resnet18_parameters(width, channels, classes) == sum(p.numel() for p in model.parameters())


def test_a_width_beyond_the_memory_and_a_wild_lr_are_refused_before_any_run_exists(tmp_path):
    with pytest.raises(ConfigError, match="width 100000 is too large for this machine's"):
        preset_config("demo", width=100000, device="cpu")
    with pytest.raises(ConfigError, match="lr must be a positive number of at most 10"):
        preset_config("demo", lr=1e9)
    for flags in (["--width", "100000", "--device", "cpu"], ["--lr", "1e9"]):
        process = spectrascope("train", "--preset", "demo", "--run-id", "x", "--data-dir", tmp_path, *flags)
        assert process.returncode == 2 and process.stderr.count("\n") == 1, process.stderr
    assert not (tmp_path / "runs" / "x").exists()


def test_a_diverged_runs_metrics_load_as_numbers(tmp_path):
    from spectrascope import metrics_frame

    with pytest.raises(TrainingDiverged):
        record_until_nan(tmp_path, nan_loss)
    frame = metrics_frame(run_paths(tmp_path, "nan"))
    assert frame["train_loss"].dtype.kind == "f" and math.isnan(frame["train_loss"].iloc[2])
    assert frame["train_loss"].iloc[:2].tolist() == [1.0, 0.5]
