"""Analyse a run's checkpoints: spectral rows, ESDs, weight statistics and histograms, incrementally.

An epoch is redone only when its checkpoint changed (size or mtime), the backend changed, or it failed
last time, so re-running is cheap. Checkpoints are analysed in parallel, by this process and worker
processes; a checkpoint that cannot be analysed records its error and leaves everything written before
untouched.
"""
from __future__ import annotations

import atexit
import csv
import json
import os
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from queue import SimpleQueue
from threading import Thread
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analysis.backends import AnalysisError, analyze_state_dict
from analysis.checkpoints import CheckpointError, load_state_dict
from analysis.histograms import STAT_COLUMNS, bin_edges, covers, density, parameter_tensors, tensor_stats
from analysis.metrics import LAYER_COLUMNS
from analysis.options import BACKENDS, DEFAULT_BINS
from analysis.run_format import (
    DAMAGED_FILE_ERRORS, RunPaths, atomic_write, atomic_write_text, checkpoint_epochs, histogram_bins, job_lock, now_iso,
    read_csv, read_histograms, read_run, run_paths, update_run, write_csv, write_histograms,
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


def _spectra_task(checkpoint: Path, esd_path: Path, backend: str, device: str,
                  randomize: bool) -> tuple[list[dict], dict, str | None]:
    """rows, per-tensor stats, error. Stats survive a failed spectral analysis (they count NaN/Inf)."""
    try:
        state_dict = load_state_dict(checkpoint)
    except CheckpointError as exc:
        return [], {}, str(exc)
    stats = {key: tensor_stats(values) for key, values in parameter_tensors(state_dict).items()}
    try:
        rows, esd = analyze_state_dict(state_dict, backend, device, randomize)
    except AnalysisError as exc:
        return [], stats, str(exc)
    atomic_write(esd_path, lambda handle: np.savez(handle, **esd))
    return rows, stats, None


def _histogram_task(checkpoint: Path, edges: dict) -> dict:
    try:
        tensors = parameter_tensors(load_state_dict(checkpoint))
    except CheckpointError:  # gone or damaged since its stats were taken: leave its counts empty
        return {}
    return {key: density(tensors[key], tensor_edges) for key, tensor_edges in edges.items() if key in tensors}


def _limit_threads(threads: int, randomize: bool) -> threadpool_limits:
    """Split the cores between processes: BLAS threads spinning on oversubscribed cores cost 10x. Every
    library with a thread pool is loaded first (NumPy's and SciPy's OpenBLAS and torch's OpenMP came with
    this module), so the limits cover them all. Leaving the returned context restores BLAS's threads."""
    if randomize:
        import analysis.randomize  # noqa: F401  (SciPy's statistics and scikit-learn)
    torch.set_num_threads(threads)
    return threadpool_limits(threads)


@contextmanager
def limited_threads(threads: int, randomize: bool = False) -> Iterator[None]:
    """`threads` BLAS and torch threads in this process while inside, the previous counts after."""
    torch_threads = torch.get_num_threads()
    try:
        with _limit_threads(threads, randomize):
            yield
    finally:
        torch.set_num_threads(torch_threads)


def _init_worker(threads: int, randomize: bool) -> None:
    _limit_threads(threads, randomize)
    # Exit as a forked child would, without the interpreter's teardown (about 0.5 s of freeing torch's
    # modules): a worker only exits once its last result has been sent.
    atexit.register(os._exit, 0)


@dataclass(frozen=True)
class _Workers:
    """Worker processes that share the tasks with this process (`count` of them, this one not included)."""
    executor: ProcessPoolExecutor
    count: int


@contextmanager
def _worker_pool(processes: int, randomize: bool) -> Iterator[_Workers | None]:
    """`processes` at work for the whole analysis: this one and processes - 1 workers started once (None:
    this one alone, with all its threads). This process takes part, so no core waits while workers start."""
    if processes == 1:
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // processes)
    with limited_threads(threads, randomize), ProcessPoolExecutor(
            processes - 1, mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(threads, randomize)) as executor:
        yield _Workers(executor, processes - 1)


def _shared_work(fn: Callable, tasks: dict[int, tuple], workers: _Workers) -> Iterator[tuple[int, object]]:
    """(epoch, result) as tasks finish. The workers take tasks from the front of the queue, one at a time
    each (so none waits in a worker's queue while this process could take it), this process from the back."""
    todo, finished = deque(tasks.items()), SimpleQueue()

    def keep_a_worker_busy() -> None:
        while todo:
            try:
                epoch, args = todo.popleft()
            except IndexError:  # this process took the last one
                return
            try:
                finished.put((epoch, workers.executor.submit(fn, *args).result(), None))
            except BaseException as exc:  # noqa: BLE001  (raised again in this process's own thread)
                finished.put((epoch, None, exc))
                todo.clear()  # the analysis stops: start nothing new
                return

    def results_so_far() -> Iterator[tuple[int, object]]:
        while not finished.empty():
            epoch, result, error = finished.get()
            if isinstance(error, BrokenProcessPool):
                raise AnalysisError("a worker process died (out of memory?); the epochs done are saved: run the "
                                    "same command again to go on, with --workers 1 to use less memory") from None
            if error is not None:
                raise error
            yield epoch, result

    feeders = [Thread(target=keep_a_worker_busy, daemon=True) for _ in range(workers.count)]
    for feeder in feeders:
        feeder.start()
    try:
        while todo:
            try:
                epoch, args = todo.pop()
            except IndexError:
                break
            yield epoch, fn(*args)
            yield from results_so_far()
    finally:
        todo.clear()  # after an error here, the workers start nothing new
    for feeder in feeders:
        feeder.join()
    yield from results_so_far()


def _run_tasks(fn: Callable, tasks: dict[int, tuple], workers: _Workers | None, label: str,
               progress: bool, on_done: Callable[[int], None]) -> Iterable[tuple[int, object]]:
    """Yield (epoch, result) as tasks finish, shared with the workers or all in this process."""
    bar = tqdm(total=len(tasks), desc=label, unit="epoch", disable=not progress or None, leave=False)
    if workers is None:
        results = ((epoch, fn(*args)) for epoch, args in tasks.items())
    else:
        results = _shared_work(fn, tasks, workers)
    for epoch, result in results:
        yield epoch, result
        bar.update()
        on_done(epoch)
    bar.close()


# --- bookkeeping ---------------------------------------------------------------------------------


def _signature(path: Path, backend: str) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "backend": backend}


