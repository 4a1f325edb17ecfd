"""The one look every figure shares (dashboard and exports alike): template, colours, margins, epoch axes,
subplot grids, and the figure that says why there is nothing to show.

Figures are plain data, {"data": [trace dicts], "layout": {...}}, what dcc.Graph and plotly.js take: building
them through plotly.graph_objects validated every property on every call and cost 20-45 ms a figure
(benchmarks/dashboard_latency.py). Property names are plotly's own, nested (`{"title": {"text": ...}}`);
the tests check every builder's output against plotly's schema with go.Figure."""
from __future__ import annotations

import base64
import textwrap

import numpy as np
import plotly.io as pio

Figure = dict
TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
OVER_TRAINED_COLOUR = "#f2c14e"
HEALTHY_COLOURS = ("#a8dadc", "#1d7874")
UNDER_TRAINED_COLOUR = "#d1495b"
TRAIN_COLOUR, TEST_COLOUR, ACCENT = "#457b9d", "#e76f51", "#1d3557"
MESSAGE_WIDTH = 90  # characters per line of a message figure: plotly clips, never wraps, long text
MARGIN = dict(l=60, r=20, t=50, b=50)
LOG_PAD = 0.1  # decades of room around the data on a log axis shared by several figures
SUBPLOT_TITLE_FONT = dict(size=16)


def figure(traces: list[dict], **layout) -> Figure:
    """A figure with the shared template and margins (unless `layout` sets its own) and `layout`."""
    return {"data": list(traces), "layout": {"template": TEMPLATE, "margin": MARGIN, **layout}}


FEW_STEPS = 12  # checkpoints a step axis labels one by one


def epoch_axis(epochs, unit: str = "epoch", **axis) -> dict:
    """An x axis of whole-number epoch ticks, about ten of them; a run numbered by training step (hundreds
    apart) gets plotly's own ticks."""
    if unit == "step":  # a tick at each of a few checkpoints: 10, 20, 30, not 5, 15 on the cells' borders
        steps = sorted(set(int(step) for step in epochs))
        ticks = {"tickmode": "array", "tickvals": steps} if len(steps) <= FEW_STEPS else {}
        return {"title": {"text": "step"}, **ticks, **axis}
    count = len(set(epochs))
    return {"title": {"text": "epoch"}, "tick0": 0, "dtick": max(1, round(count / 10)), **axis}


def grid(rows: int, columns: int, *, horizontal_spacing: float | None = None, vertical_spacing: float | None = None,
         titles: list[str] = ()) -> tuple[dict, list[dict]]:
    """The axes of a rows x columns grid of panels, as plotly's make_subplots lays them out (panel k, counted
    row by row from the top left, draws on axes x{k}/y{k}, the first on x/y), and each panel's title above it.
    Returns (axes for the layout, title annotations)."""
    horizontal_spacing = 0.2 / columns if horizontal_spacing is None else horizontal_spacing
    vertical_spacing = 0.3 / rows if vertical_spacing is None else vertical_spacing
    width = (1 - horizontal_spacing * (columns - 1)) / columns
    height = (1 - vertical_spacing * (rows - 1)) / rows
    axes, annotations = {}, []
    for index in range(rows * columns):
        row, column = divmod(index, columns)
        suffix = panel_suffix(index)
        left, top = column * (width + horizontal_spacing), 1 - row * (height + vertical_spacing)
        axes[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}")
        axes[f"yaxis{suffix}"] = dict(domain=[max(top - height, 0.0), top], anchor=f"x{suffix}")
        if index < len(titles):
            annotations.append(dict(text=titles[index], x=left + width / 2, y=top, xref="paper", yref="paper",
                                    xanchor="center", yanchor="bottom", showarrow=False, font=SUBPLOT_TITLE_FONT))
    return axes, annotations


def panel_suffix(index: int) -> str:
    """How plotly numbers the axes of panel `index` (0-based): x/y, x2/y2, ..."""
    return str(index + 1) if index else ""


