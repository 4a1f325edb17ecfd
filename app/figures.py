"""Pure figure builders: tables and arrays in, plotly figures out. No file access, no Dash."""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from analysis.metrics import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE

# The default template is applied without re-validating it; passing template= to every figure costs
# 6-12 ms per figure (measured by benchmarks/dashboard_latency.py).
pio.templates.default = "plotly_white"
OVER_TRAINED_COLOUR = "#f2c14e"
HEALTHY_COLOURS = ("#a8dadc", "#1d7874")
UNDER_TRAINED_COLOUR = "#d1495b"
TRAIN_COLOUR, TEST_COLOUR, ACCENT = "#457b9d", "#e76f51", "#1d3557"
RANDOMIZED_COLOUR = "#8e44ad"  # weightwatcher draws randomized ESDs in orchid
TRAP_COLOUR = "#212529"
ALPHA_COLOUR_RANGE = (0.0, 10.0)
MAX_RIDGES = 60
RIDGE_ROW_PIXELS = 32  # each epoch's ridge this tall: shape changes stay visible; a long run scrolls
MIN_FIT_EIGENVALUES = 20  # below this weightwatcher itself calls the fit a small-n fit: too few to trust a line
MESSAGE_WIDTH = 90  # characters per line of a message figure: plotly clips, never wraps, long text
_MARGIN = dict(l=60, r=20, t=50, b=50)


def _layout(figure: go.Figure, **layout) -> go.Figure:
    figure.update_layout(margin=_MARGIN, **layout)
    return figure


def _epoch_ticks(figure: go.Figure, epochs, **axis) -> None:
    """Whole-number epoch ticks, about ten of them."""
    count = len(set(epochs))
    figure.update_xaxes(title_text="epoch", tick0=0, dtick=max(1, round(count / 10)), **axis)


def empty(message: str) -> go.Figure:
    """A blank canvas that says why there is nothing to show (never an empty set of axes)."""
    figure = go.Figure()
    lines = textwrap.wrap(message, MESSAGE_WIDTH, break_long_words=False)
    figure.add_annotation(text="<br>".join(lines), showarrow=False, font=dict(size=16, color="#6c757d"),
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, height=320)


# --- Training ------------------------------------------------------------------------------------


