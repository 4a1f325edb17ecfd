"""Everything the dashboard reads from runs: lazily, memoised in a diskcache under DATA_DIR/cache that all
web workers share, keyed by file and modification time so a new epoch is picked up at once.

Torch-free: the web process reads CSV, NPZ and JSON only.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import diskcache
import numpy as np
import pandas as pd

from analysis.run_format import (
    RunFormatError, RunPaths, job_is_active, list_runs, read_run, read_tensor_histogram,
)
from app import settings
from app.settings import run_paths as paths

_CACHE_BYTES = 512 * 2**20


@lru_cache(maxsize=None)
def _cache(directory: str) -> diskcache.Cache:
    return diskcache.Cache(directory, size_limit=_CACHE_BYTES)


def cache() -> diskcache.Cache:
    return _cache(str(settings.cache_dir()))


def _file_key(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


def memoised(path: Path, compute, *args, default=None):
    """compute(path, *args), cached until `path` changes; `default` while the file does not exist."""
    file_key = _file_key(path)
    if file_key is None:
        return default
    key = (compute.__name__, *file_key, *args)
    value = cache().get(key, default=None)
    if value is None:
        value = compute(path, *args)
        cache().set(key, value)
    return value


# --- runs ----------------------------------------------------------------------------------------


def effective_status(record: dict, run: RunPaths) -> str:
    """run.json's status, except that a 'running' run whose job holds no lock has died: 'interrupted'."""
    status = record.get("status", "queued")
    if status == "running" and not job_is_active(run, "training"):
        return "interrupted"
    return status


def analysis_status(record: dict, run: RunPaths) -> str | None:
    status = (record.get("analysis") or {}).get("status")
    if status == "running" and not job_is_active(run, "analysis"):
        return "interrupted"
    return status


def runs() -> list[dict]:
    """Every run, newest first, each with its effective status."""
    records = list_runs(settings.data_dir())
    for record in records:
        run = paths(record["id"])
        record["status"] = effective_status(record, run)
        record.setdefault("analysis", {})
        if record["analysis"]:
            record["analysis"]["status"] = analysis_status(record, run)
    return records


def run(run_id: str) -> dict | None:
    try:
        run_dir = paths(run_id)
        record = read_run(run_dir)
    except RunFormatError:
        return None
    record["status"] = effective_status(record, run_dir)
    if record.get("analysis"):
        record["analysis"]["status"] = analysis_status(record, run_dir)
    return record


def version(run_id: str) -> tuple:
    """Changes whenever anything the tabs show changes: cheap enough to poll every couple of seconds."""
    run_dir = paths(run_id)
    files = (run_dir.run_json, run_dir.metrics_csv, run_dir.layers_csv, run_dir.weight_stats_csv, run_dir.histograms)
    return tuple(_file_key(path) for path in files)


# --- tables --------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def metrics(run_id: str) -> pd.DataFrame:
    return memoised(paths(run_id).metrics_csv, _read_table, default=pd.DataFrame())


def layers(run_id: str) -> pd.DataFrame:
    """analysis/layers.csv; `warning` is '' where there is none."""
    table = memoised(paths(run_id).layers_csv, _read_table, default=pd.DataFrame())
    if "warning" in table:
        table = table.assign(warning=table["warning"].fillna(""))
    return table


def weight_stats(run_id: str) -> pd.DataFrame:
    return memoised(paths(run_id).weight_stats_csv, _read_table, default=pd.DataFrame())


def layer_names(run_id: str) -> list[str]:
    """Analysable layers in network order."""
    table = layers(run_id)
    return list(dict.fromkeys(table["layer"])) if "layer" in table else []


def analysed_epochs(run_id: str) -> list[int]:
    table = layers(run_id)
    return sorted(int(e) for e in table["epoch"].unique()) if "epoch" in table else []


# --- histograms and spectra ----------------------------------------------------------------------


def _tensor_names(path: Path) -> list[tuple[str, str]]:
    with np.load(path) as data:
        keys = [key.split(":", 2) for key in data.files if key.startswith("edges:")]
    return [(layer, kind) for _, kind, layer in keys]


def histogram_tensors(run_id: str) -> list[tuple[str, str]]:
    """(layer, "weight" | "bias") of every tensor with a histogram, in state_dict order."""
    return memoised(paths(run_id).histograms, _tensor_names, default=[])


def _tensor_histogram(path: Path, layer: str, kind: str):
    return read_tensor_histogram(RunPaths(path.parent.parent), layer, kind)


def tensor_histogram(run_id: str, layer: str, kind: str) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """(epochs, bin edges, densities epochs x bins) of one tensor, or None if it has none."""
    if (layer, kind) not in histogram_tensors(run_id):
        return None
    return memoised(paths(run_id).histograms, _tensor_histogram, layer, kind)


def _eigenvalues(path: Path, layer: str) -> np.ndarray | None:
    with np.load(path) as data:
        return data[layer] if layer in data.files else None


def eigenvalues(run_id: str, epoch: int, layer: str) -> np.ndarray | None:
    return memoised(paths(run_id).esd(epoch), _eigenvalues, layer)