def _up_to_date(entry: dict, signature: dict, randomize: bool) -> bool:
    """Same checkpoint and backend, no error last time, and randomized metrics if they are asked for."""
    return (entry.get("error") is None and entry.get("checkpoint") == signature
            and entry.get("randomize", False) >= randomize)


def _histograms_pending(entry: dict) -> bool:
    """Spectra saved but histograms not yet counted: an analysis stopped in between."""
    return entry.get("histograms") is False


def _read_manifest(paths: RunPaths) -> dict[int, dict] | None:
    """What each epoch's saved results were computed from (empty before any; None if it cannot be read)."""
    if not paths.analysis_manifest.exists():
        return {}
    try:
        return {int(epoch): dict(entry) for epoch, entry in json.loads(paths.analysis_manifest.read_text()).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        print(f"{paths.analysis_manifest} cannot be read ({exc}); every epoch is analysed again", file=sys.stderr)
        return None


def _set_aside_damaged_results(paths: RunPaths) -> list[Path]:
    """Rename each results file that exists but does not read, or lacks cells (a disk error, a hand edit,
    a cut-off row), to NAME.damaged, so it is rebuilt rather than reported up to date. Returns them."""
    damaged = []
    for path, columns in ((paths.layers_csv, LAYER_COLUMNS), (paths.weight_stats_csv, STAT_COLUMNS)):
        try:
            with path.open(newline="") as handle:
                rows = csv.reader(handle)
                if tuple(next(rows, ())) != columns or any(len(row) != len(columns) for row in rows):
                    damaged.append(path)
        except FileNotFoundError:
            continue
        except (*DAMAGED_FILE_ERRORS, csv.Error):
            damaged.append(path)
    try:
        read_histograms(paths)
    except DAMAGED_FILE_ERRORS:
        damaged.append(paths.histograms)
    for path in damaged:
        path.replace(path.with_name(path.name + ".damaged"))
        print(f"{path} cannot be read: set aside as {path.name}.damaged and rebuilt from the checkpoints",
              file=sys.stderr)
    return damaged


def _saved_state(paths: RunPaths, wanted: list[int], available: list[int]) -> tuple[dict[int, dict], list[int]]:
    """The manifest to go by, and the epochs to bring up to date: after a results file was damaged, every
    epoch, since what was lost is rebuilt for all of them."""
    damaged = _set_aside_damaged_results(paths)
    manifest = _read_manifest(paths)
    if manifest is None or set(damaged) - {paths.histograms}:  # every epoch's rows are made again
        return {}, available
    if damaged:  # only the histograms: the spectra stand, every epoch is counted again
        return {epoch: {**entry, "histograms": False} for epoch, entry in manifest.items()}, available
    return manifest, wanted


def _write_manifest(paths: RunPaths, manifest: dict[int, dict]) -> None:
    atomic_write_text(paths.analysis_manifest, json.dumps({str(k): v for k, v in sorted(manifest.items())}, indent=1))


def _merge(path: Path, columns: tuple[str, ...], replaced: set[int], new_rows: list[dict]) -> list[dict]:
    """Existing rows of other epochs plus the new rows, ordered by epoch (row order kept within one)."""
    kept = [row for row in read_csv(path) if int(row["epoch"]) not in replaced]
    rows = sorted(kept + new_rows, key=lambda row: int(row["epoch"]))
    write_csv(path, columns, rows)
    return rows


def _number(cell) -> float:
    return np.nan if cell in ("", None) else float(cell)


def _choose_workers(paths: RunPaths, epochs: list[int], device: str, workers: int | None) -> int:
    if workers:
        return workers
    if device != "cpu" or sum(paths.checkpoint(e).stat().st_size for e in epochs) < IN_PROCESS_BELOW_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, len(epochs)))


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
        report = AnalysisReport()
        todo, uncounted = [], set()
        for epoch in wanted:
            entry = manifest.get(epoch, {})
            signature = _signature(paths.checkpoint(epoch), backend)
            if _up_to_date(entry, signature, randomize) and paths.esd(epoch).exists():
                report.up_to_date.append(epoch)
                if _histograms_pending(entry):
                    uncounted.add(epoch)
            else:
                todo.append(epoch)
        if not todo and not uncounted and histogram_bins(paths) in (None, bins):  # other bins: recount all
            # say so, or a job that queued this analysis would look unfinished
            update_run(paths, analysis={"status": "completed", "backend": backend, "epochs_done": 0,
                                        "epochs_total": 0, "errors": {}, "updated": now_iso()})
            return report
        workers = _choose_workers(paths, todo or sorted(uncounted) or wanted, device, workers)

        def note(phase: str, done: int) -> None:
            update_run(paths, analysis={"status": "running", "phase": phase, "backend": backend,
                                        "epochs_done": done, "epochs_total": len(todo), "updated": now_iso()})

        try:
            with _worker_pool(workers, randomize) as pool:
                uncounted |= _analyse_spectra(paths, todo, (backend, device, randomize), pool, progress, report,
                                              manifest, note)
                _update_histograms(paths, read_csv(paths.weight_stats_csv), uncounted, bins, pool, progress, note)
        except BaseException as exc:
            _record_stop(paths, backend, len(todo), report, exc)
            raise
        for epoch in uncounted:
            manifest[epoch]["histograms"] = True
        _write_manifest(paths, manifest)
        update_run(paths, analysis={"status": "failed" if report.errors else "completed", "backend": backend,
                                    "epochs_done": len(report.analysed), "epochs_total": len(todo),
                                    "errors": {str(e): m for e, m in sorted(report.errors.items())}, "updated": now_iso()})
        return report


