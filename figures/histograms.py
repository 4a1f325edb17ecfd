"""Weight and bias histograms: one epoch on the run's fixed bins, or all epochs offset (ridge)."""
from __future__ import annotations

import numpy as np

from figures.style import ACCENT, TEST_COLOUR, TRAIN_COLOUR, Figure, figure

MAX_RIDGES = 60
RIDGE_ROW_PIXELS = 32  # each epoch's ridge this tall: shape changes stay visible; a long run scrolls


def bin_centres(edges: np.ndarray) -> np.ndarray:
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


def value_axis(edges: np.ndarray, shown: list[float]) -> dict:
    """The value axis over `shown`; where that leaves out the tails of the bins, the title says so, or the
    statistics table's min and max would seem to contradict the plot."""
    clipped = shown[0] > edges[0] or shown[1] < edges[-1]
    title = "value (the bulk: the outermost 0.1% each side are off the axis; double-click to see them)" if clipped \
        else "value"
    return dict(title={"text": title}, range=shown)


def _log_range(values: np.ndarray) -> list[float]:
    """A log axis from half a decade below the smallest non-empty bin to above the largest, so every
    non-empty bin shows as a bar, not a stub under the axis."""
    shown = values[values > 0]
    low, high = (shown.min(), shown.max()) if shown.size else (1.0, 1.0)
    return [float(np.log10(low)) - 0.5, float(np.log10(high)) + 0.2]


def histogram(edges: np.ndarray, density: np.ndarray, *, title: str, log_y: bool = False,
              x_range: list[float] | None = None, y_over: np.ndarray | None = None) -> Figure:
    """One epoch's normalised histogram, bars on the tensor's fixed bins, shown over `x_range` (the whole
    run's bulk_range) and up to the largest of `y_over` (every epoch's densities), so playing over epochs
    keeps one view; on a log axis, empty bins are left out and ticks fall on whole decades."""
    y_over = density if y_over is None else y_over
    heights = np.where(density > 0, density, np.nan) if log_y else density
    bars = dict(type="bar", x=bin_centres(edges), y=np.asarray(heights, dtype=float), width=np.diff(edges),
                marker=dict(color=TRAIN_COLOUR, line=dict(width=0)),
                hovertemplate="value %{x:.4g}<br>density %{y:.4g}<extra></extra>")
    if log_y:
        y_axis = dict(type="log", range=_log_range(y_over), dtick=1, exponentformat="power",
                      title={"text": "density (log)"})
    else:
        y_axis = dict(title={"text": "density"}, range=[0.0, float(np.max(y_over)) * 1.05 or 1.0])
    x_axis = value_axis(edges, x_range or [float(edges[0]), float(edges[-1])])
    return figure([bars], title={"text": title}, height=380, bargap=0, xaxis=x_axis, yaxis=y_axis)


def _ridge_rows(epochs: list[int], current: int | None) -> list[int]:
    """The places in `epochs` a ridge shows: every epoch, or in a long run MAX_RIDGES evenly spaced and the
    current one."""
    if len(epochs) <= MAX_RIDGES:
        return list(range(len(epochs)))
    rows = set(np.linspace(0, len(epochs) - 1, MAX_RIDGES).round().astype(int))
    return sorted(rows | ({epochs.index(current)} if current in epochs else set()))


def ridge_styles(shown: list[int], current: int | None) -> list[dict]:
    """Each shown epoch's line and fill: darker down the ridge, the current epoch highlighted."""
    return [dict(line=dict(width=1.5, color=TEST_COLOUR), fillcolor="rgba(231,111,81,0.55)") if epoch == current
            else dict(line=dict(width=0.6, color=ACCENT),
                      fillcolor=f"rgba(69,123,157,{0.15 + 0.5 * row / max(len(shown), 1):.2f})")
            for row, epoch in enumerate(shown)]


def ridge(edges: np.ndarray, densities: np.ndarray, epochs: list[int], *, current: int | None,
          title: str, log_y: bool = False, unit: str = "epoch") -> Figure:
    """All epochs offset one above another, oldest at the top, like TensorBoard's offset view; a long
    run shows MAX_RIDGES of them, evenly spaced, and the current one."""
    rows = _ridge_rows(epochs, current)
    epochs, densities = [epochs[row] for row in rows], densities[rows]
    values = np.log10(np.maximum(densities, densities[densities > 0].min(initial=1.0) / 10)) if log_y else densities
    values = values - values.min(axis=1, keepdims=True)
    height = values / max(values.max(), 1e-12) * 3  # a ridge may rise over three rows
    centres = bin_centres(edges)
    x = np.concatenate([centres, centres[[-1, 0]]]).astype(np.float32)  # the curve, then back along its base
    traces = []
    for row, (epoch, style) in enumerate(zip(epochs, ridge_styles(epochs, current))):
        offset = len(epochs) - 1 - row
        traces.append(dict(
            type="scatter", x=x, y=np.concatenate([offset + height[row], [offset, offset]]).astype(np.float32),
            fill="toself", mode="lines", name=f"{unit} {epoch}", hoveron="fills", hoverinfo="name", **style))
    ticks = list(range(0, len(epochs), max(1, len(epochs) // 10)))
    y_axis = dict(tickvals=[len(epochs) - 1 - i for i in ticks], ticktext=[str(epochs[i]) for i in ticks],
                  title={"text": unit}, showgrid=False)
    x_axis = value_axis(edges, bulk_range(edges, densities))
    return figure(traces, title={"text": title}, height=RIDGE_ROW_PIXELS * len(epochs) + 160, showlegend=False,
                  xaxis=x_axis, yaxis=y_axis)
