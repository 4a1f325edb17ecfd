"""An imported run's training curves (metrics.csv rows, by step) from the log its framework wrote beside the
checkpoints (analysis.layouts finds it): a Hugging Face Trainer's trainer_state.json `log_history`, or a
Lightning CSVLogger's metrics.csv and the ModelCheckpoint monitor value each .ckpt carries.

Steps count the optimizer steps done, as the checkpoints' numbers do: the Trainer logs `step` so; a
CSVLogger writes the step before the batch's update (a 0-based batch count), so its rows move up by one."""
from __future__ import annotations

import json
from pathlib import Path

from analysis.layouts import Found
from spectrascope.errors import UserError
from spectrascope.runs.files import read_csv
from spectrascope.runs.framework_metrics import HUGGING_FACE, LIGHTNING, rows_by_step


def training_rows(found: Found) -> tuple[list[dict], str]:
    """The rows, and one line saying what was found (or that nothing was, and what would have been read)."""
    if found.layout == "hugging-face":
        entries = _trainer_log(found.log) if found.log else []
        rows = rows_by_step(entries, HUGGING_FACE)
        where = str(found.log) if found.log else None
        missing = "no trainer_state.json with a log_history"
    elif found.layout == "lightning":
        monitors = {step: source.monitored for step, source in found.sources.items() if source.monitored}
        entries = [(step, {name: value}) for step, (name, value) in monitors.items()]
        rows = rows_by_step(entries + (_csv_logger_log(found.log) if found.log else []), LIGHTNING)
        watched = ", ".join(sorted({name for name, _ in monitors.values()}))
        where = " and ".join(filter(None, [
            str(found.log) if found.log else None,
            f"the ModelCheckpoint monitor ({watched}) of {len(monitors)} checkpoint(s)" if monitors else None]))
        missing = "no CSVLogger metrics.csv beside or above the checkpoints, and no ModelCheckpoint monitor value"
    else:
        return [], ""
    if not rows:
        return [], f"training curves: none found ({missing})"
    columns = sorted({name for row in rows for name in row} - {"epoch"})
    return rows, f"training curves: {len(rows)} step(s) of {', '.join(columns)} from {where}"


def _trainer_log(path: Path) -> list[tuple[int, dict]]:
    try:
        history = json.loads(path.read_text()).get("log_history", [])
    except (OSError, ValueError, AttributeError):
        raise UserError(f"{path} is not readable JSON: remove it, or repair it to import the training curves") \
            from None
    return [(entry["step"], entry) for entry in history
            if isinstance(entry, dict) and isinstance(entry.get("step"), int) and "train_runtime" not in entry]


def _csv_logger_log(path: Path) -> list[tuple[int, dict]]:
    return [(int(row["step"]) + 1, row) for row in read_csv(path) if row.get("step", "").isdigit()]
