"""Training curves: accuracy, loss and learning rate per epoch."""
from __future__ import annotations

import pandas as pd

from figures.style import (
    ACCENT, TEST_COLOUR, TRAIN_COLOUR, UNDER_TRAINED_COLOUR, Figure, epoch_axis, figure, grid, on_panel,
    panel_suffix,
)


def training_curves(metrics: pd.DataFrame, non_finite_from: int | None = None) -> Figure:
    """Accuracy, loss and learning rate per epoch, train and test side by side; from the epoch whose values
    went NaN/Inf on, a marked band (those points cannot be drawn)."""
    axes, titles = grid(1, 3, horizontal_spacing=0.08, titles=["Accuracy", "Loss", "Learning rate"])
    traces = []
    for column, panel in (("acc", 0), ("loss", 1)):
        for split, colour in (("train", TRAIN_COLOUR), ("test", TEST_COLOUR)):
            name = f"{split}_{column}"
            if name in metrics:  # a user's own metrics.csv may leave columns out
                rows = metrics.dropna(subset=[name])
                traces.append(dict(type="scatter", x=rows["epoch"].to_numpy(), y=rows[name].to_numpy(),
                                   mode="lines+markers", name=split, legendgroup=split, showlegend=panel == 0,
                                   line=dict(color=colour), **on_panel(panel)))
    if "lr" in metrics:
        rows = metrics.dropna(subset=["lr"])
        traces.append(dict(type="scatter", x=rows["epoch"].to_numpy(), y=rows["lr"].to_numpy(), mode="lines+markers",
                           name="lr", line=dict(color=ACCENT), showlegend=False, **on_panel(2)))
    for index in range(3):
        suffix = panel_suffix(index)
        axes[f"xaxis{suffix}"].update(epoch_axis(metrics["epoch"]))
        axes[f"yaxis{suffix}"].update(rangemode="tozero")
    shapes, notes = [], []
    if non_finite_from is not None:
        last = max(int(metrics["epoch"].max()), non_finite_from)
        shapes = [dict(type="rect", x0=non_finite_from - 0.5, x1=last + 0.5, y0=0, y1=1, yref=f"y{suffix} domain",
                       xref=f"x{suffix}", fillcolor=UNDER_TRAINED_COLOUR, opacity=0.12, line=dict(width=0))
                  for suffix in ("", "2", "3")]
        notes = [dict(text=f"NaN/Inf from epoch {non_finite_from}", xref="x2", yref="y2 domain",
                      x=non_finite_from - 0.45, y=0.98, xanchor="left", yanchor="top", showarrow=False,
                      font=dict(color=UNDER_TRAINED_COLOUR))]
    return figure(traces, height=380, legend=dict(orientation="h", y=-0.2), annotations=titles + notes,
                  shapes=shapes, **axes)
