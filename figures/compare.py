"""Runs side by side: one colour per run in every figure (its place in the chosen list), training curves,
alpha over epochs, one layer's ESD and histogram overlaid, and the alpha difference of two runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from figures.histograms import bin_centres, bulk_range
from figures.spectra import RANDOMIZED_COLOUR, log_density, power_law_line
from figures.style import HEALTHY_COLOURS, TEST_COLOUR, TRAIN_COLOUR, empty, epoch_ticks, styled

RUN_COLOURS = (TRAIN_COLOUR, TEST_COLOUR, HEALTHY_COLOURS[1], RANDOMIZED_COLOUR, *qualitative.Dark2)
DIFFERENCE_COLOURS = "RdBu_r"  # blue: run B's alpha lower than run A's, red: higher, white: the same
LEGEND_BELOW = dict(orientation="h", y=-0.22, x=0)


def run_colour(index: int) -> str:
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def _run_line(run_id: str, index: int, x, y, **trace) -> go.Scatter:
    """One run's line: its colour, its name in the legend, grouped so a legend click hides the run everywhere."""
    return go.Scatter(x=x, y=y, mode="lines+markers", name=run_id, legendgroup=run_id,
                      line=dict(color=run_colour(index)), marker=dict(size=5), **trace)


def _without(runs: list[str], what: str) -> str:
    return f"<br><sup>no {what}: {', '.join(runs)}</sup>" if runs else ""


def training_overlay(metrics: dict[str, pd.DataFrame], unit: str = "epoch") -> go.Figure:
    """Test accuracy and test loss per epoch, one colour per run; runs with no metrics (imported ones) are named."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Test accuracy", "Test loss"), horizontal_spacing=0.08)
    missing, epochs = [], []
    for index, (run_id, table) in enumerate(metrics.items()):
        if table.empty or "test_acc" not in table:
            missing.append(run_id)
            continue
        for panel, column in ((1, "test_acc"), (2, "test_loss")):
            rows = table.dropna(subset=[column]) if column in table else table.iloc[:0]
            figure.add_trace(_run_line(run_id, index, rows["epoch"], rows[column], showlegend=panel == 1),
                             row=1, col=panel)
        epochs += list(table["epoch"])
    epoch_ticks(figure, epochs, unit)
    figure.update_yaxes(tickformat=".0%", row=1, col=1)
    title = "Training curves" + _without(missing, "training metrics (imported runs record none)")
    return styled(figure, title=title, height=380, legend=LEGEND_BELOW)


def _mean_alpha(layers: pd.DataFrame) -> pd.Series:
    """Mean alpha per epoch over the layers with a fit (a failed fit, alpha <= 0, is no value)."""
    return layers[layers["alpha"] > 0].groupby("epoch")["alpha"].mean()


def mean_alpha_overlay(layers: dict[str, pd.DataFrame], unit: str = "epoch") -> go.Figure:
    """Mean alpha against epoch, one line per run; `layers` holds only the layers every run shares, so the
    means average the same layers."""
    figure = go.Figure()
    for index, (run_id, table) in enumerate(layers.items()):
        mean = _mean_alpha(table) if not table.empty else pd.Series(dtype=float)
        figure.add_trace(_run_line(run_id, index, mean.index, mean.to_numpy()))
    epoch_ticks(figure, [epoch for table in layers.values() if not table.empty for epoch in table["epoch"]], unit)
    figure.update_yaxes(title_text="mean alpha", tickformat=".2f")
    return styled(figure, title="Mean alpha (shared layers)", height=360, legend=LEGEND_BELOW)


def layer_alpha_overlay(layers: dict[str, pd.DataFrame], layer: str, unit: str = "epoch") -> go.Figure:
    """One layer's alpha against epoch for every run (failed fits left out)."""
    figure = go.Figure()
    epochs = []
    for index, (run_id, table) in enumerate(layers.items()):
        rows = table[(table["layer"] == layer) & (table["alpha"] > 0)] if not table.empty else table
        figure.add_trace(_run_line(run_id, index, rows.get("epoch", []), rows.get("alpha", [])))
        epochs += list(rows.get("epoch", []))
    epoch_ticks(figure, epochs, unit)
    figure.update_yaxes(title_text="alpha", tickformat=".2f")
    return styled(figure, title=f"alpha of {layer}", height=360, legend=LEGEND_BELOW)


