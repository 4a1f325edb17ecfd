"""What an export draws, read from the run through the run format. Every reason it cannot be drawn is a
UserError naming the problem and the fix, raised before anything is rendered or written."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spectrascope.errors import UserError
from spectrascope.health.bands import layer_to_open
from spectrascope.runs import (
    DAMAGED_FILE_ERRORS, RunPaths, histogram_tensors, layers_frame, list_runs, metrics_frame, read_eigenvalues,
    read_randomized_eigenvalues, read_run, read_tensor_histogram, run_paths,
)

NAMES_SHOWN = 8  # of a long list of layers or runs, the first few in a message


@dataclass(frozen=True)
class TensorHistogram:
    layer: str
    kind: str  # "weight" | "bias"
    epochs: list[int]
    edges: np.ndarray
    densities: np.ndarray  # epochs x bins


@dataclass(frozen=True)
class Spectrum:
    """One layer's ESD at one epoch and its power-law fit (a layers.csv row)."""
    layer: str
    eigenvalues: np.ndarray
    fit: dict
    randomized: np.ndarray | None  # the shuffled weights' eigenvalues, from an analysis with --randomize


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f", … ({len(names)} in all)" if len(names) > NAMES_SHOWN else "")


def _analyse(paths: RunPaths) -> str:
    return f"run `spectrascope analyze --run-id {paths.run_id}`"


def open_run(data_dir: str | os.PathLike, run_id: str) -> RunPaths:
    paths = run_paths(data_dir, run_id)
    if not paths.run_json.exists():
        runs = sorted(record.id for record in list_runs(data_dir))
        there = f"the runs there: {_some(runs)}" if runs else "it holds no runs"
        raise UserError(f"no run {run_id!r} in {paths.root.parent}; {there} (or pass the right --data-dir)")
    read_run(paths)  # a damaged or newer-format run.json says so here
    return paths


def _read(paths: RunPaths, path: Path, read, *args):
    """read(paths, *args), with a missing or damaged analysis file named, and how to rebuild it."""
    try:
        return read(paths, *args)
    except (OSError, *DAMAGED_FILE_ERRORS) as exc:
        problem = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc})"
        raise UserError(f"{path} {problem}; {_analyse(paths)} to rebuild it") from None


def parse_epochs(text: str | None) -> tuple[int | None, int | None]:
    """--epochs A:B: the first and last epoch, both included, either left out for no bound; N alone is one."""
    if not text:
        return None, None
    first, colon, last = text.partition(":")
    try:
        bounds = tuple(int(part) if part.strip() else None for part in (first, last if colon else first))
    except ValueError:
        raise UserError(f"--epochs takes A:B (the first and last epoch; either may be left out), "
                        f"not {text!r}") from None
    if None not in bounds and bounds[0] > bounds[1]:
        raise UserError(f"--epochs {text} is reversed: give the first epoch first ({bounds[1]}:{bounds[0]})")
    return bounds


def pick_epochs(available: list[int], bounds: tuple[int | None, int | None], paths: RunPaths) -> list[int]:
    low, high = bounds
    chosen = [epoch for epoch in available if (low is None or epoch >= low) and (high is None or epoch <= high)]
    if not chosen:
        asked = f"{'' if low is None else low}:{'' if high is None else high}"
        raise UserError(f"--epochs {asked} holds none of run {paths.run_id}'s analysed epochs "
                        f"({available[0]}–{available[-1]}); choose a range within them")
    return chosen


def tensor_histogram(paths: RunPaths, layer: str | None, kind: str,
                     bounds: tuple[int | None, int | None]) -> TensorHistogram:
    tensors = _read(paths, paths.histograms, histogram_tensors)
    if not tensors:
        raise UserError(f"run {paths.run_id} has no histograms yet; {_analyse(paths)} first")
    layers = list(dict.fromkeys(name for name, _ in tensors))
    check_layer(paths, layer, layers)
    if (layer, kind) not in tensors:
        other = "weights (leave out --biases)" if kind == "bias" else "biases (--biases)"
        raise UserError(f"layer {layer} of run {paths.run_id} has no {kind}; export its {other}")
    epochs, edges, densities = _read(paths, paths.histograms, read_tensor_histogram, layer, kind)
    chosen = pick_epochs(epochs, bounds, paths)
    rows = [epochs.index(epoch) for epoch in chosen]
    return TensorHistogram(layer, kind, chosen, edges, densities[rows])


def counted_tensors(paths: RunPaths) -> set[tuple[str, str]]:
    """The (layer, kind) tensors whose histograms the analysis has counted: none before it counted any."""
    return set(_read(paths, paths.histograms, histogram_tensors)) if paths.histograms.exists() else set()


def metrics(paths: RunPaths) -> pd.DataFrame:
    """metrics.csv, empty where the run has none (an imported run)."""
    try:
        return metrics_frame(paths)
    except (OSError, *DAMAGED_FILE_ERRORS) as exc:
        raise UserError(f"{paths.metrics_csv} cannot be read ({exc}); training wrote it: repair it, or move it "
                        "aside to leave the training curves out") from None


def check_layer(paths: RunPaths, layer: str | None, layers: list[str]) -> None:
    if layer is None:
        raise UserError(f"this view shows one layer: name it with --layer; run {paths.run_id}'s layers: "
                        f"{_some(layers)}")
    if layer not in layers:
        raise UserError(f"run {paths.run_id} has no analysed layer {layer!r}; its layers: {_some(layers)}")


def opening_layer(paths: RunPaths, view: str, kind: str) -> str | None:
    """The layer the dashboard opens the view (esd, histogram) on, for an export without --layer; None where the
    run has none to show, and the view then says why."""
    table = _read(paths, paths.layers_csv, layers_frame)
    if view == "esd":
        shown = [] if table.empty else layer_names(table)
    else:
        shown = [layer for layer, tensor in _read(paths, paths.histograms, histogram_tensors) if tensor == kind]
    return layer_to_open(table, shown)


def layer_table(paths: RunPaths, bounds: tuple[int | None, int | None]) -> tuple[pd.DataFrame, list[int]]:
    """analysis/layers.csv at the chosen epochs, and those epochs."""
    table = _read(paths, paths.layers_csv, layers_frame)
    if table.empty:
        raise UserError(f"run {paths.run_id} has not been analysed yet; {_analyse(paths)} first")
    epochs = pick_epochs(sorted(int(epoch) for epoch in table["epoch"].unique()), bounds, paths)
    return table[table["epoch"].isin(epochs)], epochs


def layer_names(table: pd.DataFrame) -> list[str]:
    """Analysed layers in network order."""
    return list(table["layer"].unique())


def spectra(paths: RunPaths, table: pd.DataFrame, layers: list[str], epoch: int) -> list[Spectrum]:
    """Each layer's ESD and fit at one epoch; a layer not analysed then has no eigenvalues and no fit."""
    rows = {row["layer"]: row for row in table[table["epoch"] == epoch].to_dict("records")}
    return [Spectrum(layer, _eigenvalues(paths, epoch, layer) if layer in rows else np.empty(0), rows.get(layer, {}),
                     _read(paths, paths.randomized_esd(epoch), read_randomized_eigenvalues, epoch, layer))
            for layer in layers]


def _eigenvalues(paths: RunPaths, epoch: int, layer: str) -> np.ndarray:
    values = _read(paths, paths.esd(epoch), read_eigenvalues, epoch, layer)
    if values is None:
        raise UserError(f"{paths.esd(epoch)} holds no eigenvalues of {layer}; {_analyse(paths)} to rebuild it")
    return values

