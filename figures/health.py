"""The Health tab's timeline: every layer a row (in network order, a line between blocks as on the alpha
heatmap), each event a marker at its epoch, and a thin bar over the epochs a state held (over-trained from its
event until back in the band), so which layer left the band when, and for how long, reads at a glance."""
from __future__ import annotations

import pandas as pd

from figures.alpha import TRAP_COLOUR, block_separators
from figures.style import OVER_TRAINED_COLOUR, UNDER_TRAINED_COLOUR, HEALTHY_COLOURS, Figure, epoch_axis, figure
from spectrascope.health.rules import FAMILY_OF, KINDS, RESOLVING

KIND_STYLES = {  # kind -> (colour, marker symbol)
    "over-trained": (OVER_TRAINED_COLOUR, "triangle-down"), "under-trained": (UNDER_TRAINED_COLOUR, "triangle-up"),
    "back-in-band": (HEALTHY_COLOURS[1], "circle-open"), "drift": ("#6f42c1", "diamond"),
    "trap": (TRAP_COLOUR, "x-thin"), "trap-gone": (TRAP_COLOUR, "circle-open"),
    "fit-failed": ("#868e96", "square-open"), "poor-fit": ("#868e96", "square"), "fit-good": ("#868e96", "circle-open"),
    "rank-collapse": ("#fd7e14", "star"), "rank-recovered": ("#fd7e14", "circle-open"),
    "non-finite": ("#7b1e2b", "hexagram"), "finite-again": ("#7b1e2b", "circle-open"),
}
SEVERITY_SIZES = {"info": 8, "warning": 12, "critical": 15}


def _spans(events: pd.DataFrame, shown: set[str], kind: str, last_epoch: int) -> tuple[list, list]:
    """x and y of the bars over the epochs each shown `kind` state held: from its event to the next event of
    its family on that layer (or to the last epoch), segments apart by None."""
    x, y = [], []
    family = events[events["kind"].map(FAMILY_OF) == FAMILY_OF[kind]].sort_values("epoch", kind="stable")
    for layer, rows in family.groupby("layer", sort=False):
        epochs, ids = rows["epoch"].tolist(), rows["event_id"].tolist()
        for i, (epoch, found) in enumerate(zip(epochs, ids)):
            if found in shown:
                end = epochs[i + 1] if i + 1 < len(epochs) else last_epoch
                x += [epoch, end, None]
                y += [layer, layer, None]
    return x, y


def health_timeline(events: pd.DataFrame, layer_order: list[str], epochs: list[int], unit: str = "epoch",
                    every_event: pd.DataFrame | None = None) -> Figure:
    """`events` as events.csv holds them (filtered by the page), on rows `layer_order` over `epochs`; a state's
    bar ends where `every_event` (default: `events`) says it resolved, whether that event is shown or not. A
    click carries the event's layer and epoch."""
    every_event = events if every_event is None else every_event
    last_epoch = max(epochs) if epochs else 0
    traces = []
    for kind in KINDS:
        shown = events[events["kind"] == kind]
        if shown.empty:
            continue
        colour, symbol = KIND_STYLES[kind]
        if kind not in RESOLVING and kind != "drift":  # a state, held until it resolves
            x, y = _spans(every_event, set(shown["event_id"]), kind, last_epoch)
            traces.append(dict(type="scatter", x=x, y=y, mode="lines", line=dict(color=colour, width=4),
                               opacity=0.45, hoverinfo="skip", showlegend=False, legendgroup=kind))
        traces.append(dict(
            type="scatter", x=shown["epoch"].to_numpy(), y=list(shown["layer"]), mode="markers", name=kind,
            legendgroup=kind, customdata=list(zip(shown["severity"], shown["detail"])),
            marker=dict(symbol=symbol, color=colour, size=[SEVERITY_SIZES.get(s, 8) for s in shown["severity"]],
                        line=dict(width=2, color=colour)),
            hovertemplate=f"%{{y}}<br>{unit} %{{x}}<br>{kind} (%{{customdata[0]}})<br>%{{customdata[1]}}"
                          "<extra></extra>"))
    rows = len(layer_order)
    return figure(traces, height=max(320, 18 * rows + 140),
                  title={"text": f"health events per layer and {unit} (click one for its ESD)"},
                  yaxis=dict(type="category", categoryorder="array", categoryarray=layer_order,
                             range=[rows - 0.5, -0.5], title={"text": None}),  # every layer a row, network order
                  xaxis=epoch_axis(epochs, unit, range=[min(epochs, default=0) - 0.5, last_epoch + 0.5]),
                  shapes=block_separators(layer_order), hovermode="closest",
                  legend=dict(orientation="h", x=1, xanchor="right", y=1, yanchor="bottom"))
