"""Analyse a run's checkpoints: spectral rows, ESDs, weight statistics and histograms, incrementally.

analysis.plan decides, without torch, which epochs need it, so re-running is cheap. Checkpoints are
analysed in parallel (analysis.pool); results are saved as they come; a checkpoint that cannot be analysed
records its error and leaves everything written before untouched. Every file is read and written through
the run format (spectrascope.runs).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from analysis.backends import LayerDone, analyze_state_dict, unreported
from analysis.histograms import bin_edges, covers, density, once_per_tensor, parameter_tensors, tensor_stats
from analysis.options import DEFAULT_BINS, RANDOMIZE_EVERY, AnalysisError
from analysis.plan import AnalysisReport, Plan, planned_analysis, record_analysis, record_layers, watch_health
from analysis.pool import Workers, run_tasks, worker_pool
from analysis.progress import NONE_UNDER_WAY, LayerProgress
from spectrascope import settings
from spectrascope.checkpoints import CheckpointError, load_arrays
from spectrascope.runs import (
    RunPaths, checkpoint_signature, drop_finished_layers, finished_layers, keep_finished_layer, read_histograms,
    read_run, save_layer_rows, save_weight_stats, weight_stats_rows,
    write_esd, write_histograms, write_manifest,
)

# Smaller runs are not worth starting a worker (0.5 s: NumPy, SciPy, no torch). `spectrascope import` of
# 45 MB ResNet-18 checkpoints, whole command: 2 take 2.1 s in one process and 1.7 s with a worker, 3 take
# 2.7 s and 2.0 s.
IN_PROCESS_BELOW_BYTES = 64 << 20
SAVE_EVERY_SECONDS = 5.0  # results reach the files (and the dashboard) at least this often


# --- per checkpoint (in this process or a worker process) -----------------------------------------


def _spectra_task(paths: RunPaths, epoch: int, backend: str, device: str, randomize: bool,
                  on_layer: LayerDone = unreported) -> tuple[list[dict], dict, str | None]:
    """rows, per-tensor stats, error. Stats survive a failed spectral analysis (they count NaN/Inf)."""
    try:
        state_dict = load_arrays(paths.checkpoint(epoch))
    except CheckpointError as exc:
        return [], {}, str(exc)
    stats = once_per_tensor(tensor_stats, state_dict, parameter_tensors(state_dict))
    finished, keep = _going_on(paths, epoch, backend, randomize)
    try:
        rows, esd, randomized = analyze_state_dict(state_dict, backend, device, randomize, on_layer,
                                                   read_run(paths).config.get("layer_types"), finished, keep)
    except AnalysisError as exc:
        return [], stats, str(exc)
    write_esd(paths, epoch, esd, randomized)
    return rows, stats, None


def _going_on(paths: RunPaths, epoch: int, backend: str, randomize: bool) -> tuple[dict, Callable | None]:
    """The layers of this checkpoint an analysis stopped inside it had finished, and where each new one is kept
    (the fast backend's: weightwatcher's analyze() does a checkpoint in one call)."""
    if backend != "fast":
        return {}, None
    signature = {**checkpoint_signature(paths, epoch, backend), "randomize": randomize}
    finished = finished_layers(paths, epoch, signature)
    if finished:
        print(f"epoch {epoch}: going on after the {len(finished)} layers finished before the analysis stopped",
              file=sys.stderr)
    return finished, partial(keep_finished_layer, paths, epoch, signature)


def _histogram_task(checkpoint: Path, edges: dict) -> dict:
    try:
        state_dict = load_arrays(checkpoint)
    except CheckpointError:  # gone or damaged since its stats were taken: leave its counts empty
        return {}
    tensors = parameter_tensors(state_dict)
    wanted = {key: tensors[key] for key in edges if key in tensors}
    return once_per_tensor(density, state_dict, wanted, edges)


# --- bookkeeping ---------------------------------------------------------------------------------


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
    """One analysis at work: its plan, how it runs, and what it has done so far (in plan.report)."""

    plan: Plan
    device: str
    progress: bool
    pool: Workers | None = None
    layers: LayerProgress | None = None  # while spectra are computed

    def note(self, phase: str, done: int) -> None:
        layers = self.layers.totals() if self.layers else NONE_UNDER_WAY
        record_analysis(self.plan, "running", done, len(self.plan.todo), phase, layers=layers)

    def finish(self, status: str, error: str | None = None) -> None:
        record_analysis(self.plan, status, len(self.plan.report.analysed), len(self.plan.todo), error=error)


# --- the run -------------------------------------------------------------------------------------


def analyze_run(data_dir, run_id: str, *, backend: str = "fast", epochs: list[int] | None = None,
                device: str = "cpu", randomize: bool = False, randomize_every: int = RANDOMIZE_EVERY,
                workers: int | None = None, bins: int = DEFAULT_BINS, progress: bool = True) -> AnalysisReport:
    """Bring the run's analysis up to date for `epochs` (default: every checkpoint), with randomized ESDs at
    every epoch (`randomize`) or by analysis.plan.randomized_epochs (`randomize_every`, 0: none)."""
    with planned_analysis(data_dir, run_id, backend=backend, epochs=epochs, randomize=randomize, bins=bins,
                          randomize_every=randomize_every) as plan:
        if not plan.nothing_to_do:
            carry_out(plan, device, workers, progress)
        return plan.report


def carry_out(plan: Plan, device: str, workers: int | None, progress: bool) -> None:
    """Do what the plan says (under its lock, in analysis.plan.planned_analysis); the results go to plan.report."""
    job = _Analysis(plan, device, progress)
    uncounted = set(plan.uncounted)
    processes = _choose_workers(plan.paths, plan.todo or sorted(uncounted) or plan.wanted, device, workers)
    try:
        with worker_pool(processes, bool(plan.randomized & set(plan.todo))) as job.pool:
            uncounted |= _analyse_spectra(job, plan.todo)
            _update_histograms(job, weight_stats_rows(plan.paths), uncounted, plan.bins)
    except BaseException as exc:
        _record_stop(job, exc)
        raise
    for epoch in uncounted:
        plan.manifest[epoch]["histograms"] = True
    write_manifest(plan.paths, plan.manifest)
    job.finish("failed" if plan.report.errors else "completed")
    watch_health(plan, patience=settings.alert_patience_seconds())


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
    plan = job.plan
    paths = plan.paths
    tasks = {e: (paths, e, plan.backend, job.device, e in plan.randomized) for e in todo}
    rows, stats, entries = [], [], {}
    with_stats, finished, saved_at = set(), set(), time.monotonic()

    def save() -> None:  # the tables first: an epoch the manifest calls done always has its rows
        save_layer_rows(paths, {e for e, entry in entries.items() if not entry["error"]}, rows)
        save_weight_stats(paths, {row["epoch"] for row in stats}, stats)
        plan.manifest.update(entries)
        write_manifest(paths, plan.manifest)
        for epoch in entries:  # their rows are in layers.csv now
            drop_finished_layers(paths, epoch)
        for saved in (rows, stats, entries):
            saved.clear()
        under_way = set(todo) - finished
        watch_health(plan, upto=min(under_way) - 1 if under_way else None)  # an epoch's events wait for earlier ones

    job.note("spectra", 0)
    job.layers = LayerProgress(lambda totals: record_layers(plan, totals), job.progress, checkpoints=len(todo))
    try:
        for epoch, (epoch_rows, epoch_stats, error) in run_tasks(_spectra_task, tasks, job.pool, "spectra",
                                                                 job.progress, lambda e: job.note("spectra", len(finished)),
                                                                 job.layers):
            finished.add(epoch)
            entries[epoch] = {"checkpoint": checkpoint_signature(paths, epoch, plan.backend),
                              "randomize": epoch in plan.randomized, "error": error, "histograms": False}
            if error:
                plan.report.errors[epoch] = error
                print(f"epoch {epoch}: {error}", file=sys.stderr)
            else:
                plan.report.analysed.append(epoch)
            rows += [{"epoch": epoch, **row} for row in epoch_rows]
            stats += [{"epoch": epoch, "layer": layer, "kind": kind, **values}
                      for (layer, kind), values in epoch_stats.items()]
            if epoch_stats:
                with_stats.add(epoch)
            if time.monotonic() - saved_at >= SAVE_EVERY_SECONDS:
                save()
                saved_at = time.monotonic()
    finally:
        job.layers.close()
        job.layers = None
        save()  # also when an error or Ctrl-C stops the analysis: the epochs done are kept
    plan.report.analysed.sort()
    return with_stats


def _update_histograms(job: _Analysis, all_stats: list[dict], new_epochs: set[int], bins: int) -> None:
    """Recount the new epochs, and every epoch of a tensor whose range outgrew its edges."""
    paths = job.plan.paths
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
