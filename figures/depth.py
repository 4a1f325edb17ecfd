"""Alpha by depth, as LLM papers draw it: for a model of repeated blocks (transformer layers), the block index
on x and one line per matrix kind (q, k, v, o, gate, up, down, ...), at one checkpoint. The blocks and kinds
are read from the module names, not from a list of model families: the stack is the numbered module path
with the most blocks (`model.layers.N`, `transformer.h.N`, `blocks.N`), a kind is what follows the number."""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from plotly.colors import qualitative

from figures.style import Figure, empty, figure

MIN_BLOCKS = 3  # fewer repeats are no depth to draw (ResNet's stages hold two blocks each)


class Stacked(NamedTuple):
    block: int
    kind: str


def _numbered(layer: str) -> tuple[str, int, str] | None:
    """(the path before its first numbered part, that number, what follows) or None."""
    parts = layer.split(".")
    at = next((i for i, part in enumerate(parts) if part.isdigit()), None)
    if at is None or at == len(parts) - 1:
        return None
    return ".".join(parts[:at]), int(parts[at]), ".".join(parts[at + 1:])


def stack_of(layers: list[str]) -> dict[str, Stacked]:
    """layer -> (block, kind) for the layers of the model's repeated stack; empty where it has none of at least
    MIN_BLOCKS blocks."""
    found = {layer: numbered for layer in layers if (numbered := _numbered(layer))}
    blocks: dict[str, set[int]] = {}
    for prefix, block, _ in found.values():
        blocks.setdefault(prefix, set()).add(block)
    if not blocks:
        return {}
    stack = max(blocks, key=lambda prefix: len(blocks[prefix]))
    if len(blocks[stack]) < MIN_BLOCKS:
        return {}
    return {layer: Stacked(block, kind) for layer, (prefix, block, kind) in found.items() if prefix == stack}


def kind_order(layers: list[str]) -> list[str]:
    """The layers grouped by matrix kind (each kind's blocks in order), the rest after them in network order:
    the heatmap's rows for reading one kind down the depth."""
    stacked = stack_of(layers)
    kinds = list(dict.fromkeys(place.kind for place in stacked.values()))
    grouped = sorted(stacked, key=lambda layer: (kinds.index(stacked[layer].kind), stacked[layer].block))
    return grouped + [layer for layer in layers if layer not in stacked]


def alpha_by_depth(layers: pd.DataFrame, epoch: int, unit: str = "epoch") -> Figure:
    """alpha against block index at `epoch`, a line per matrix kind, the healthy band shaded; why not, where the
    model has no repeated stack."""
    stacked = stack_of(list(layers["layer"].unique()))
    if not stacked:
        return empty(f"Alpha by depth needs a model of at least {MIN_BLOCKS} repeated blocks (transformer layers); "
                     "this one has none")
    rows = layers[(layers["epoch"] == epoch) & layers["layer"].isin(stacked.keys()) & (layers["alpha"] > 0)]
    placed = rows.assign(block=[stacked[layer].block for layer in rows["layer"]],
                         kind=[stacked[layer].kind for layer in rows["layer"]]).sort_values("block")
    colours = qualitative.D3 + qualitative.Set2
    traces = []
    for index, kind in enumerate(dict.fromkeys(place.kind for place in stacked.values())):
        line = placed[placed["kind"] == kind]
        traces.append(dict(type="scatter", x=line["block"].to_numpy(), y=line["alpha"].to_numpy(), name=kind,
                           mode="lines+markers", line=dict(color=colours[index % len(colours)]),
                           customdata=line["layer"].to_numpy(),
                           hovertemplate="%{customdata}<br>alpha %{y:.3f}<extra></extra>"))
    band = dict(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=2, y1=6, fillcolor="#2a9d8f", opacity=0.08,
                line=dict(width=0), layer="below")
    return figure(traces, title={"text": f"alpha by depth at {unit} {epoch} (shaded: the healthy band 2–6)"},
                  height=420, shapes=[band], legend=dict(title={"text": "matrix"}),
                  xaxis=dict(title={"text": "block"}, dtick=1 if len(set(placed["block"])) <= 24 else None),
                  yaxis=dict(title={"text": "alpha"}))
