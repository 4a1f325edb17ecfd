"""The one look every figure shares (dashboard and exports alike): template, colours, margins, epoch axes,
and the figure that says why there is nothing to show."""
from __future__ import annotations

import textwrap

import plotly.graph_objects as go
import plotly.io as pio

# The default template is applied without re-validating it; passing template= to every figure costs
# 6-12 ms per figure (measured by benchmarks/dashboard_latency.py).
pio.templates.default = "plotly_white"
OVER_TRAINED_COLOUR = "#f2c14e"
HEALTHY_COLOURS = ("#a8dadc", "#1d7874")
UNDER_TRAINED_COLOUR = "#d1495b"
TRAIN_COLOUR, TEST_COLOUR, ACCENT = "#457b9d", "#e76f51", "#1d3557"
MESSAGE_WIDTH = 90  # characters per line of a message figure: plotly clips, never wraps, long text
MARGIN = dict(l=60, r=20, t=50, b=50)


def styled(figure: go.Figure, **layout) -> go.Figure:
    """The figure with the shared margins (unless `layout` sets its own) and `layout`."""
    return figure.update_layout(**{"margin": MARGIN, **layout})


def epoch_ticks(figure: go.Figure, epochs, unit: str = "epoch", **axis) -> None:
    """Whole-number epoch ticks, about ten of them; a run numbered by training step (hundreds apart) gets
    plotly's own ticks."""
    if unit == "step":
        figure.update_xaxes(title_text="step", **axis)
        return
    count = len(set(epochs))
    figure.update_xaxes(title_text="epoch", tick0=0, dtick=max(1, round(count / 10)), **axis)


def empty(message: str, width: int = MESSAGE_WIDTH) -> go.Figure:
    """A blank canvas that says why there is nothing to show (never an empty set of axes); `width` characters
    a line (fewer for a figure in half the page)."""
    figure = go.Figure()
    lines = textwrap.wrap(message, width, break_long_words=False)
    figure.add_annotation(text="<br>".join(lines), showarrow=False, font=dict(size=16, color="#6c757d"),
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return styled(figure, height=320)

