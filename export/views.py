"""The views an export can show: for each, what it reads from the run and the frames it draws, one per epoch (or
step, for a run numbered by step)."""
from __future__ import annotations

import plotly.graph_objects as go

from export import frames, load
from spectrascope.runs import RunPaths, read_run

Bounds = tuple[int | None, int | None]


def histogram(paths: RunPaths, layer: str | None, kind: str, bounds: Bounds) -> tuple[list[int], list[go.Figure]]:
    tensor = load.tensor_histogram(paths, layer, kind, bounds)
    return tensor.epochs, frames.histogram_frames(tensor, read_run(paths).unit)


def esd(paths: RunPaths, layer: str | None, kind: str, bounds: Bounds) -> tuple[list[int], list[go.Figure]]:
    table, _ = load.layer_table(paths, bounds)
    load.check_layer(paths, layer, load.layer_names(table))
    epochs = sorted(int(epoch) for epoch in table.loc[table["layer"] == layer, "epoch"].unique())
    spectra = [load.spectra(paths, table, [layer], epoch)[0] for epoch in epochs]
    return epochs, frames.esd_frames(epochs, spectra, read_run(paths).unit)


def alpha(paths: RunPaths, layer: str | None, kind: str, bounds: Bounds) -> tuple[list[int], list[go.Figure]]:
    table, epochs = load.layer_table(paths, bounds)
    return epochs, frames.alpha_frames(table, epochs, read_run(paths).unit)


def grid(paths: RunPaths, layer: str | None, kind: str, bounds: Bounds) -> tuple[list[int], list[go.Figure]]:
    table, epochs = load.layer_table(paths, bounds)
    layers = load.layer_names(table)
    spectra = [load.spectra(paths, table, layers, epoch) for epoch in epochs]
    return epochs, frames.grid_frames(epochs, spectra, read_run(paths).unit)

