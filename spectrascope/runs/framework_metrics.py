"""metrics.csv columns under the names training frameworks log them: what a framework's callback records live
(training.lightning_recorder, training.huggingface_recorder) and what `spectrascope import` reads back from
the logs the frameworks wrote (a Lightning CSVLogger's metrics.csv, a Trainer's trainer_state.json)."""
from __future__ import annotations

import math

MetricNames = dict[str, tuple[str, ...]]  # our column -> the names a framework may log it under, first found wins

LIGHTNING = {
    "train_loss": ("train_loss", "train_loss_epoch", "loss", "train_loss_step"),
    "train_acc": ("train_acc", "train_acc_epoch", "train_acc_step"),
    "test_loss": ("val_loss", "test_loss", "valid_loss", "val_loss_epoch"),
    "test_acc": ("val_acc", "test_acc", "valid_acc", "val_accuracy", "val_acc_epoch"),
    "lr": ("lr", "learning_rate", "lr-SGD", "lr-Adam", "lr-AdamW"),
}
HUGGING_FACE = {
    "train_loss": ("loss",),
    "test_loss": ("eval_loss",),
    "test_acc": ("eval_accuracy", "eval_acc"),
    "lr": ("learning_rate",),
}


def picked(logged: dict, names: MetricNames) -> dict[str, float]:
    """Our metrics among what a framework logged (numbers, tensors or numeric strings); not-a-number and
    empty values are left out: the framework did not measure them there."""
    metrics = {}
    for ours, theirs in names.items():
        for name in theirs:
            value = _number(logged.get(name))
            if value is not None:
                metrics[ours] = value
                break
    return metrics


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def rows_by_step(entries: list[tuple[int, dict]], names: MetricNames) -> list[dict]:
    """metrics.csv rows from (step, logged values) entries. A framework logs one step's training, evaluation
    and epoch values as separate entries, so they are merged by step (a later value wins); each column is
    read from one name throughout (a CSVLogger's train_loss_epoch, not its _step values in between)."""
    merged: dict[int, dict] = {}
    for step, logged in entries:
        merged.setdefault(step, {}).update({name: value for name, value in logged.items() if value not in (None, "")})
    logged_names = {name for logged in merged.values() for name in logged}
    chosen = {ours: tuple(name for name in theirs if name in logged_names)[:1] for ours, theirs in names.items()}
    rows = [{"epoch": step, **picked(logged, chosen)} for step, logged in sorted(merged.items())]
    return [row for row in rows if len(row) > 1]
