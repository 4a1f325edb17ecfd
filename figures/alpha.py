"""Alpha over epochs and layers: the heatmap by health band, and mean alpha against test accuracy."""
from __future__ import annotations

import numpy as np
import pandas as pd

from spectrascope.health.bands import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE
from figures.depth import kind_order, stack_of
from figures.style import (
    HEALTHY_COLOURS, OVER_TRAINED_COLOUR, TEST_COLOUR, UNDER_TRAINED_COLOUR, Figure, epoch_axis, figure,
)

TRAP_COLOUR = "#212529"
ALPHA_COLOUR_RANGE = (0.0, 10.0)


def alpha_colourscale() -> list:
    """Sharp bands: over-trained yellow, healthy teal (darker with alpha), under-trained red."""
    low, high = ALPHA_COLOUR_RANGE
    over = (OVER_TRAINED_BELOW - low) / (high - low)
    under = (UNDER_TRAINED_ABOVE - low) / (high - low)
    return [[0.0, OVER_TRAINED_COLOUR], [over, OVER_TRAINED_COLOUR], [over, HEALTHY_COLOURS[0]],
            [under, HEALTHY_COLOURS[1]], [under, UNDER_TRAINED_COLOUR], [1.0, UNDER_TRAINED_COLOUR]]


def block_of(layer: str) -> str:
    """The block a layer belongs to: its module path up to its first numbered part (transformer.h.3,
    layer2.1, blocks.11); a layer with no numbered part is a block of its own."""
    parts = layer.split(".")
    numbered = next((i for i, part in enumerate(parts) if part.isdigit()), None)
    return ".".join(parts[: numbered + 1]) if numbered is not None else layer


def block_separators(order: list[str], group_of=block_of) -> list[dict]:
    """A line across the heatmap between consecutive rows of different blocks (rows are categories 0, 1, ...),
    so a 75-layer transformer reads block by block (or by `group_of`'s groups: matrix kinds); none where no
    group holds two layers (an nn.Sequential)."""
    blocks = [group_of(layer) for layer in order]
    if len(set(blocks)) == len(blocks):
        return []
    return [dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=row - 0.5, y1=row - 0.5,
                 line=dict(color="#495057", width=1.5))
            for row in range(1, len(order)) if blocks[row] != blocks[row - 1]]


def alpha_heatmap(layers: pd.DataFrame, unit: str = "epoch", by_kind: bool = False) -> Figure:
    """Epoch (or step) x layer, coloured by alpha band (alphas beyond the colour range take its end colours);
    failed fits and epochs not analysed are left blank, without a hover. Clicks carry (epoch, layer). Each
    cell is one float32: a 75-layer transformer over 200 steps is 15,000 cells. `by_kind`: rows grouped by
    matrix kind (every block's q_proj, then every k_proj, ...) instead of network order."""
    order = list(layers["layer"].unique())
    stacked = stack_of(order) if by_kind else {}
    if stacked:
        order = kind_order(order)

    def group_of(layer: str) -> str:  # the rows a line separates: blocks, or matrix kinds
        return stacked[layer].kind if layer in stacked else block_of(layer)
    alpha = layers.pivot(index="layer", columns="epoch", values="alpha").reindex(order)
    cells = dict(
        type="heatmap", z=alpha.where(alpha > 0).to_numpy(dtype=float), x=list(alpha.columns), y=order,
        colorscale=alpha_colourscale(), zmin=ALPHA_COLOUR_RANGE[0], zmax=ALPHA_COLOUR_RANGE[1], xgap=1, ygap=1,
        colorbar=dict(title={"text": "alpha"}, tickvals=[0, OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE, 10],
                      ticktext=["0", "2", "6", "≥10"]),
        hoverongaps=False, hovertemplate=f"%{{y}}<br>{unit} %{{x}}<br>alpha %{{z:.4f}}<extra></extra>",
    )
    traps = layers[layers["rand_num_spikes"] > 0] if "rand_num_spikes" in layers else layers.iloc[:0]
    return figure([cells] + ([_trap_markers(traps, unit)] if len(traps) else []),
                  height=max(360, 18 * len(order) + 120), title={"text": "alpha per layer (click a cell for its ESD)"},
                  yaxis=dict(autorange="reversed", type="category"),  # layer "0" is a name
                  xaxis=epoch_axis(alpha.columns, unit), shapes=block_separators(order, group_of),
                  legend=dict(orientation="h", x=1, xanchor="right", y=1, yanchor="bottom"))