def training_curves(metrics: pd.DataFrame, non_finite_from: int | None = None) -> go.Figure:
    """Accuracy, loss and learning rate per epoch, train and test side by side; from the epoch whose values
    went NaN/Inf on, a marked band (those points cannot be drawn)."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=("Accuracy", "Loss", "Learning rate"),
                           horizontal_spacing=0.08)
    for column, panel in (("acc", 1), ("loss", 2)):
        for split, colour in (("train", TRAIN_COLOUR), ("test", TEST_COLOUR)):
            name = f"{split}_{column}"
            if name in metrics:  # a user's own metrics.csv may leave columns out
                rows = metrics.dropna(subset=[name])
                figure.add_trace(go.Scatter(x=rows["epoch"], y=rows[name], mode="lines+markers", name=split,
                                            legendgroup=split, showlegend=panel == 1, line=dict(color=colour)),
                                 row=1, col=panel)
    if "lr" in metrics:
        rows = metrics.dropna(subset=["lr"])
        figure.add_trace(go.Scatter(x=rows["epoch"], y=rows["lr"], mode="lines+markers", name="lr",
                                    line=dict(color=ACCENT), showlegend=False), row=1, col=3)
    _epoch_ticks(figure, metrics["epoch"])
    figure.update_yaxes(rangemode="tozero")
    if non_finite_from is not None:
        last = max(int(metrics["epoch"].max()), non_finite_from)
        for panel in (1, 2, 3):
            figure.add_vrect(x0=non_finite_from - 0.5, x1=last + 0.5, fillcolor=UNDER_TRAINED_COLOUR, opacity=0.12,
                             line_width=0, row=1, col=panel)
        figure.add_annotation(text=f"NaN/Inf from epoch {non_finite_from}", xref="x2", yref="y2 domain",
                              x=non_finite_from - 0.45, y=0.98, xanchor="left", yanchor="top", showarrow=False,
                              font=dict(color=UNDER_TRAINED_COLOUR))
    return _layout(figure, height=380, legend=dict(orientation="h", y=-0.2))


# --- Weights & biases ----------------------------------------------------------------------------


def _centres(edges: np.ndarray) -> np.ndarray:
    return (edges[:-1] + edges[1:]) / 2


def bulk_range(edges: np.ndarray, densities: np.ndarray, tails: float = 0.001) -> list[float]:
    """The value range holding all but `tails` of the mass at each end, over every epoch, padded 5%: a few
    outliers on fixed bins must not shrink the bulk to a sliver (zoom out to see them)."""
    mass = (np.atleast_2d(densities) * np.diff(edges)).sum(axis=0)
    if mass.sum() <= 0:
        return [float(edges[0]), float(edges[-1])]
    cumulative = np.cumsum(mass) / mass.sum()
    low = edges[np.searchsorted(cumulative, tails)]
    high = edges[min(np.searchsorted(cumulative, 1 - tails) + 1, len(edges) - 1)]
    pad = 0.05 * (high - low)
    return [float(max(edges[0], low - pad)), float(min(edges[-1], high + pad))]


def _log_range(values: np.ndarray) -> list[float]:
    """A log axis from half a decade below the smallest non-empty bin to above the largest, so every
    non-empty bin shows as a bar, not a stub under the axis."""
    shown = values[values > 0]
    low, high = (shown.min(), shown.max()) if shown.size else (1.0, 1.0)
    return [float(np.log10(low)) - 0.5, float(np.log10(high)) + 0.2]


def histogram(edges: np.ndarray, density: np.ndarray, *, title: str, log_y: bool = False,
              x_range: list[float] | None = None) -> go.Figure:
    """One epoch's normalised histogram, bars on the tensor's fixed bins, shown over `x_range` (the whole
    run's bulk_range, so playing over epochs keeps one view); on a log axis, empty bins are left out and
    ticks fall on whole decades."""
    heights = np.where(density > 0, density, np.nan) if log_y else density
    figure = go.Figure(go.Bar(x=_centres(edges), y=heights, width=np.diff(edges), marker_color=TRAIN_COLOUR,
                              marker_line_width=0, hovertemplate="value %{x:.4g}<br>density %{y:.4g}<extra></extra>"))
    if log_y:
        figure.update_yaxes(type="log", range=_log_range(density), dtick=1, exponentformat="power",
                            title_text="density (log)")
    else:
        figure.update_yaxes(title_text="density")
    figure.update_xaxes(title_text="value", range=x_range or [float(edges[0]), float(edges[-1])])
    return _layout(figure, title=title, height=380, bargap=0)


def ridge(edges: np.ndarray, densities: np.ndarray, epochs: list[int], *, current: int | None,
          title: str, log_y: bool = False) -> go.Figure:
    """All epochs offset one above another, oldest at the top, like TensorBoard's offset view; a long
    run shows MAX_RIDGES of them, evenly spaced, and the current one."""
    if len(epochs) > MAX_RIDGES:
        rows = set(np.linspace(0, len(epochs) - 1, MAX_RIDGES).round().astype(int))
        rows = sorted(rows | ({epochs.index(current)} if current in epochs else set()))
        epochs, densities = [epochs[row] for row in rows], densities[rows]
    values = np.log10(np.maximum(densities, densities[densities > 0].min(initial=1.0) / 10)) if log_y else densities
    values = values - values.min(axis=1, keepdims=True)
    height = values / max(values.max(), 1e-12) * 3  # a ridge may rise over three rows
    centres = _centres(edges)
    x = np.concatenate([centres, centres[[-1, 0]]]).astype(np.float32)  # the curve, then back along its base
    figure = go.Figure()
    for row, epoch in enumerate(epochs):
        offset = len(epochs) - 1 - row
        highlight = epoch == current
        shade = f"rgba(69,123,157,{0.15 + 0.5 * row / max(len(epochs), 1):.2f})"
        figure.add_trace(go.Scatter(
            x=x, y=np.concatenate([offset + height[row], [offset, offset]]).astype(np.float32),
            fill="toself", mode="lines", name=f"epoch {epoch}", hoveron="fills", hoverinfo="name",
            line=dict(width=1.5 if highlight else 0.6, color=TEST_COLOUR if highlight else ACCENT),
            fillcolor="rgba(231,111,81,0.55)" if highlight else shade,
        ))
    ticks = list(range(0, len(epochs), max(1, len(epochs) // 10)))
    figure.update_yaxes(tickvals=[len(epochs) - 1 - i for i in ticks], ticktext=[str(epochs[i]) for i in ticks],
                        title_text="epoch", showgrid=False)
    figure.update_xaxes(title_text="value", range=bulk_range(edges, densities))
    return _layout(figure, title=title, height=RIDGE_ROW_PIXELS * len(epochs) + 160, showlegend=False)


# --- ESD -----------------------------------------------------------------------------------------


def _log_density(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(geometric bin centre, normalised density) of each non-empty log-spaced bin."""
    counts, _ = np.histogram(values, bins=edges)
    keep = counts > 0
    return np.sqrt(edges[:-1] * edges[1:])[keep], (counts / (values.size * np.diff(edges)))[keep]


def _randomized_traces(figure: go.Figure, shuffled: np.ndarray, edges: np.ndarray, low: float, high: float) -> None:
    """The ESD of the shuffled weights on the ESD's bins, and its largest eigenvalue marked (from the lowest
    density drawn to the highest), as weightwatcher's plot_random_esd does: real eigenvalues beyond it are
    structure a shuffle destroys."""
    x, y = _log_density(shuffled, edges)
    figure.add_trace(go.Scatter(
        x=x, y=y, mode="markers", name="randomized (shuffled weights)",
        marker=dict(color=RANDOMIZED_COLOUR, size=8, symbol="diamond-open", line=dict(width=1.5)),
        hovertemplate="shuffled λ %{x:.4g}<br>density %{y:.4g}<extra></extra>"))
    figure.add_trace(go.Scatter(x=[shuffled[-1]] * 2, y=[min(low, y.min()), max(high, y.max())], mode="lines",
                                name=f"largest shuffled λ={shuffled[-1]:.4g}",
                                line=dict(color=RANDOMIZED_COLOUR, dash="dot")))


def esd(eigenvalues: np.ndarray, fit: dict, *, title: str, bins: int = 80,
        randomized: np.ndarray | None = None) -> go.Figure:
    """Log-log density of the eigenvalues, with the fitted power law over the tail and xmin marked; with the
    `randomized` (shuffled-weights) eigenvalues, their density over it, both on one set of bins."""
    positive = np.sort(eigenvalues[eigenvalues > 0])
    if positive.size < 2:
        return empty("this layer has fewer than two positive eigenvalues")
    shuffled = np.sort(randomized[randomized > 0]) if randomized is not None else positive[:0]
    both = np.concatenate([positive, shuffled])
    edges = np.geomspace(both.min(), both.max() * (1 + 1e-9), bins + 1)
    x, density = _log_density(positive, edges)
    figure = go.Figure(go.Scatter(
        x=x, y=density, mode="markers", name="ESD",
        marker=dict(color=TRAIN_COLOUR, size=7), hovertemplate="λ %{x:.4g}<br>density %{y:.4g}<extra></extra>"))
    low, high = density.min(), density.max()
    if shuffled.size:
        _randomized_traces(figure, shuffled, edges, low, high)
    alpha, xmin, tail = fit.get("alpha"), fit.get("xmin"), fit.get("num_pl_spikes")
    fitted = alpha is not None and alpha > 1 and xmin is not None and xmin > 0 and tail and tail > 0
    if fitted and positive.size < MIN_FIT_EIGENVALUES:
        figure.add_annotation(text=f"only {positive.size} eigenvalues: too few for a meaningful power-law fit, "
                                   "so no line is drawn (alpha below is for reference)",
                              xref="paper", yref="paper", x=0.5, y=1.0, yanchor="bottom", showarrow=False,
                              font=dict(color="#6c757d"))
        subtitle = f"α = {alpha:.3f} from {positive.size} eigenvalues: not meaningful"
    elif fitted:
        x = np.geomspace(xmin, positive[-1], 40)
        y = tail / positive.size * (alpha - 1) / xmin * (x / xmin) ** -alpha
        figure.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"power law α={alpha:.3g}",
                                    line=dict(color=TEST_COLOUR, width=3)))
        figure.add_trace(go.Scatter(x=[xmin, xmin], y=[low, high], mode="lines", name=f"xmin={xmin:.4g}",
                                    line=dict(color=ACCENT, dash="dash")))
        subtitle = (f"α = {alpha:.3f}   D = {fit.get('D', float('nan')):.3f}   "
                    f"tail = {int(tail)} of {positive.size} eigenvalues")
    else:
        subtitle = f"power-law fit failed · {positive.size} eigenvalues"
    figure.update_xaxes(type="log", title_text="eigenvalue λ", dtick="D2")  # 1, 2, 5 per decade: readable
    figure.update_yaxes(type="log", title_text="density", dtick="D2")
    return _layout(figure, title=dict(text=f"{title}<br><sup>{subtitle}</sup>"), height=460,
                   legend=dict(x=0.01, y=0.01, xanchor="left", yanchor="bottom"))


