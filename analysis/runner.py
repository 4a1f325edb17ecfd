"""Analyse a run's checkpoints: spectral rows, ESDs, weight statistics and histograms, incrementally.

An epoch is redone only when its checkpoint changed (size or mtime), the backend changed, or it failed
last time, so re-running is cheap. Checkpoints are analysed in parallel (analysis.pool); results are saved
as they come; a checkpoint that cannot be analysed records its error and leaves everything written before
untouched. Every file is read and written through the run format (spectrascope.runs).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.backends import AnalysisError, analyze_state_dict
from analysis.histograms import bin_edges, covers, density, parameter_tensors, tensor_stats
from analysis.options import BACKENDS, DEFAULT_BINS
from analysis.pool import Workers, run_tasks, worker_pool
from spectrascope.checkpoints import CheckpointError, load_state_dict
from spectrascope.runs import (
    RunPaths, checkpoint_epochs, checkpoint_signature, histogram_bins, job_lock, read_histograms, read_manifest,
    read_run, run_paths, save_layer_rows, save_weight_stats, set_aside_damaged_results, update_run,
    weight_stats_rows, write_esd, write_histograms, write_manifest,
)

# Smaller runs are not worth starting a worker (1.3 s): with 45 MB ResNet-18 checkpoints, 2 take 1.3 s in
# one process and 1.8 s with a worker, 3 break even, 6 take 3.8 s and 2.4 s.
IN_PROCESS_BELOW_BYTES = 128 << 20
SAVE_EVERY_SECONDS = 5.0  # results reach the files (and the dashboard) at least this often


@dataclass
class AnalysisReport:
    analysed: list[int] = field(default_factory=list)
    up_to_date: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


# --- per checkpoint (in this process or a worker process) -----------------------------------------


def _spectra_task(paths: RunPaths, epoch: int, backend: str, device: str,
                  randomize: bool) -> tuple[list[dict], dict, str | None]:
    """rows, per-tensor stats, error. Stats survive a failed spectral analysis (they count NaN/Inf)."""
    try:
        state_dict = load_state_dict(paths.checkpoint(epoch))
    except CheckpointError as exc:
        return [], {}, str(exc)
    stats = {key: tensor_stats(values) for key, values in parameter_tensors(state_dict).items()}
    try:
        rows, esd = analyze_state_dict(state_dict, backend, device, randomize)
    except AnalysisError as exc:
        return [], stats, str(exc)
    write_esd(paths, epoch, esd)
    return rows, stats, None


def _histogram_task(checkpoint: Path, edges: dict) -> dict:
    try:
        tensors = parameter_tensors(load_state_dict(checkpoint))
    except CheckpointError:  # gone or damaged since its stats were taken: leave its counts empty
        return {}
    return {key: density(tensors[key], tensor_edges) for key, tensor_edges in edges.items() if key in tensors}


# --- bookkeeping ---------------------------------------------------------------------------------


def _up_to_date(entry: dict, signature: dict, randomize: bool) -> bool:
    """Same checkpoint and backend, no error last time, and randomized metrics if they are asked for."""
    return (entry.get("error") is None and entry.get("checkpoint") == signature
            and entry.get("randomize", False) >= randomize)


def _histograms_pending(entry: dict) -> bool:
    """Spectra saved but histograms not yet counted: an analysis stopped in between."""
    return entry.get("histograms") is False


def _saved_state(paths: RunPaths, wanted: list[int], available: list[int]) -> tuple[dict[int, dict], list[int]]:
    """The manifest to go by, and the epochs to bring up to date: after a results file was damaged, every
    epoch, since what was lost is rebuilt for all of them."""
    damaged = set_aside_damaged_results(paths)
    for path in damaged:
        print(f"{path} cannot be read: set aside as {path.name}.damaged and rebuilt from the checkpoints",
              file=sys.stderr)
    manifest = read_manifest(paths)
    if manifest is None:
        print(f"{paths.analysis_manifest} cannot be read; every epoch is analysed again", file=sys.stderr)
    if manifest is None or set(damaged) - {paths.histograms}:  # every epoch's rows are made again
        return {}, available
    if damaged:  # only the histograms: the spectra stand, every epoch is counted again
        return {epoch: {**entry, "histograms": False} for epoch, entry in manifest.items()}, available
    return manifest, wanted


def _number(cell) -> float:
    return np.nan if cell in ("", None) else float(cell)


def _choose_workers(paths: RunPaths, epochs: list[int], device: str, workers: int | None) -> int:
    if workers:
        return workers
    if device != "cpu" or sum(paths.checkpoint(e).stat().st_size for e in epochs) < IN_PROCESS_BELOW_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, len(epochs)))


@dataclass
class _Analysis:
    """One analysis at work: what it was asked, where it reports, and what it has done so far."""

    paths: RunPaths
    backend: str
    device: str
    randomize: bool
    progress: bool
    manifest: dict[int, dict]
    total: int = 0  # epochs whose spectra are analysed
    report: AnalysisReport = field(default_factory=AnalysisReport)
    pool: Workers | None = None

    def note(self, phase: str, done: int) -> None:
        """Progress; the previous analysis's errors no longer apply once this one runs."""
        update_run(self.paths, analysis={"status": "running", "phase": phase, "backend": self.backend,
                                         "epochs_done": done, "epochs_total": self.total, "error": None,
                                         "errors": {str(e): m for e, m in sorted(self.report.errors.items())}})

    def finish(self, status: str, error: str | None = None) -> None:
        update_run(self.paths, analysis={
            "status": status, "phase": None, "backend": self.backend, "epochs_done": len(self.report.analysed),
            "epochs_total": self.total, "error": error,
            "errors": {str(e): m for e, m in sorted(self.report.errors.items())}})


