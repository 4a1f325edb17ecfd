"""Eigenvalue spectra (ESD) on log-log axes with the fitted power law, and the randomized ESD with its
Marchenko-Pastur bulk edge and correlation traps where the run was randomized."""
from __future__ import annotations

import numpy as np

from figures.style import (
    ACCENT, MARGIN, TEST_COLOUR, TRAIN_COLOUR, Figure, empty, figure, grid, log_ticks, on_panel, panel_suffix,
)

RANDOMIZED_COLOUR = "#8e44ad"  # weightwatcher draws randomized ESDs in orchid
TRAP_COLOUR = "#c0392b"
MIN_FIT_EIGENVALUES = 20  # below this weightwatcher itself calls the fit a small-n fit: too few to trust a line
GRID_COLUMNS = 5
GRID_PANEL_PIXELS = (300, 240)  # width, height of one layer's panel in the grid
GRID_GAP_PIXELS = 70  # between rows of panels: room for a panel's two-line title


def log_density(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(geometric bin centre, normalised density) of each non-empty log-spaced bin."""
    counts, _ = np.histogram(values, bins=edges)
    keep = counts > 0
    return np.sqrt(edges[:-1] * edges[1:])[keep], (counts / (values.size * np.diff(edges)))[keep]


def _randomized_traces(shuffled: np.ndarray, edges: np.ndarray, low: float, high: float,
                       bulk_edge: float | None, conv: bool = False) -> list[dict]:
    """The ESD of the shuffled weights on the ESD's bins, and its largest eigenvalue marked (from the lowest
    density drawn to the highest), as weightwatcher's plot_random_esd does: real eigenvalues beyond it are
    structure a shuffle destroys. With the fitted Marchenko-Pastur `bulk_edge` (plus its Tracy-Widom margin),
    that edge too, and each shuffled eigenvalue above it, a correlation trap, marked along the bottom."""
    x, y = log_density(shuffled, edges)
    bottom, top = float(min(low, y.min())), float(max(high, y.max()))
    traces = [dict(type="scatter", x=x, y=y, mode="markers", name="randomized (shuffled weights)",
                   marker=dict(color=RANDOMIZED_COLOUR, size=8, symbol="diamond-open", line=dict(width=1.5)),
                   hovertemplate="shuffled λ %{x:.4g}<br>density %{y:.4g}<extra></extra>"),
              dict(type="scatter", x=[float(shuffled[-1])] * 2, y=[bottom, top], mode="lines",
                   name=f"largest shuffled λ={shuffled[-1]:.4g}", line=dict(color=RANDOMIZED_COLOUR, dash="dot"))]
    if bulk_edge is None or not np.isfinite(bulk_edge):
        return traces
    spikes = shuffled[shuffled > bulk_edge]
    traces.append(dict(type="scatter", x=[float(bulk_edge)] * 2, y=[bottom, top], mode="lines",
                       name=f"MP bulk edge λ={bulk_edge:.4g}" + ("" if spikes.size else ": no trap"),
                       line=dict(color=TRAP_COLOUR, dash="dashdot", width=2)))
    if spikes.size:
        traces.append(dict(type="scatter", x=spikes, y=[bottom] * spikes.size, mode="markers",
                           name=f"{spikes.size} correlation trap{'s' if spikes.size > 1 else ''}"
                                + (" (a conv's: no health event)" if conv else ""),
                           marker=dict(color=TRAP_COLOUR, size=12, symbol="x-thin", line=dict(width=3)),
                           hovertemplate="trap: shuffled λ %{x:.4g} above the MP bulk edge<extra></extra>"))
    return traces


def _number(value) -> float | None:
    """A table cell as a float; None where it is empty (a layer table read before the column existed)."""
    return None if value is None or value == "" else float(value)


def _fitted(fit: dict) -> bool:
    alpha, xmin, tail = fit.get("alpha"), fit.get("xmin"), fit.get("num_pl_spikes")
    return bool(alpha is not None and alpha > 1 and xmin is not None and xmin > 0 and tail and tail > 0)


def esd_traces(positive: np.ndarray, fit: dict, *, bins: int = 80,
               randomized: np.ndarray | None = None) -> list[dict]:
    """The density of the sorted positive eigenvalues on log-spaced bins, with the randomized ones on the same
    bins (and their MP bulk edge where `fit` holds rand_bulk_edge), and the fitted power law over the tail with
    xmin marked, where there are enough eigenvalues to fit."""
    shuffled = np.sort(randomized[randomized > 0]) if randomized is not None else positive[:0]
    both = np.concatenate([positive, shuffled])
    edges = np.geomspace(both.min(), both.max() * (1 + 1e-9), bins + 1)
    x, density = log_density(positive, edges)
    traces = [dict(type="scatter", x=x, y=density, mode="markers", name="ESD", marker=dict(color=TRAIN_COLOUR, size=7),
                   hovertemplate="λ %{x:.4g}<br>density %{y:.4g}<extra></extra>")]
    low, high = float(density.min()), float(density.max())
    if shuffled.size:
        traces += _randomized_traces(shuffled, edges, low, high, _number(fit.get("rand_bulk_edge")),
                                     conv=fit.get("layer_type") == "conv2d")
    line = power_law_line(positive, fit)
    if line is not None:
        alpha, xmin = fit["alpha"], fit["xmin"]
        traces += [dict(type="scatter", x=line[0], y=line[1], mode="lines", name=f"power law α={alpha:.3g}",
                        line=dict(color=TEST_COLOUR, width=3)),
                   dict(type="scatter", x=[float(xmin)] * 2, y=[low, high], mode="lines", name=f"xmin={xmin:.4g}",
                        line=dict(color=ACCENT, dash="dash"))]
    return traces


def power_law_line(positive: np.ndarray, fit: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The fitted power law from xmin to the largest eigenvalue, on the density scale of the whole ESD (the tail
    holds num_pl_spikes of its values); None where there are too few eigenvalues for a fit worth drawing. Its two
    ends are enough: a power law is a straight line on the log-log axes it is drawn on."""
    if not _fitted(fit) or positive.size < MIN_FIT_EIGENVALUES:
        return None
    alpha, xmin, tail = fit["alpha"], fit["xmin"], fit["num_pl_spikes"]
    x = np.array([xmin, positive[-1]], dtype=float)
    return x, tail / positive.size * (alpha - 1) / xmin * (x / xmin) ** -alpha