# --- Alpha ---------------------------------------------------------------------------------------


def alpha_colourscale() -> list:
    """Sharp bands: over-trained yellow, healthy teal (darker with alpha), under-trained red."""
    low, high = ALPHA_COLOUR_RANGE
    over = (OVER_TRAINED_BELOW - low) / (high - low)
    under = (UNDER_TRAINED_ABOVE - low) / (high - low)
    return [[0.0, OVER_TRAINED_COLOUR], [over, OVER_TRAINED_COLOUR], [over, HEALTHY_COLOURS[0]],
            [under, HEALTHY_COLOURS[1]], [under, UNDER_TRAINED_COLOUR], [1.0, UNDER_TRAINED_COLOUR]]


def alpha_heatmap(layers: pd.DataFrame) -> go.Figure:
    """Epoch x layer, coloured by alpha band; failed fits are left blank. Clicks carry (epoch, layer)."""
    order = list(dict.fromkeys(layers["layer"]))
    alpha = layers.pivot(index="layer", columns="epoch", values="alpha").reindex(order)
    warning = layers.pivot(index="layer", columns="epoch", values="warning").reindex(order).fillna("")
    shown = alpha.where(alpha > 0)
    value = alpha.to_numpy()
    text = np.where(np.isnan(value), "not analysed", np.where(value > 0, np.char.mod("%.4f", value), "fit failed"))
    hover = np.dstack([text, warning.to_numpy()])
    figure = go.Figure(go.Heatmap(
        z=shown.clip(*ALPHA_COLOUR_RANGE).to_numpy(), x=list(alpha.columns), y=order, customdata=hover,
        colorscale=alpha_colourscale(), zmin=ALPHA_COLOUR_RANGE[0], zmax=ALPHA_COLOUR_RANGE[1], xgap=1, ygap=1,
        colorbar=dict(title="alpha", tickvals=[0, OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE, 10],
                      ticktext=["0", "2", "6", "≥10"]),
        hovertemplate="%{y}<br>epoch %{x}<br>alpha %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
    ))
    traps = layers[layers["rand_num_spikes"] > 0] if "rand_num_spikes" in layers else layers.iloc[:0]
    if len(traps):
        figure.add_trace(_trap_markers(traps))
    figure.update_yaxes(autorange="reversed", title_text=None, type="category")  # layer "0" is a name
    _epoch_ticks(figure, alpha.columns)
    return _layout(figure, height=max(360, 18 * len(order) + 120), title="alpha per layer (click a cell for its ESD)",
                   legend=dict(orientation="h", x=1, xanchor="right", y=1, yanchor="bottom"))