def on_panel(index: int) -> dict:
    """What puts a trace on panel `index` (0-based) of a grid."""
    return {"xaxis": f"x{panel_suffix(index)}", "yaxis": f"y{panel_suffix(index)}"}


def packed(spec: Figure) -> Figure:
    """The figure with every float array of its traces as float32 base64 (plotly.js's typed-array form): a
    third of the bytes of decimal text, and nothing to format. For sending; the builders' figures keep NumPy
    arrays, which the exports and tests read."""
    return {**spec, "data": [{key: _packed_value(value) for key, value in trace.items()} for trace in spec["data"]]}


def _packed_value(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return {"dtype": "f4", "bdata": base64.b64encode(np.ascontiguousarray(value, "<f4").tobytes()).decode(),
                **({"shape": ",".join(map(str, value.shape))} if value.ndim > 1 else {})}
    return value


# 1, 2 and 5 times each power of ten, labelled with the whole number: plotly's own "D2" labels them "2", "5"
# within a decade, so 0.05, 0.5 and 5 read alike on an axis spanning less than a few decades
_ONE_TWO_FIVE = [m * 10.0 ** p for p in range(-24, 25) for m in (1, 2, 5)]
ONE_TWO_FIVE_TICKS = {"tickmode": "array", "tickvals": _ONE_TWO_FIVE, "ticktext": [f"{v:g}" for v in _ONE_TWO_FIVE]}


def log_ticks(decades: float) -> dict:
    """1, 2, 5 per decade, as whole numbers, on a log axis spanning a few decades; one label a decade, as powers,
    on one spanning so many that those would overlap (the ESD of a layer about to diverge spans 10 and more)."""
    if decades <= 5:
        return ONE_TWO_FIVE_TICKS
    return {"tickmode": "linear", "tickvals": None, "ticktext": None, "tick0": 0, "dtick": 1 if decades <= 12 else 2,
            "exponentformat": "power"}


def _shared(axis: dict, extent: list[float]) -> dict:
    """An axis given the shared range; ticks of 1, 2, 5 a decade thinned if the range is too wide for them."""
    ticks = log_ticks(extent[1] - extent[0] - 2 * LOG_PAD) if axis.get("tickmode") == "array" else {}
    return {**axis, "range": extent, **ticks}


def share_log_axes(specs: list[Figure]) -> list[Figure]:
    """The figures with every log axis of theirs given one range, that of all their traces' positive values on
    it, so that playing or scrolling through them, motion on screen means change in the data. Figures whose
    axes are not logarithmic (a message) are left as they are."""
    values: dict[str, list] = {}
    for spec in specs:
        for trace in spec["data"]:
            for axis, default in (("xaxis", "x"), ("yaxis", "y")):
                values.setdefault(trace.get(axis, default), []).append(np.asarray(trace[axis[0]], dtype=float))
    ranges = {}
    for axis, arrays in values.items():
        joined = np.concatenate(arrays)
        positive = joined[np.isfinite(joined) & (joined > 0)]
        if positive.size:
            ranges[f"{axis[0]}axis{axis[1:]}"] = [float(np.log10(positive.min())) - LOG_PAD,
                                                  float(np.log10(positive.max())) + LOG_PAD]
    return [{**spec, "layout": {**spec["layout"], **{
        name: _shared(spec["layout"][name], extent) for name, extent in ranges.items()
        if spec["layout"].get(name, {}).get("type") == "log"}}} for spec in specs]


def empty(message: str, width: int = MESSAGE_WIDTH) -> Figure:
    """A blank canvas that says why there is nothing to show (never an empty set of axes); `width` characters
    a line (fewer for a figure in half the page)."""
    lines = textwrap.wrap(message, width, break_long_words=False)
    note = dict(text="<br>".join(lines), showarrow=False, font=dict(size=16, color="#6c757d"),
                xref="paper", yref="paper", x=0.5, y=0.5)
    return figure([], annotations=[note], xaxis=dict(visible=False), yaxis=dict(visible=False), height=320)