# --- the run -------------------------------------------------------------------------------------


def analyze_run(data_dir, run_id: str, *, backend: str = "fast", epochs: list[int] | None = None,
                device: str = "cpu", randomize: bool = False, workers: int | None = None,
                bins: int = DEFAULT_BINS, progress: bool = True) -> AnalysisReport:
    """Bring the run's analysis up to date for `epochs` (default: every checkpoint)."""
    if backend not in BACKENDS:
        raise AnalysisError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    paths = run_paths(data_dir, run_id)
    read_run(paths)  # a clear error for an unknown run
    with job_lock(paths, "analysis"):
        available = checkpoint_epochs(paths)
        missing = sorted(set(epochs or []) - set(available))
        if missing:
            raise AnalysisError(f"run {run_id!r} has no checkpoint for epoch(s) {', '.join(map(str, missing))}; "
                                f"it has {available[0] if available else 'none'}..{available[-1] if available else ''}")
        if not available:
            raise AnalysisError(f"run {run_id!r} has no checkpoints yet in {paths.checkpoints}: train it first "
                                "(or import checkpoints)")
        manifest, wanted = _saved_state(paths, epochs or available, available)
        job = _Analysis(paths, backend, device, randomize, progress, manifest)
        todo, uncounted = [], set()
        for epoch in wanted:
            entry = manifest.get(epoch, {})
            if _up_to_date(entry, checkpoint_signature(paths, epoch, backend), randomize) and paths.esd(epoch).exists():
                job.report.up_to_date.append(epoch)
                if _histograms_pending(entry):
                    uncounted.add(epoch)
            else:
                todo.append(epoch)
        job.total = len(todo)
        if not todo and not uncounted and histogram_bins(paths) in (None, bins):  # other bins: recount all
            job.finish("completed")  # say so, or a job that queued this analysis would look unfinished
            return job.report
        processes = _choose_workers(paths, todo or sorted(uncounted) or wanted, device, workers)
        try:
            with worker_pool(processes, randomize) as job.pool:
                uncounted |= _analyse_spectra(job, todo)
                _update_histograms(job, weight_stats_rows(paths), uncounted, bins)
        except BaseException as exc:
            _record_stop(job, exc)
            raise
        for epoch in uncounted:
            manifest[epoch]["histograms"] = True
        write_manifest(paths, manifest)
        job.finish("failed" if job.report.errors else "completed")
        return job.report


def _record_stop(job: _Analysis, exc: BaseException) -> None:
    """An analysis stopped midway (Ctrl-C, SIGTERM, a dead worker) says so in run.json, and how to go on."""
    if isinstance(exc, KeyboardInterrupt):
        job.finish("cancelled", "cancelled; the epochs done are saved: run the analysis again to go on")
    else:
        job.finish("failed", str(exc) or type(exc).__name__)