def _trap_markers(traps: pd.DataFrame) -> go.Scatter:
    """An x on each (epoch, layer) whose randomized ESD has spikes out of its Marchenko-Pastur bulk: shuffling
    should leave none, so they flag correlation traps (weightwatcher's rand_num_spikes)."""
    spikes, alpha = traps["rand_num_spikes"].astype(int), traps["alpha"].to_numpy()
    return go.Scatter(  # the marker takes the cell's hover: it says the cell's alpha too
        x=traps["epoch"], y=traps["layer"], mode="markers", name="correlation trap", showlegend=True,
        marker=dict(symbol="x-thin", size=9, color=TRAP_COLOUR, line=dict(width=2.5, color=TRAP_COLOUR)),
        customdata=np.where(alpha > 0, np.char.mod("%.4f", alpha), "fit failed"),
        text=[f"correlation trap: {n} spike{'s' * (n != 1)} in the randomized ESD" for n in spikes],
        hovertemplate="%{y}<br>epoch %{x}<br>alpha %{customdata}<br>%{text}<extra></extra>")


def alpha_summary(layers: pd.DataFrame, metrics: pd.DataFrame) -> go.Figure:
    """Mean alpha over the layers with a fit, and test accuracy, per epoch."""
    fitted = layers[layers["alpha"] > 0]
    mean = fitted.groupby("epoch")["alpha"].mean()
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Scatter(x=mean.index, y=mean.to_numpy(), mode="lines+markers", name="mean alpha",
                                line=dict(color=HEALTHY_COLOURS[1])), secondary_y=False)
    if "test_acc" in metrics:
        rows = metrics.dropna(subset=["test_acc"])
        figure.add_trace(go.Scatter(x=rows["epoch"], y=rows["test_acc"], mode="lines+markers", name="test accuracy",
                                    line=dict(color=TEST_COLOUR)), secondary_y=True)
    figure.update_yaxes(title_text="mean alpha", secondary_y=False)
    figure.update_yaxes(title_text="test accuracy", secondary_y=True, range=[-0.02, 1.02], tickformat=".0%",
                        tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    _epoch_ticks(figure, mean.index)
    return _layout(figure, height=360, legend=dict(orientation="h", y=-0.25))


def warm_up() -> None:
    """Draw every kind of figure once on made-up data: plotly loads the validators of each trace and
    layout property on first use (a user's first figure would otherwise take twice as long)."""
    metrics = pd.DataFrame({"epoch": [0, 1], "train_loss": [np.nan, 1.0], "train_acc": [np.nan, 0.5],
                            "test_loss": [2.0, 1.0], "test_acc": [0.1, 0.5], "lr": [np.nan, 0.1]})
    layers = pd.DataFrame({"epoch": [0, 1], "layer": ["fc", "fc"], "alpha": [3.0, 4.0], "warning": ["", ""],
                           "rand_num_spikes": [0, 1]})
    edges, densities = np.linspace(-1, 1, 5), np.ones((2, 4))
    drawn = (training_curves(metrics), histogram(edges, densities[0], title=""),
             ridge(edges, densities, [0, 1], current=1, title=""),
             esd(np.geomspace(1, 10, 20), {"alpha": 2.0, "xmin": 2.0, "num_pl_spikes": 10, "D": 0.1}, title="",
                 randomized=np.geomspace(1, 5, 20)),
             alpha_heatmap(layers), alpha_summary(layers, metrics), empty(""))
    for figure in drawn:
        figure.to_json()