def esd(eigenvalues: np.ndarray, fit: dict, *, title: str, bins: int = 80,
        randomized: np.ndarray | None = None) -> Figure:
    """Log-log density of the eigenvalues, with the fitted power law over the tail and xmin marked; with the
    `randomized` (shuffled-weights) eigenvalues, their density over it, both on one set of bins."""
    positive = np.sort(eigenvalues[eigenvalues > 0])
    if positive.size < 2:
        return empty("this layer has fewer than two positive eigenvalues")
    alpha, notes = fit.get("alpha"), []
    if _fitted(fit) and positive.size < MIN_FIT_EIGENVALUES:
        notes.append(dict(text=f"only {positive.size} eigenvalues: too few for a meaningful power-law fit, "
                               "so no line is drawn (alpha below is for reference)",
                          xref="paper", yref="paper", x=0.5, y=1.0, yanchor="bottom", showarrow=False,
                          font=dict(color="#6c757d")))
        subtitle = f"α = {alpha:.3f} from {positive.size} eigenvalues: not meaningful"
    elif _fitted(fit):
        subtitle = (f"α = {alpha:.3f}   D = {fit.get('D', float('nan')):.3f}   "
                    f"tail = {int(fit['num_pl_spikes'])} of {positive.size} eigenvalues")
    else:
        subtitle = f"power-law fit failed · {positive.size} eigenvalues"
    traces = esd_traces(positive, fit, bins=bins, randomized=randomized)
    return figure(traces, annotations=notes,
                  **esd_axes(positive, traces),
                  title=dict(text=f"{title}<br><sup>{subtitle}</sup>"), height=460,
                  legend=dict(x=0.01, y=0.01, xanchor="left", yanchor="bottom"))


def esd_axes(eigenvalues: np.ndarray, traces: list[dict]) -> dict:
    """An ESD's log-log axes (eigenvalue, density), their ticks chosen by the decades the values span."""
    return {"xaxis": dict(type="log", title={"text": "eigenvalue λ"}, **log_ticks(_decades(eigenvalues))),
            "yaxis": dict(type="log", title={"text": "density"}, **log_ticks(_decades(_densities(traces))))}


def _densities(traces: list[dict]) -> list[float]:
    return [y for trace in traces if trace.get("mode") == "markers" for y in trace["y"]]


def _decades(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.log10(values.max() / values.min())) if values.size else 0.0


def _panel_title(layer: str, count: int, fit: dict) -> str:
    if count < 2:
        return f"{layer}<br>no spectrum"
    if not _fitted(fit):
        return f"{layer}<br>fit failed"
    return f"{layer}<br>α = {fit['alpha']:.2f}" + (f" ({count} eigenvalues: too few)" if count < MIN_FIT_EIGENVALUES
                                                   else "")


def esd_grid(panels: list[tuple[str, np.ndarray, dict]], *, title: str, columns: int = GRID_COLUMNS) -> Figure:
    """Every layer's ESD side by side, the compilation of all log-log plots: each panel holds esd()'s own
    traces for (layer, eigenvalues, fit), one look everywhere, with the layer and its alpha above it."""
    rows = -(-len(panels) // columns)
    width, height = columns * GRID_PANEL_PIXELS[0], rows * GRID_PANEL_PIXELS[1] + GRID_GAP_PIXELS + 60
    positives = [np.sort(eigenvalues[eigenvalues > 0]) for _, eigenvalues, _ in panels]
    axes, titles = grid(rows, columns, horizontal_spacing=0.04,
                        vertical_spacing=min(GRID_GAP_PIXELS / height, 1 / max(rows - 1, 1)),
                        titles=[_panel_title(layer, positive.size, fit)
                                for (layer, _, fit), positive in zip(panels, positives)])
    traces = [{**trace, **on_panel(index)} for index, ((_, _, fit), positive) in enumerate(zip(panels, positives))
              if positive.size >= 2 for trace in esd_traces(positive, fit)]
    for note in titles:
        note["font"] = dict(size=12)
    return figure(traces, title={"text": title}, width=width, height=height, showlegend=False, annotations=titles,
                  margin=dict(MARGIN, t=GRID_GAP_PIXELS + 40), **_log_panels(axes, len(panels), columns))


def _log_panels(axes: dict, count: int, columns: int) -> dict:
    """The grid's axes as log axes with few ticks (the panels are small); the axis titles on the left column
    and under the lowest panel of each column; the axes of empty places in the last row hidden."""
    for index in range(len(axes) // 2):
        suffix = panel_suffix(index)
        if index >= count:
            axes[f"xaxis{suffix}"].update(visible=False)
            axes[f"yaxis{suffix}"].update(visible=False)
            continue
        last_row = index + columns >= count
        axes[f"xaxis{suffix}"].update(type="log", nticks=5, tickangle=0, exponentformat="power",
                                      **({"title": {"text": "eigenvalue λ"}} if last_row else {}))
        axes[f"yaxis{suffix}"].update(type="log", nticks=5, exponentformat="power",
                                      **({"title": {"text": "density"}} if index % columns == 0 else {}))
    return axes
