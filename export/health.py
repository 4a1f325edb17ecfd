"""The alpha heatmap's health summary: each layer's band at each epoch, as the heatmap colours it (alpha below
OVER_TRAINED_BELOW over-trained, above UNDER_TRAINED_ABOVE under-trained, no fit blank), how many layers sit
in each band at the last epoch, and which layers left the healthy band and when. Pure: a table in, rows out."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

import figures
from analysis.metrics import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE

HEALTHY = "healthy"
BANDS = {  # band -> (colour, what it means), in the heatmap legend's order
    "over-trained": (figures.OVER_TRAINED_COLOUR, f"alpha < {OVER_TRAINED_BELOW:g}"),
    HEALTHY: (figures.HEALTHY_COLOURS[0], f"{OVER_TRAINED_BELOW:g} ≤ alpha ≤ {UNDER_TRAINED_ABOVE:g}"),
    "under-trained": (figures.UNDER_TRAINED_COLOUR, f"alpha > {UNDER_TRAINED_ABOVE:g}"),
    "fit failed": ("#ffffff", "no power law fitted (blank on the heatmap)"),
}


@dataclass(frozen=True)
class Departure:
    """A layer healthy at one analysed epoch and out of the band at the next."""
    layer: str
    epoch: int  # the first epoch out of the band
    band: str  # the band it went to
    band_at_last: str


def band(alpha: float) -> str:
    if not alpha > 0:  # weightwatcher writes -1 for a failed fit
        return "fit failed"
    if alpha < OVER_TRAINED_BELOW:
        return "over-trained"
    return "under-trained" if alpha > UNDER_TRAINED_ABOVE else HEALTHY


def _bands(table: pd.DataFrame) -> pd.DataFrame:
    """Layer x epoch bands, layers in network order; None where a layer was not analysed."""
    alpha = table.pivot(index="layer", columns="epoch", values="alpha").reindex(list(table["layer"].unique()))
    return alpha.map(lambda value: None if math.isnan(value) else band(value))


def counts_at_last_epoch(table: pd.DataFrame) -> dict[str, int]:
    """Every band (zeros included) and the number of layers in it at the last analysed epoch."""
    last = table[table["epoch"] == table["epoch"].max()]
    found = last["alpha"].map(band).value_counts()
    return {name: int(found.get(name, 0)) for name in BANDS}


def departures(table: pd.DataFrame) -> list[Departure]:
    """Each layer's first step out of the healthy band (from one analysed epoch to the next), by epoch."""
    bands = _bands(table)
    found = []
    for layer, row in bands.iterrows():
        seen = [(int(epoch), value) for epoch, value in row.items() if isinstance(value, str)]
        step = next(((epoch, now) for (_, was), (epoch, now) in zip(seen, seen[1:]) if was == HEALTHY != now), None)
        if step:
            found.append(Departure(layer, step[0], step[1], seen[-1][1]))
    return sorted(found, key=lambda departure: departure.epoch)
