"""Training curves: accuracy, loss and learning rate per epoch."""
from __future__ import annotations

import plotly.graph_objects as go
import pandas as pd
from plotly.subplots import make_subplots

from figures.style import ACCENT, TEST_COLOUR, TRAIN_COLOUR, UNDER_TRAINED_COLOUR, epoch_ticks, styled


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
    epoch_ticks(figure, metrics["epoch"])
    figure.update_yaxes(rangemode="tozero")
    if non_finite_from is not None:
        last = max(int(metrics["epoch"].max()), non_finite_from)
        for panel in (1, 2, 3):
            figure.add_vrect(x0=non_finite_from - 0.5, x1=last + 0.5, fillcolor=UNDER_TRAINED_COLOUR, opacity=0.12,
                             line_width=0, row=1, col=panel)
        figure.add_annotation(text=f"NaN/Inf from epoch {non_finite_from}", xref="x2", yref="y2 domain",
                              x=non_finite_from - 0.45, y=0.98, xanchor="left", yanchor="top", showarrow=False,
                              font=dict(color=UNDER_TRAINED_COLOUR))
    return styled(figure, height=380, legend=dict(orientation="h", y=-0.2))