def esd_overlay(spectra: dict[str, tuple[np.ndarray, dict] | None], *, title: str, bins: int = 80) -> go.Figure:
    """Each run's ESD (eigenvalues, fit) on one set of log-spaced bins, markers in the run's colour and its
    fitted power law as a dashed line in the same colour; runs without that epoch are named."""
    positive = {run_id: np.sort(pair[0][pair[0] > 0]) for run_id, pair in spectra.items() if pair is not None}
    drawn = {run_id: values for run_id, values in positive.items() if values.size >= 2}
    if not drawn:
        return empty(f"{title}: no run has eigenvalues to draw")
    pooled = np.concatenate(list(drawn.values()))
    edges = np.geomspace(pooled.min(), pooled.max() * (1 + 1e-9), bins + 1)
    figure = go.Figure()
    for index, run_id in enumerate(spectra):
        if run_id not in drawn:
            continue
        x, density = log_density(drawn[run_id], edges)
        figure.add_trace(go.Scatter(x=x, y=density, mode="markers", name=run_id, legendgroup=run_id,
                                    marker=dict(color=run_colour(index), size=7),
                                    hovertemplate=f"{run_id}<br>λ %{{x:.4g}}<br>density %{{y:.4g}}<extra></extra>"))
        fit = spectra[run_id][1]
        line = power_law_line(drawn[run_id], fit)
        if line is not None:
            figure.add_trace(go.Scatter(x=line[0], y=line[1], mode="lines", name=f"{run_id} α={fit['alpha']:.3g}",
                                        legendgroup=run_id, line=dict(color=run_colour(index), dash="dash")))
    figure.update_xaxes(type="log", title_text="eigenvalue λ", exponentformat="power")
    figure.update_yaxes(type="log", title_text="density", exponentformat="power")
    missing = [run_id for run_id in spectra if run_id not in drawn]
    return styled(figure, title=dict(text=title + _without(missing, "eigenvalues here")), height=440,
                  legend=dict(x=0.99, y=0.99, xanchor="right", yanchor="top"))  # where a falling ESD leaves room


def histogram_overlay(histograms: dict[str, tuple[np.ndarray, np.ndarray] | None], *, title: str) -> go.Figure:
    """Each run's normalised histogram (edges, density) as a step line on its own fixed bins, one colour per run;
    the view spans every run's bulk."""
    drawn = {run_id: pair for run_id, pair in histograms.items() if pair is not None}
    if not drawn:
        return empty(f"{title}: no run has a histogram here")
    figure = go.Figure()
    for index, run_id in enumerate(histograms):
        if run_id in drawn:
            edges, density = drawn[run_id]
            figure.add_trace(_run_line(run_id, index, bin_centres(edges), density, line_shape="hvh",
                                       hovertemplate=f"{run_id}<br>value %{{x:.4g}}<br>density %{{y:.4g}}"
                                                     "<extra></extra>").update(mode="lines"))
    ranges = np.array([bulk_range(edges, density) for edges, density in drawn.values()])
    figure.update_xaxes(title_text="value", range=[ranges[:, 0].min(), ranges[:, 1].max()])
    figure.update_yaxes(title_text="density")
    missing = [run_id for run_id in histograms if run_id not in drawn]
    return styled(figure, title=dict(text=title + _without(missing, "histogram here")), height=380,
                  legend=LEGEND_BELOW)


def alpha_difference_frame(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """second − first alpha, layers (in the first run's order) x epochs both runs analysed; NaN where either
    fit failed."""
    def pivot(table: pd.DataFrame) -> pd.DataFrame:
        return table.pivot(index="layer", columns="epoch", values="alpha").where(lambda alpha: alpha > 0)

    order = [layer for layer in dict.fromkeys(first["layer"]) if layer in set(second["layer"])]
    epochs = sorted(set(first["epoch"]) & set(second["epoch"]))
    return pivot(second).reindex(index=order, columns=epochs) - pivot(first).reindex(index=order, columns=epochs)


def alpha_difference(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str],
                     unit: str = "epoch") -> go.Figure:
    """Epoch x layer heatmap of alpha_difference_frame (run B − run A) in diverging colours centred on 0 with
    a symmetric range; blank where a fit failed. Clicks carry (epoch, layer), as on the Alpha tab."""
    difference = alpha_difference_frame(first, second)
    values = difference.to_numpy(dtype=float)
    reach = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    reach = reach or 1.0  # identical runs: all white, on a range that still has a width
    figure = go.Figure(go.Heatmap(
        z=values, x=list(difference.columns), y=list(difference.index), colorscale=DIFFERENCE_COLOURS,
        zmid=0, zmin=-reach, zmax=reach, xgap=1, ygap=1, colorbar=dict(title="Δ alpha"),
        hovertemplate=f"%{{y}}<br>{unit} %{{x}}<br>alpha {names[1]} − {names[0]}: %{{z:+.3f}}<extra></extra>"))
    figure.update_yaxes(autorange="reversed", type="category")
    epoch_ticks(figure, difference.columns, unit)
    return styled(figure, title=f"alpha of {names[1]} − alpha of {names[0]} (click a cell for its ESDs)",
                  height=max(360, 18 * len(difference.index) + 120))
