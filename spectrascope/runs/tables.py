"""The run's CSV tables and their column schemas: metrics.csv (training), analysis/layers.csv (one row
per epoch and layer), analysis/weight_stats.csv (one row per epoch and tensor) and analysis/events.csv (one
row per layer-health event).

Writers take plain row dicts; readers give the rows back as written (`*_rows`) or as pandas DataFrames
(`*_frame`) for the dashboard and users' own notebooks."""
from __future__ import annotations

import csv
import math
from typing import TYPE_CHECKING

from spectrascope.runs.files import DAMAGED_FILE_ERRORS, read_csv, write_csv
from spectrascope.runs.paths import RunPaths

if TYPE_CHECKING:
    import pandas as pd

METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
LATER_LAYER_COLUMNS = (  # added after the first format: a table without (some of) them still reads
    "max_rand_eval", "rand_distance", "rand_num_spikes", "rand_bulk_edge",  # empty unless randomized
    "tied_to",  # empty unless the layer's weight is another layer's tensor
)
LAYER_COLUMNS = (
    "epoch", "layer", "layer_type", "N", "M", "num_evals", "alpha", "alpha_weighted", "xmin", "xmax", "D",
    "sigma", "num_pl_spikes", "lambda_max", "log_norm", "log_spectral_norm", "stable_rank", "warning",
    *LATER_LAYER_COLUMNS,
)
EVENT_COLUMNS = ("event_id", "epoch", "layer", "kind", "severity", "value", "threshold", "detail")
STAT_COLUMNS = ("epoch", "layer", "kind", "count", "mean", "std", "min", "max", "fro_norm", "nan_count", "inf_count")


# --- metrics.csv ---------------------------------------------------------------------------------


def _measured(value):
    """A measured NaN is written `nan`: an empty cell means "not measured"."""
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def write_metrics(paths: RunPaths, rows: list[dict]) -> None:
    rows = [{key: _measured(value) for key, value in row.items()} for row in rows]
    write_csv(paths.metrics_csv, METRICS_COLUMNS, sorted(rows, key=lambda r: r["epoch"]))


def read_metrics(paths: RunPaths) -> list[dict]:
    """Rows as dicts: epoch an int, other cells floats or None where empty."""
    return [
        {key: (int(value) if key == "epoch" else float(value) if value != "" else None) for key, value in row.items()}
        for row in read_csv(paths.metrics_csv)
    ]


# --- analysis tables -----------------------------------------------------------------------------


def _merge(path, columns: tuple[str, ...], replaced: set[int], new_rows: list[dict]) -> None:
    """Existing rows of other epochs plus the new rows, ordered by epoch (row order kept within one)."""
    kept = [row for row in read_csv(path) if int(row["epoch"]) not in replaced]
    write_csv(path, columns, sorted(kept + new_rows, key=lambda row: int(row["epoch"])))


def save_layer_rows(paths: RunPaths, replaced_epochs: set[int], rows: list[dict]) -> None:
    """Replace the layer rows of `replaced_epochs` by `rows` (an epoch not replaced keeps its old rows)."""
    _merge(paths.layers_csv, LAYER_COLUMNS, replaced_epochs, rows)


def save_weight_stats(paths: RunPaths, replaced_epochs: set[int], rows: list[dict]) -> None:
    _merge(paths.weight_stats_csv, STAT_COLUMNS, replaced_epochs, rows)


def weight_stats_rows(paths: RunPaths) -> list[dict[str, str]]:
    return read_csv(paths.weight_stats_csv)


def write_events(paths: RunPaths, rows: list[dict]) -> None:
    """The run's whole event table, rewritten (events are derived from the tables, never appended by hand)."""
    write_csv(paths.events_csv, EVENT_COLUMNS, rows)


def event_ids(paths: RunPaths) -> set[str]:
    return {row["event_id"] for row in read_csv(paths.events_csv)}


def damaged_tables(paths: RunPaths) -> list:
    """The analysis tables that exist but do not read, or lack cells (a disk error, a hand edit, a
    cut-off row). A table of an earlier format, whose header lacks the newest columns, reads: those cells
    are empty until its epochs are analysed again."""
    damaged = []
    for path, columns, later in ((paths.layers_csv, LAYER_COLUMNS, LATER_LAYER_COLUMNS),
                                 (paths.weight_stats_csv, STAT_COLUMNS, ())):
        try:
            with path.open(newline="") as handle:
                rows = csv.reader(handle)
                header = tuple(next(rows, ()))
                if (len(header) < len(columns) - len(later) or header != columns[:len(header)]
                        or any(len(row) != len(header) for row in rows)):
                    damaged.append(path)
        except FileNotFoundError:
            continue
        except (*DAMAGED_FILE_ERRORS, csv.Error):
            damaged.append(path)
    return damaged


# --- DataFrames ----------------------------------------------------------------------------------


TEXT_COLUMNS = {"layer": str, "layer_type": str, "kind": str, "warning": str, "event_id": str, "severity": str,
                "detail": str}  # "0" is a layer name, not a number


def _frame(path, *required: str) -> pd.DataFrame:
    """The table (empty cells NaN), or an empty frame before the file exists; a ValueError names the
    columns a damaged file lacks. Names stay text, whatever they look like (nn.Sequential's layers are
    called 0, 1, 2...)."""
    import pandas as pd  # here, not above: every job process imports the run format, few read frames

    if not path.exists():
        return pd.DataFrame()
    header = pd.read_csv(path, nrows=0).columns
    missing_cells = {column: ["", "nan"] for column in header if column not in TEXT_COLUMNS}  # a measured NaN
    table = pd.read_csv(path, keep_default_na=False, na_values=missing_cells, dtype=TEXT_COLUMNS)
    missing = [column for column in required if column not in table]
    if missing:
        raise ValueError(f"no column {', '.join(missing)}")
    return table


def metrics_frame(paths: RunPaths) -> pd.DataFrame:
    return _frame(paths.metrics_csv, "epoch")


def layers_frame(paths: RunPaths) -> pd.DataFrame:
    """One row per (epoch, layer); `warning` is '' where there is none."""
    table = _frame(paths.layers_csv, "epoch", "layer", "alpha")
    if table.empty:
        return table
    table = table.drop_duplicates(["epoch", "layer"], keep="last")
    return table.assign(warning=table["warning"].fillna("")) if "warning" in table else table.assign(warning="")


def weight_stats_frame(paths: RunPaths) -> pd.DataFrame:
    return _frame(paths.weight_stats_csv, "epoch", "layer", "kind")


def events_frame(paths: RunPaths) -> pd.DataFrame:
    """analysis/events.csv, one row per event, by epoch; empty before the first epoch is analysed."""
    return _frame(paths.events_csv, "event_id", "epoch", "layer", "kind", "severity")