def _record_stop(paths: RunPaths, backend: str, total: int, report: AnalysisReport, exc: BaseException) -> None:
    """An analysis stopped midway (Ctrl-C, SIGTERM, a dead worker) says so in run.json, and how to go on."""
    if isinstance(exc, KeyboardInterrupt):
        status, error = "cancelled", "cancelled; the epochs done are saved: run the analysis again to go on"
    else:
        status, error = "failed", str(exc) or type(exc).__name__
    update_run(paths, analysis={"status": status, "backend": backend, "epochs_done": len(report.analysed),
                                "epochs_total": total, "error": error, "updated": now_iso()})


def _analyse_spectra(paths: RunPaths, todo: list[int], options: tuple[str, str, bool], pool: _Workers | None,
                     progress: bool, report: AnalysisReport, manifest: dict,
                     note: Callable[[str, int], None]) -> set[int]:
    """Spectral rows and weight statistics of the epochs in `todo`, saved as they come (at least every
    SAVE_EVERY_SECONDS), so the dashboard shows them and an interrupted analysis resumes where it stopped.
    Errors go to the report and manifest. Returns the epochs whose histograms are still to be counted."""
    backend, _, randomize = options
    tasks = {e: (paths.checkpoint(e), paths.esd(e), *options) for e in todo}
    rows, stats, entries = [], [], {}
    with_stats, finished, saved_at = set(), 0, time.monotonic()

    def save() -> None:  # the tables first: an epoch the manifest calls done always has its rows
        _merge(paths.layers_csv, LAYER_COLUMNS, {e for e, entry in entries.items() if not entry["error"]}, rows)
        _merge(paths.weight_stats_csv, STAT_COLUMNS, {row["epoch"] for row in stats}, stats)
        manifest.update(entries)
        _write_manifest(paths, manifest)
        for saved in (rows, stats, entries):
            saved.clear()

    note("spectra", 0)
    try:
        for epoch, (epoch_rows, epoch_stats, error) in _run_tasks(_spectra_task, tasks, pool, "spectra", progress,
                                                                  lambda e: note("spectra", finished)):
            finished += 1
            entries[epoch] = {"checkpoint": _signature(paths.checkpoint(epoch), backend), "randomize": randomize,
                              "error": error, "histograms": False}
            if error:
                report.errors[epoch] = error
                print(f"epoch {epoch}: {error}", file=sys.stderr)
            else:
                report.analysed.append(epoch)
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
    report.analysed.sort()
    return with_stats


def _update_histograms(paths: RunPaths, all_stats: list[dict], new_epochs: set[int], bins: int,
                       pool: _Workers | None,
                       progress: bool, note: Callable[[str, int], None]) -> None:
    """Recount the new epochs, and every epoch of a tensor whose range outgrew its edges."""
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
    for epoch, counted in _run_tasks(_histogram_task, recount, pool, "histograms", progress,
                                     lambda e: note("histograms", done)):
        done += 1
        for key, values in counted.items():
            table[key][position[epoch]] = values
    write_histograms(paths, epochs, edges, table)
