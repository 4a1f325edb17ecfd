"""Runs side by side: one colour per run in every figure (its place in the chosen list), training curves,
alpha over epochs, one layer's ESD and histogram overlaid, and the alpha difference of two runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
from plotly.colors import get_colorscale, qualitative

from figures.histograms import bin_centres, bulk_range
from figures.spectra import RANDOMIZED_COLOUR, esd_axes, log_density, power_law_line
from figures.style import (
    HEALTHY_COLOURS, MARGIN, TEST_COLOUR, TRAIN_COLOUR, Figure, empty, epoch_axis, figure, grid, on_panel,
)

RUN_COLOURS = (TRAIN_COLOUR, TEST_COLOUR, HEALTHY_COLOURS[1], RANDOMIZED_COLOUR, *qualitative.Dark2)
DIFFERENCE_COLOURS = get_colorscale("RdBu_r")  # blue: run B's alpha lower than run A's, red: higher, white: the same
LEGEND_BELOW = dict(orientation="h", y=-0.22, x=0)


def run_colour(index: int) -> str:
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def _run_line(run_id: str, index: int, x, y, **trace) -> dict:
    """One run's line: its colour, its name in the legend, grouped so a legend click hides the run everywhere."""
    return dict(type="scatter", x=np.asarray(x), y=np.asarray(y, dtype=float), mode="lines+markers", name=run_id,
                legendgroup=run_id, line=dict(color=run_colour(index)), marker=dict(size=5), **trace)


def _without(runs: list[str], what: str) -> str:
    return f"<br><sup>no {what}: {', '.join(runs)}</sup>" if runs else ""