# a conv's kernel slices differ in scale, which shuffling them together turns into spikes: docs/health.md
CONV_TRAP_NOTE = "<br>(a conv's pooled kernel slices: not a health event unless traps_in_conv is set)"


def _layer_types(table: pd.DataFrame) -> list[str]:
    return list(table["layer_type"]) if "layer_type" in table else [""] * len(table)


def _trap_markers(traps: pd.DataFrame, unit: str) -> dict:
    """An x on each (epoch, layer) whose randomized ESD has spikes out of its Marchenko-Pastur bulk: shuffling
    should leave none, so they flag correlation traps (weightwatcher's rand_num_spikes)."""
    spikes, alpha = traps["rand_num_spikes"].astype(int), traps["alpha"].to_numpy()
    return dict(  # the marker takes the cell's hover: it says the cell's alpha too
        type="scatter", x=traps["epoch"].to_numpy(), y=list(traps["layer"]), mode="markers", name="correlation trap",
        showlegend=True,
        marker=dict(symbol="x-thin", size=9, color=TRAP_COLOUR, line=dict(width=2.5, color=TRAP_COLOUR)),
        customdata=np.where(alpha > 0, np.char.mod("%.4f", alpha), "fit failed"),
        text=[f"correlation trap: {n} spike{'s' * (n != 1)} in the randomized ESD"
              + (CONV_TRAP_NOTE if kind == "conv2d" else "") for n, kind in zip(spikes, _layer_types(traps))],
        hovertemplate=f"%{{y}}<br>{unit} %{{x}}<br>alpha %{{customdata}}<br>%{{text}}<extra></extra>")


def _padded(values, least_span: float = 0.5) -> list[float] | None:
    """A y range at least `least_span` wide: a mean alpha that barely moves (weights only rescaled, say) must
    look flat, not zoomed into rounding noise."""
    if len(values) == 0 or not np.isfinite(values).any():
        return None
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    pad = max((least_span - (high - low)) / 2, 0.1 * (high - low))
    return [low - pad, high + pad]


LEARNING = (("test_acc", "test accuracy"), ("test_loss", "test loss"), ("train_loss", "train loss"))


def learning_curve(metrics: pd.DataFrame) -> tuple[str, str] | None:
    """What mean alpha is drawn against: test accuracy where the run recorded one, else its test loss (a
    language model's), else its training loss; None where the run recorded none (an imported run without logs)."""
    return next(((column, name) for column, name in LEARNING if column in metrics and metrics[column].notna().any()),
                None)


def alpha_summary(layers: pd.DataFrame, metrics: pd.DataFrame, unit: str = "epoch") -> Figure:
    """Mean alpha over the layers with a fit, and how the run learned (learning_curve) on a second axis, per
    epoch (or step)."""
    fitted = layers[layers["alpha"] > 0]
    mean = fitted.groupby("epoch")["alpha"].mean()
    traces = [dict(type="scatter", x=mean.index.to_numpy(), y=mean.to_numpy(dtype=float), mode="lines+markers",
                   name="mean alpha", line=dict(color=HEALTHY_COLOURS[1]))]
    axes = dict(xaxis=epoch_axis(mean.index, unit),
                yaxis=dict(title={"text": "mean alpha"}, range=_padded(mean.to_numpy()), tickformat=".2f"))
    learning = learning_curve(metrics)
    if learning is not None:  # no empty second axis beside a run that recorded nothing
        column, name = learning
        rows = metrics.dropna(subset=[column])
        traces.append(dict(type="scatter", x=rows["epoch"].to_numpy(), y=rows[column].to_numpy(),
                           mode="lines+markers", name=name, line=dict(color=TEST_COLOUR), yaxis="y2"))
        axes["xaxis"]["domain"] = [0, 0.94]  # room on the right for the second axis
        scale = (dict(range=[-0.02, 1.02], tickformat=".0%", tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
                 if column == "test_acc" else dict(rangemode="normal"))  # a loss on its own range, as in Training
        axes["yaxis2"] = dict(title={"text": name}, overlaying="y", side="right", anchor="x", tickmode="auto",
                              showgrid=False, **scale)  # its own round ticks, not ones lined up with alpha's grid
    return figure(traces, height=360, legend=dict(orientation="h", y=-0.25), **axes)