def _analyse_spectra(job: _Analysis, todo: list[int]) -> set[int]:
    """Spectral rows and weight statistics of the epochs in `todo`, saved as they come (at least every
    SAVE_EVERY_SECONDS), so the dashboard shows them and an interrupted analysis resumes where it stopped.
    Errors go to the report and manifest. Returns the epochs whose histograms are still to be counted."""
    paths = job.paths
    tasks = {e: (paths, e, job.backend, job.device, job.randomize) for e in todo}
    rows, stats, entries = [], [], {}
    with_stats, finished, saved_at = set(), 0, time.monotonic()

    def save() -> None:  # the tables first: an epoch the manifest calls done always has its rows
        save_layer_rows(paths, {e for e, entry in entries.items() if not entry["error"]}, rows)
        save_weight_stats(paths, {row["epoch"] for row in stats}, stats)
        job.manifest.update(entries)
        write_manifest(paths, job.manifest)
        for saved in (rows, stats, entries):
            saved.clear()

    job.note("spectra", 0)
    try:
        for epoch, (epoch_rows, epoch_stats, error) in run_tasks(_spectra_task, tasks, job.pool, "spectra",
                                                                 job.progress, lambda e: job.note("spectra", finished)):
            finished += 1
            entries[epoch] = {"checkpoint": checkpoint_signature(paths, epoch, job.backend),
                              "randomize": job.randomize, "error": error, "histograms": False}
            if error:
                job.report.errors[epoch] = error
                print(f"epoch {epoch}: {error}", file=sys.stderr)
            else:
                job.report.analysed.append(epoch)
            rows += [{"epoch": epoch, **row} for row in epoch_rows]
            stats += [{"epoch": epoch, "layer": layer, "kind": kind, **values}
                      for (layer, kind), values in epoch_stats.items()]
            if epoch_stats:
                with_stats.add(epoch)
            if time.monotonic() - saved_at >= SAVE_EVERY_SECONDS:
                save()
                saved_at = time.monotonic()
    finally:
        save()  # also when an error or Ctrl-C stops the analysis: the epochs done are kept
    job.report.analysed.sort()
    return with_stats


def _update_histograms(job: _Analysis, all_stats: list[dict], new_epochs: set[int], bins: int) -> None:
    """Recount the new epochs, and every epoch of a tensor whose range outgrew its edges."""
    paths = job.paths
    old_epochs, edges, densities = read_histograms(paths)
    ranges: dict[tuple[str, str], tuple[float, float]] = {}
    for row in all_stats:
        low, high = _number(row["min"]), _number(row["max"])
        if not np.isnan(low):  # a tensor with no finite value has no range
            key = (row["layer"], row["kind"])
            known_low, known_high = ranges.get(key, (np.inf, -np.inf))
            ranges[key] = (min(known_low, low), max(known_high, high))
    regrown = set()
    for key, (low, high) in ranges.items():
        if key not in edges or len(edges[key]) != bins + 1 or not covers(edges[key], low, high):
            edges[key] = bin_edges(low, high, bins)
            regrown.add(key)
    epochs = sorted({int(row["epoch"]) for row in all_stats})
    recount = {}
    for e in epochs:  # epochs analysed before: only the regrown tensors need counting again
        keys = edges.keys() if e in new_epochs else regrown
        if keys:
            recount[e] = (paths.checkpoint(e), {key: edges[key] for key in keys})
    previous = {e: i for i, e in enumerate(old_epochs)}
    table = {key: np.zeros((len(epochs), bins)) for key in edges}
    for key in edges:
        if key in densities and key not in regrown:
            for row, e in enumerate(epochs):
                if e in previous:
                    table[key][row] = densities[key][previous[e]]
    position = {e: i for i, e in enumerate(epochs)}
    done = 0
    for epoch, counted in run_tasks(_histogram_task, recount, job.pool, "histograms", job.progress,
                                    lambda e: job.note("histograms", done)):
        done += 1
        for key, values in counted.items():
            table[key][position[epoch]] = values
    write_histograms(paths, epochs, edges, table)