def _recorded(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows with a value in `column` (none where the run never recorded it)."""
    return table.dropna(subset=[column]) if column in table else table.iloc[:0]


def training_overlay(metrics: dict[str, pd.DataFrame], unit: str = "epoch") -> Figure:
    """Test accuracy and test loss per epoch, one colour per run, a panel for each that some run recorded (a
    language model's run has a loss and no accuracy); runs with neither (imported ones) are named."""
    panels = [(title, column) for title, column in (("Test accuracy", "test_acc"), ("Test loss", "test_loss"))
              if any(len(_recorded(table, column)) for table in metrics.values())]
    axes, titles = grid(1, max(len(panels), 1), horizontal_spacing=0.08, titles=[title for title, _ in panels])
    missing, epochs, traces = [], [], []
    for index, (run_id, table) in enumerate(metrics.items()):
        drawn = [(panel, column, rows) for panel, (_, column) in enumerate(panels)
                 if len(rows := _recorded(table, column))]
        if not drawn:
            missing.append(run_id)
        for order, (panel, column, rows) in enumerate(drawn):  # one legend entry a run
            traces.append(_run_line(run_id, index, rows["epoch"], rows[column], showlegend=order == 0,
                                    **on_panel(panel)))
            epochs += list(rows["epoch"])
    for name, axis in axes.items():
        axis.update(epoch_axis(epochs, unit) if name.startswith("x") else {})
    if panels and panels[0][1] == "test_acc":
        axes["yaxis"].update(tickformat=".0%")
    title = "Training curves" + _without(missing, "training metrics")
    room = {"margin": {**MARGIN, "t": MARGIN["t"] + 30}} if missing else {}  # the note above the panels' titles
    return figure(traces, title={"text": title}, height=380, legend=LEGEND_BELOW, annotations=titles, **room, **axes)


def _mean_alpha(layers: pd.DataFrame) -> pd.Series:
    """Mean alpha per epoch over the layers with a fit (a failed fit, alpha <= 0, is no value)."""
    return layers[layers["alpha"] > 0].groupby("epoch")["alpha"].mean()


def mean_alpha_overlay(layers: dict[str, pd.DataFrame], unit: str = "epoch",
                       title: str = "Mean alpha (shared layers)") -> Figure:
    """Mean alpha against epoch, one line per run; `layers` holds the layers every run shares, so the means
    average the same layers (or, where the runs share none, each run's own, which `title` says)."""
    traces = []
    for index, (run_id, table) in enumerate(layers.items()):
        mean = _mean_alpha(table) if not table.empty else pd.Series(dtype=float)
        traces.append(_run_line(run_id, index, mean.index, mean.to_numpy()))
    epochs = [epoch for table in layers.values() if not table.empty for epoch in table["epoch"]]
    return figure(traces, title={"text": title}, height=360, legend=LEGEND_BELOW,
                  xaxis=epoch_axis(epochs, unit), yaxis=dict(title={"text": "mean alpha"}, tickformat=".2f"))


def layer_alpha_overlay(layers: dict[str, pd.DataFrame], layer: str, unit: str = "epoch") -> Figure:
    """One layer's alpha against epoch for every run (failed fits left out)."""
    traces, epochs = [], []
    for index, (run_id, table) in enumerate(layers.items()):
        rows = table[(table["layer"] == layer) & (table["alpha"] > 0)] if not table.empty else table
        traces.append(_run_line(run_id, index, rows.get("epoch", []), rows.get("alpha", [])))
        epochs += list(rows.get("epoch", []))
    return figure(traces, title={"text": f"alpha of {layer}"}, height=360, legend=LEGEND_BELOW,
                  xaxis=epoch_axis(epochs, unit), yaxis=dict(title={"text": "alpha"}, tickformat=".2f"))


def esd_overlay(spectra: dict[str, tuple[np.ndarray, dict] | None], *, title: str, bins: int = 80) -> Figure:
    """Each run's ESD (eigenvalues, fit) on one set of log-spaced bins, markers in the run's colour and its
    fitted power law as a dashed line in the same colour; runs without that epoch are named."""
    positive = {run_id: np.sort(pair[0][pair[0] > 0]) for run_id, pair in spectra.items() if pair is not None}
    drawn = {run_id: values for run_id, values in positive.items() if values.size >= 2}
    if not drawn:
        return empty(f"{title}: no run has eigenvalues to draw")
    pooled = np.concatenate(list(drawn.values()))
    edges = np.geomspace(pooled.min(), pooled.max() * (1 + 1e-9), bins + 1)
    traces = []
    for index, run_id in enumerate(spectra):
        if run_id not in drawn:
            continue
        x, density = log_density(drawn[run_id], edges)
        traces.append(dict(type="scatter", x=x, y=density, mode="markers", name=run_id, legendgroup=run_id,
                           marker=dict(color=run_colour(index), size=7),
                           hovertemplate=f"{run_id}<br>λ %{{x:.4g}}<br>density %{{y:.4g}}<extra></extra>"))
        fit = spectra[run_id][1]
        line = power_law_line(drawn[run_id], fit)
        if line is not None:
            traces.append(dict(type="scatter", x=line[0], y=line[1], mode="lines",
                               name=f"{run_id} α={fit['alpha']:.3g}", legendgroup=run_id,
                               line=dict(color=run_colour(index), dash="dash")))
    missing = [run_id for run_id in spectra if run_id not in drawn]
    return figure(traces, title=dict(text=title + _without(missing, "eigenvalues here")), height=440,
                  **esd_axes(pooled, traces),
                  legend=dict(x=0.99, y=0.99, xanchor="right", yanchor="top"))  # where a falling ESD leaves room


def histogram_overlay(histograms: dict[str, tuple[np.ndarray, np.ndarray] | None], *, title: str) -> Figure:
    """Each run's normalised histogram (edges, density) as a step line on its own fixed bins, one colour per run;
    the view spans every run's bulk."""
    drawn = {run_id: pair for run_id, pair in histograms.items() if pair is not None}
    if not drawn:
        return empty(f"{title}: no run has a histogram here")
    traces = []
    for index, run_id in enumerate(histograms):
        if run_id in drawn:
            edges, density = drawn[run_id]
            traces.append({**_run_line(run_id, index, bin_centres(edges), density, line_shape="hvh",
                                       hovertemplate=f"{run_id}<br>value %{{x:.4g}}<br>density %{{y:.4g}}"
                                                     "<extra></extra>"), "mode": "lines"})
    ranges = np.array([bulk_range(edges, density) for edges, density in drawn.values()])
    missing = [run_id for run_id in histograms if run_id not in drawn]
    return figure(traces, title=dict(text=title + _without(missing, "histogram here")), height=380,
                  xaxis=dict(title={"text": "value"}, range=[float(ranges[:, 0].min()), float(ranges[:, 1].max())]),
                  yaxis=dict(title={"text": "density"}), legend=LEGEND_BELOW)


def alpha_difference_frame(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """second − first alpha, layers (in the first run's order) x epochs both runs analysed; NaN where either
    fit failed."""
    def pivot(table: pd.DataFrame) -> pd.DataFrame:
        return table.pivot(index="layer", columns="epoch", values="alpha").where(lambda alpha: alpha > 0)

    in_second = set(second["layer"].unique())
    order = [layer for layer in first["layer"].unique() if layer in in_second]
    epochs = sorted(set(first["epoch"]) & set(second["epoch"]))
    return pivot(second).reindex(index=order, columns=epochs) - pivot(first).reindex(index=order, columns=epochs)


def alpha_difference(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str],
                     unit: str = "epoch") -> Figure:
    """Epoch x layer heatmap of alpha_difference_frame (run B − run A) in diverging colours centred on 0 with
    a symmetric range; blank where a fit failed. Clicks carry (epoch, layer), as on the Alpha tab."""
    difference = alpha_difference_frame(first, second)
    values = difference.to_numpy(dtype=float)
    reach = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    reach = reach or 1.0  # identical runs: all white, on a range that still has a width
    cells = dict(
        type="heatmap", z=values, x=list(difference.columns), y=list(difference.index),
        colorscale=DIFFERENCE_COLOURS, zmid=0, zmin=-reach, zmax=reach, xgap=1, ygap=1,
        colorbar=dict(title={"text": "Δ alpha"}),
        hovertemplate=f"%{{y}}<br>{unit} %{{x}}<br>alpha {names[1]} − {names[0]}: %{{z:+.3f}}<extra></extra>")
    return figure([cells], title={"text": f"alpha of {names[1]} − alpha of {names[0]} (click a cell for its ESDs)"},
                  height=max(360, 18 * len(difference.index) + 120), xaxis=epoch_axis(difference.columns, unit),
                  yaxis=dict(autorange="reversed", type="category"))
