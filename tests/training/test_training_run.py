"""`spectrascope train` end to end: the run directory it writes, the lr it logs, and that the demo learns."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import (
    METRICS_HEADER, checkpoint_files, one_cycle_lr, read_metrics_csv, read_run_json, run_dir, spectrascope,
)
from training.config import PRESETS, TrainConfig
from training.data import CIFAR100_MEAN, CIFAR100_STD, load_digits_dataset
from training.model import ResNet18

pytestmark = pytest.mark.slow

CIFAR_OVERRIDES = {"epochs": 2, "width": 8, "batch_size": 32, "eval_batch_size": 64}


# --- a 2-epoch cifar100-resnet18 run on a tiny CIFAR-100 -----------------------------------------


def test_cifar_run_exits_zero_and_says_where_the_run_is(finished_cifar_run):
    data_dir, run_id, _, process = finished_cifar_run
    assert process.returncode == 0, process.stderr
    assert f"run {run_id} complete" in process.stdout
    assert str(run_dir(data_dir, run_id)) in process.stdout


def test_cifar_run_json_records_identity_config_status_and_provenance(finished_cifar_run):
    data_dir, run_id, _, _ = finished_cifar_run
    record = read_run_json(data_dir, run_id)
    assert record["id"] == run_id
    assert record["format_version"] == 1
    assert record["kind"] == "trained"
    assert record["preset"] == "cifar100-resnet18"
    expected_config = {**TrainConfig().to_dict(), **CIFAR_OVERRIDES}  # the preset is TrainConfig's defaults
    assert PRESETS["cifar100-resnet18"] == TrainConfig()
    assert record["config"] == expected_config
    assert record["status"] == "completed" and record["error"] is None
    assert record["progress"]["epoch"] == record["progress"]["total_epochs"] == 2
    assert record["progress"]["phase"] == "done"
    provenance = record["provenance"]
    assert provenance["torch"] == torch.__version__
    assert provenance["device"] == "cpu" and provenance["seed"] == 0


def test_cifar_run_metrics_csv_has_the_documented_columns_and_a_row_per_epoch(finished_cifar_run):
    data_dir, run_id, _, _ = finished_cifar_run
    header, rows = read_metrics_csv(data_dir, run_id)
    assert header == METRICS_HEADER
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    untrained = rows[0]
    assert untrained["train_loss"] == untrained["train_acc"] == untrained["lr"] == ""
    assert float(untrained["test_loss"]) > 0 and float(untrained["seconds"]) > 0
    for row in rows[1:]:
        assert all(row[column] != "" for column in METRICS_HEADER), row
        assert math.isfinite(float(row["train_loss"]))
        assert 0 <= float(row["train_acc"]) <= 1 and 0 <= float(row["test_acc"]) <= 1
    assert float(rows[2]["lr"]) < float(rows[1]["lr"])


def load_checkpoint(data_dir, run_id, epoch) -> dict:
    return torch.load(run_dir(data_dir, run_id) / "checkpoints" / f"epoch_{epoch:04d}.pt", weights_only=True)


def test_cifar_run_checkpoints_load_into_a_width_8_resnet18_for_100_classes(finished_cifar_run):
    data_dir, run_id, _, _ = finished_cifar_run
    assert checkpoint_files(data_dir, run_id) == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    for epoch in range(3):
        ResNet18(100, 3, 8).load_state_dict(load_checkpoint(data_dir, run_id, epoch))  # strict
    first, last = load_checkpoint(data_dir, run_id, 0), load_checkpoint(data_dir, run_id, 2)
    assert not torch.equal(first["conv1.weight"], last["conv1.weight"])
    assert not torch.equal(first["fc.weight"], last["fc.weight"])


def test_cifar_run_test_metrics_match_an_independent_evaluation_of_each_checkpoint(finished_cifar_run):
    data_dir, run_id, contents, _ = finished_cifar_run
    test = contents["test"]
    images = torch.from_numpy(test["data"]).float().div(255).reshape(-1, 3, 32, 32)
    images = (images - torch.tensor(CIFAR100_MEAN)[:, None, None]) / torch.tensor(CIFAR100_STD)[:, None, None]
    labels = torch.tensor(test["fine_labels"])
    _, rows = read_metrics_csv(data_dir, run_id)
    for epoch in (0, 2):
        model = ResNet18(100, 3, 8)
        model.load_state_dict(load_checkpoint(data_dir, run_id, epoch))
        with torch.no_grad():
            logits = model.eval()(images)
        assert float(rows[epoch]["test_loss"]) == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-4)
        assert float(rows[epoch]["test_acc"]) == pytest.approx((logits.argmax(1) == labels).float().mean().item())


def test_cifar_run_keeps_the_training_state_of_its_last_epoch(finished_cifar_run):
    data_dir, run_id, _, _ = finished_cifar_run
    state = torch.load(run_dir(data_dir, run_id) / "training_state.pt", weights_only=True)
    assert state["epoch"] == 2
    assert set(state) >= {"optimizer", "scheduler"}
    assert state["scheduler"]["last_epoch"] == 2 * (128 // 32)


def test_cifar_run_leaves_no_temporary_files(finished_cifar_run):
    data_dir, run_id, _, _ = finished_cifar_run
    assert list(run_dir(data_dir, run_id).rglob("*.tmp")) == []


# --- the demo preset -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_demo_run(tmp_path_factory):
    """The demo preset for 4 epochs at width 8 with a non-default peak lr of 0.05."""
    data_dir = tmp_path_factory.mktemp("demo-short") / "data"
    process = spectrascope("train", "--preset", "demo", "--data-dir", data_dir, "--run-id", "short",
                           "--epochs", "4", "--width", "8", "--lr", "0.05", cwd=data_dir.parent, timeout=300)
    assert process.returncode == 0, process.stderr
    return read_metrics_csv(data_dir, "short")[1]


def test_lr_column_peaks_at_the_configured_lr_and_falls_to_near_zero(short_demo_run):
    lrs = [float(row["lr"]) for row in short_demo_run[1:]]
    # 4 epochs with pct_start 0.25: the warm-up ends exactly on the last step of epoch 1
    assert lrs[0] == pytest.approx(0.05, rel=1e-9)
    assert max(lrs) == lrs[0]
    assert lrs[0] > lrs[1] > lrs[2] > lrs[3]
    assert lrs[3] == pytest.approx(0.05 / (25 * 1e4), rel=1e-6)


def test_lr_column_is_the_schedule_at_the_last_step_of_each_epoch(short_demo_run):
    steps = len(load_digits_dataset().train_labels) // PRESETS["demo"].batch_size
    for row in short_demo_run[1:]:
        epoch = int(row["epoch"])
        expected = one_cycle_lr(epoch * steps - 1, 4 * steps, 0.05, PRESETS["demo"].pct_start)
        assert float(row["lr"]) == pytest.approx(expected, rel=1e-9)


def test_short_demo_run_learns(short_demo_run):
    first, last = short_demo_run[0], short_demo_run[-1]
    assert float(first["test_acc"]) < 0.3  # ten classes, untrained
    assert float(last["test_acc"]) >= 0.7
    assert float(last["test_loss"]) < float(first["test_loss"]) / 2


def test_full_demo_preset_reaches_90_percent_test_accuracy(tmp_path):
    data_dir = tmp_path / "data"
    process = spectrascope("train", "--preset", "demo", "--data-dir", data_dir, "--run-id", "demo",
                           cwd=tmp_path, timeout=400)
    assert process.returncode == 0, process.stderr
    _, rows = read_metrics_csv(data_dir, "demo")
    assert [int(row["epoch"]) for row in rows] == list(range(21))
    assert float(rows[-1]["test_acc"]) >= 0.9
    accuracies = np.array([float(row["test_acc"]) for row in rows])
    assert accuracies[-1] > accuracies[0] + 0.5
