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
VALUE_HOVER = {  # kind -> its value (customdata[1]) and threshold ([2]) in words: shorter than each event's detail,
    # which a long run would send thousands of times (the table below the timeline has the detail)
    "over-trained": "alpha %{customdata[1]} < %{customdata[2]}",
    "under-trained": "alpha %{customdata[1]} > %{customdata[2]}",
    "back-in-band": "alpha %{customdata[1]}", "drift": "alpha moved %{customdata[1]} (allowed ±%{customdata[2]})",
    "trap": "%{customdata[1]} shuffled eigenvalue(s) above the MP edge", "trap-gone": "no trap",
    "fit-failed": "no power law fitted", "poor-fit": "D %{customdata[1]} > %{customdata[2]}",
    "fit-good": "D %{customdata[1]}", "rank-collapse": "stable rank %{customdata[1]} < %{customdata[2]}",
    "rank-recovered": "stable rank %{customdata[1]}", "non-finite": "%{customdata[1]} NaN/Inf values",
    "finite-again": "finite again",
}


def _short(value: float) -> float:
    return float(f"{value:.3g}")


def _spans(events: pd.DataFrame, shown: set[str], kind: str, last_epoch: int, row_of: dict[str, int]
           ) -> tuple[list, list]:
    """x and y (the layer's row number) of the bars over the epochs each shown `kind` state held: from its
    event to the next event of its family on that layer (or to the last epoch), segments apart by None."""
    x, y = [], []
    family = events[events["kind"].map(FAMILY_OF) == FAMILY_OF[kind]].sort_values("epoch", kind="stable")
    for layer, rows in family.groupby("layer", sort=False):
        epochs, ids, row = rows["epoch"].tolist(), rows["event_id"].tolist(), row_of.get(layer)
        for i, (epoch, found) in enumerate(zip(epochs, ids)):
            if found in shown:
                end = epochs[i + 1] if i + 1 < len(epochs) else last_epoch
                x += [epoch, end, None]
                y += [row, row, None]
    return x, y


def health_timeline(events: pd.DataFrame, layer_order: list[str], epochs: list[int], unit: str = "epoch",
                    every_event: pd.DataFrame | None = None) -> Figure:
    """`events` as events.csv holds them (filtered by the page), on rows `layer_order` over `epochs`; a state's
    bar ends where `every_event` (default: `events`) says it resolved, whether that event is shown or not. A
    click carries the event's epoch (x) and layer (customdata[0]). Rows are numbers labelled with the layer
    names, not categories: a run with thousands of events would send each long name once per point."""
    every_event = events if every_event is None else every_event
    last_epoch = max(epochs) if epochs else 0
    row_of = {layer: row for row, layer in enumerate(layer_order)}
    traces = []
    for kind in KINDS:
        shown = events[events["kind"] == kind]
        if shown.empty:
            continue
        colour, symbol = KIND_STYLES[kind]
        if kind not in RESOLVING and kind != "drift":  # a state, held until it resolves
            x, y = _spans(every_event, set(shown["event_id"]), kind, last_epoch, row_of)
            traces.append(dict(type="scatter", x=x, y=y, mode="lines", line=dict(color=colour, width=4),
                               opacity=0.45, hoverinfo="skip", showlegend=False, legendgroup=kind))
        traces.append(dict(
            type="scatter", x=shown["epoch"].to_numpy(), y=shown["layer"].map(row_of).to_numpy(), mode="markers",
            name=kind, legendgroup=kind, customdata=list(zip(shown["layer"], map(_short, shown["value"]),
                                                             map(_short, shown["threshold"]))),
            marker=dict(symbol=symbol, color=colour, size=[SEVERITY_SIZES.get(s, 8) for s in shown["severity"]],
                        line=dict(width=2, color=colour)),
            hovertemplate=f"%{{customdata[0]}}<br>{unit} %{{x}}<br>{kind}: {VALUE_HOVER[kind]}<extra></extra>"))
    rows = len(layer_order)
    return figure(traces, height=max(320, 18 * rows + 140),
                  title={"text": f"health events per layer and {unit} (click one for its ESD)"},
                  yaxis=dict(tickmode="array", tickvals=list(range(rows)), ticktext=layer_order, showgrid=False,
                             zeroline=False, range=[rows - 0.5, -0.5], title={"text": None}),  # network order
                  xaxis=epoch_axis(epochs, unit, range=[min(epochs, default=0) - 0.5, last_epoch + 0.5]),
                  shapes=block_separators(layer_order), hovermode="closest",
                  legend=dict(orientation="h", x=1, xanchor="right", y=1, yanchor="bottom"))
