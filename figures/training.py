"""Training curves: accuracy, loss and learning rate per epoch (or step)."""
from __future__ import annotations

import pandas as pd

from figures.style import (
    ACCENT, TEST_COLOUR, TRAIN_COLOUR, UNDER_TRAINED_COLOUR, Figure, epoch_axis, figure, grid, on_panel,
    panel_suffix,
)


PANELS = (("Accuracy", ("train_acc", "test_acc")), ("Loss", ("train_loss", "test_loss")), ("Learning rate", ("lr",)))


def training_curves(metrics: pd.DataFrame, non_finite_from: int | None = None, unit: str = "epoch") -> Figure:
    """Accuracy, loss and learning rate per epoch (or step), train and test side by side, a panel for each the
    run recorded (a language model's has no accuracy); from the epoch whose values went NaN/Inf on, a marked
    band (those points cannot be drawn)."""
    panels = [(title, [name for name in names if name in metrics and metrics[name].notna().any()])
              for title, names in PANELS]
    panels = [(title, names) for title, names in panels if names] or list(PANELS[:1])
    axes, titles = grid(1, len(panels), horizontal_spacing=0.08, titles=[title for title, _ in panels])
    traces = []
    for panel, (_, names) in enumerate(panels):
        for name in names:
            rows = metrics.dropna(subset=[name])
            split = name.split("_")[0]
            style = (dict(name=split, legendgroup=split, showlegend=split not in {t["name"] for t in traces},
                          line=dict(color=TRAIN_COLOUR if split == "train" else TEST_COLOUR))
                     if name != "lr" else dict(name="lr", line=dict(color=ACCENT), showlegend=False))
            traces.append(dict(type="scatter", x=rows["epoch"].to_numpy(), y=rows[name].to_numpy(),
                               mode="lines+markers", **style, **on_panel(panel)))
    suffixes = [panel_suffix(index) for index in range(len(panels))]
    for suffix, (title, _) in zip(suffixes, panels):
        axes[f"xaxis{suffix}"].update(epoch_axis(metrics["epoch"], unit))
        # accuracy and learning rate from zero; a loss on its own range, or a language model's 6.81 to 6.84
        # draws as a flat line
        axes[f"yaxis{suffix}"].update(rangemode="normal" if title == "Loss" else "tozero")
    shapes, notes = [], []
    if non_finite_from is not None:
        last = max(int(metrics["epoch"].max()), non_finite_from)
        shapes = [dict(type="rect", x0=non_finite_from - 0.5, x1=last + 0.5, y0=0, y1=1, yref=f"y{suffix} domain",
                       xref=f"x{suffix}", fillcolor=UNDER_TRAINED_COLOUR, opacity=0.12, line=dict(width=0))
                  for suffix in suffixes]
        notes = [dict(text=f"NaN/Inf from {unit} {non_finite_from}", xref=f"x{suffixes[-1]}",
                      yref=f"y{suffixes[-1]} domain", x=non_finite_from - 0.45, y=0.98, xanchor="left",
                      yanchor="top", showarrow=False, font=dict(color=UNDER_TRAINED_COLOUR))]
    return figure(traces, height=380, legend=dict(orientation="h", y=-0.2), annotations=titles + notes,
                  shapes=shapes, **axes)
