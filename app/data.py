"""Everything the dashboard reads from runs: lazily, memoised in a diskcache under DATA_DIR/cache that all
web workers share, keyed by file and modification time so a new epoch is picked up at once.

Torch-free: the web process reads CSV, NPZ and JSON only.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import diskcache
import numpy as np
import pandas as pd

from spectrascope.health.bands import most_telling_layer
from spectrascope import settings
from spectrascope.health.events import Event
from spectrascope.health.monitor import recorded_events, run_events
from spectrascope.jobs import job_is_running, place_in_line
from spectrascope.runs import (
    ACTIVE_STATUSES, DAMAGED_FILE_ERRORS, RunFormatError, RunPaths, RunRecord, checkpoint_epochs, disk_nearly_full,
    job_is_active, layers_frame, metrics_frame, read_eigenvalues, read_randomized_eigenvalues, read_run,
    read_tensor_histogram, run_paths, scan_runs, weight_stats_frame,
)
from spectrascope.runs import histogram_tensors as saved_histogram_tensors

_CACHE_BYTES = 512 * 2**20
_NOTHING = "<spectrascope: nothing there>"  # a cached None (None itself reads as a cache miss)
STALE_QUEUED_SECONDS = 60  # a queued run with no job runner for this long will never start
RANDOMIZE_SWITCH = "also compare with randomized ESDs (correlation traps)"  # the Analyse form's, named in hints
# The run tables last read, kept in this process as well: unpickling a transformer's 15,000-row layers.csv from
# the disk cache costs ~1.5 ms, and a Compare of three runs reads each table several times a request.
RECENT_TABLES = 12
_recent: OrderedDict = OrderedDict()
_recent_lock = threading.Lock()


class RunDataError(Exception):
    """A run file exists but cannot be read; the message names it and says what to do."""


@lru_cache(maxsize=None)
def _cache(directory: str) -> diskcache.Cache:
    return diskcache.Cache(directory, size_limit=_CACHE_BYTES)


def cache() -> diskcache.Cache:
    return _cache(str(settings.cache_dir()))


def disk_full() -> bool:
    """Whether the data dir's disk is full: a job that stopped then could not even record why."""
    return disk_nearly_full(settings.data_dir())


def paths(run_id: str) -> RunPaths:
    return run_paths(settings.data_dir(), run_id)


def _file_key(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


def redo_analysis(run_id: str) -> str:
    """The fix for missing analysis files: the analysis rebuilds them, and damaged tables, from the checkpoints."""
    return f"press “Analyse” (or run `spectrascope analyze --run-id {run_id}`) to rebuild them from the checkpoints"


def analyse_randomized(run_id: str) -> str:
    """How to get the ESDs of the shuffled weights: the Analyse form's switch, or the command's flag."""
    return (f"press “Analyse” with “{RANDOMIZE_SWITCH}” on (or run "
            f"`spectrascope analyze --run-id {run_id} --randomize`)")


def unreadable_file(path: Path, exc: Exception) -> str:
    """Name a damaged run file by its place in the data directory (a page need not see server paths),
    and a fix that works: analysis files are redone from the checkpoints (an epoch's eigenvalues once
    their file is gone), but nothing re-creates the metrics of a finished training."""
    where = path.relative_to(settings.data_dir())
    run = paths(where.parts[1])
    problem = f"{where.as_posix()} cannot be read ({type(exc).__name__}: {exc})"
    if path.parent == run.esd_dir:
        return f"{problem}; delete that file, then {redo_analysis(run.run_id)}"
    if path.parent == run.randomized_esd_dir:  # the analysis redoes an epoch whose ESD is gone, not this file
        esd = (run.esd_dir / path.name).relative_to(settings.data_dir())  # the same epoch's: the same name
        return f"{problem}; delete that file and {esd.as_posix()}, then {analyse_randomized(run.run_id)}"
    if run.analysis in path.parents:
        return f"{problem}; {redo_analysis(run.run_id)}"
    return f"{problem}; training writes it: restore it from a backup, or train a new run"


def memoised(path: Path, read, run_id: str, *args, default=None, in_process: bool = False):
    """read(the run's paths, *args), a reader of the run format that reads `path`, cached until that file
    changes; `default` while it does not exist. A file that cannot be parsed raises RunDataError. With
    `in_process`, the value is also one of the RECENT_TABLES this process keeps (callers never change it)."""
    file_key = _file_key(path)
    if file_key is None:
        return default
    key = (read.__name__, *file_key, *args)
    if in_process:
        with _recent_lock:
            if key in _recent:
                _recent.move_to_end(key)
                return _recent[key]
        value = memoised(path, read, run_id, *args, default=default)
        with _recent_lock:
            _recent[key] = value
            while len(_recent) > RECENT_TABLES:
                _recent.popitem(last=False)
        return value
    value = cache().get(key, default=None)
    if value is None:
        try:
            value = read(paths(run_id), *args)
        except FileNotFoundError:  # replaced between stat and read: the next poll sees the new one
            return default
        except (OSError, *DAMAGED_FILE_ERRORS) as exc:
            raise RunDataError(unreadable_file(path, exc)) from None
        cache().set(key, _NOTHING if value is None else value)
    return None if isinstance(value, str) and value == _NOTHING else value


# --- runs ----------------------------------------------------------------------------------------


def _seconds_since(stamp: str | None) -> float:
    try:
        return time.time() - pd.Timestamp(stamp).timestamp()
    except (TypeError, ValueError):
        return float("inf")


def with_live_status(record: RunRecord, run: RunPaths) -> RunRecord:
    """The record with statuses a page can trust: a job recorded as running (or queued) that no process
    holds the lock of has died, and reads 'interrupted'."""
    status = record.status
    if status == "running" and not job_is_active(run, "training") and not job_is_running(run.run_id):
        status = "interrupted"  # (a team's job on another host holds no lock here, but its worker's lease)
    elif (status == "queued" and not job_is_running(run.run_id) and not job_is_active(run, "training")
          and _seconds_since(record.updated) > STALE_QUEUED_SECONDS):
        status = "interrupted"
    return replace(record, status=status, analysis=_live(record.analysis, run, "analysis"),
                   export=_live(record.export, run, "export"))


def _live(state, run: RunPaths, lock: str):
    """An analysis or export sub-record, 'interrupted' if it is recorded active but no process holds its lock,
    unless it was queued a moment ago and its job runner is still starting (the locks are probed only for
    what is active: the picker polls every run)."""
    if state is None or state.status not in ACTIVE_STATUSES:
        return state
    if job_is_active(run, lock) or job_is_running(run.run_id):
        return state
    if state.status == "queued" and _seconds_since(state.updated) <= STALE_QUEUED_SECONDS:
        return state
    return replace(state, status="interrupted")


def unit(run_id: str) -> str:
    """What the run's checkpoint numbers count, for labels: "epoch", or "step" (imported Lightning and
    Hugging Face runs)."""
    try:
        return read_run(paths(run_id)).unit
    except RunFormatError:
        return "epoch"


def runs_and_problems() -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """Every run, newest first, each with its live status; and (folder, why) for the run folders that
    cannot be listed. One pass over runs/ for both: the picker polls them every 2 s."""
    records, problems = scan_runs(settings.data_dir())
    return [with_live_status(record, paths(record.id)) for record in records], problems


def runs() -> list[RunRecord]:
    return runs_and_problems()[0]


def run(run_id: str) -> RunRecord | None:
    try:
        run_dir = paths(run_id)
        record = read_run(run_dir)
    except RunFormatError:
        return None
    return with_live_status(record, run_dir)


def checkpoint_count(run_id: str) -> int:
    return len(checkpoint_epochs(paths(run_id)))


def version(run_id: str) -> str:
    """Changes whenever anything the tabs show changes, the live statuses and a queued job's place in line
    too (a job that died changes no file, yet the picker's label says 'interrupted' and the status line must
    follow it); cheap enough to poll
    every couple of seconds. A short digest: a browser cannot hold nanosecond times exactly, and need not see
    server paths."""
    run_dir = paths(run_id)
    files = (run_dir.run_json, run_dir.metrics_csv, run_dir.layers_csv, run_dir.weight_stats_csv, run_dir.histograms,
             run_dir.events_csv)
    record = run(run_id)
    live = None
    if record:
        statuses = (record.status, record.analysis_state.status, record.export_state.status)
        live = (statuses, place_in_line(run_id) if "queued" in statuses else None)
    key = repr(([_file_key(path) for path in files], live))
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


# --- tables --------------------------------------------------------------------------------------


def metrics(run_id: str) -> pd.DataFrame:
    return memoised(paths(run_id).metrics_csv, metrics_frame, run_id, default=pd.DataFrame(), in_process=True)


def layers(run_id: str) -> pd.DataFrame:
    """analysis/layers.csv, one row per (epoch, layer); `warning` is '' where there is none."""
    return memoised(paths(run_id).layers_csv, layers_frame, run_id, default=pd.DataFrame(), in_process=True)


def weight_stats(run_id: str) -> pd.DataFrame:
    return memoised(paths(run_id).weight_stats_csv, weight_stats_frame, run_id, default=pd.DataFrame(),
                    in_process=True)


def events(run_id: str) -> list[Event]:
    """The run's health events as its analysis wrote them (analysis/events.csv), by epoch; for a run analysed
    before events existed, derived from its tables here, so its page never reads "healthy" for want of a file."""
    run = paths(run_id)
    if run.events_csv.exists():
        return memoised(run.events_csv, recorded_events, run_id, default=[], in_process=True)
    return memoised(run.layers_csv, run_events, run_id, default=[], in_process=True)


def non_finite_from(run_id: str) -> int | None:
    """The first epoch whose loss or weights are NaN/Inf: as training recorded it, else (an imported run,
    a user's own loop) the first the analysis counted NaN/Inf values in."""
    record = run(run_id)
    if record is not None and record.non_finite_from is not None:
        return record.non_finite_from
    stats = weight_stats(run_id)
    if stats.empty or "nan_count" not in stats:
        return None
    bad = stats.loc[(stats["nan_count"] + stats["inf_count"]) > 0, "epoch"]
    return int(bad.min()) if len(bad) else None


def layer_names(run_id: str) -> list[str]:
    """Analysable layers in network order."""
    table = layers(run_id)
    return list(table["layer"].unique()) if "layer" in table else []


def layer_worth_seeing(run_id: str) -> str | None:
    return most_telling_layer(layers(run_id))


def analysed_epochs(run_id: str) -> list[int]:
    table = layers(run_id)
    return sorted(int(e) for e in table["epoch"].unique()) if "epoch" in table else []


# --- histograms and spectra ----------------------------------------------------------------------


def histogram_tensors(run_id: str) -> list[tuple[str, str]]:
    """(layer, "weight" | "bias") of every tensor with a histogram, in state_dict order."""
    return memoised(paths(run_id).histograms, saved_histogram_tensors, run_id, default=[])


def tensor_histogram(run_id: str, layer: str, kind: str) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """(epochs, bin edges, densities epochs x bins) of one tensor, or None if it has none."""
    if (layer, kind) not in histogram_tensors(run_id):
        return None
    return memoised(paths(run_id).histograms, read_tensor_histogram, run_id, layer, kind)


def eigenvalues(run_id: str, epoch: int, layer: str) -> np.ndarray | None:
    return memoised(paths(run_id).esd(epoch), read_eigenvalues, run_id, epoch, layer)


def randomized_eigenvalues(run_id: str, epoch: int, layer: str) -> np.ndarray | None:
    """The layer's eigenvalues with its weights shuffled; None unless the epoch was analysed with --randomize."""
    return memoised(paths(run_id).randomized_esd(epoch), read_randomized_eigenvalues, run_id, epoch, layer)
