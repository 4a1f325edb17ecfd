"""alpha's bands as weightwatcher names them: below 2 over-trained, above 6 under-trained, between them
healthy; a failed fit (weightwatcher writes alpha = -1) has no band."""
from __future__ import annotations

import math

OVER_TRAINED_BELOW = 2.0
UNDER_TRAINED_ABOVE = 6.0
HEALTHY, OVER_TRAINED, UNDER_TRAINED, FIT_FAILED = "healthy", "over-trained", "under-trained", "fit failed"
BAND_NAMES = (OVER_TRAINED, HEALTHY, UNDER_TRAINED, FIT_FAILED)  # in the heatmap legend's order


def fitted(alpha: float) -> bool:
    return not math.isnan(alpha) and alpha > 0


def band(alpha: float, low: float = OVER_TRAINED_BELOW, high: float = UNDER_TRAINED_ABOVE) -> str:
    if not fitted(alpha):
        return FIT_FAILED
    if alpha < low:
        return OVER_TRAINED
    return UNDER_TRAINED if alpha > high else HEALTHY


def counts_at_last_epoch(table) -> dict[str, int]:
    """Every band (zeros included) and the number of layers in it at the last analysed epoch of a layers table."""
    last = table[table["epoch"] == table["epoch"].max()]
    found = last["alpha"].map(band).value_counts()
    return {name: int(found.get(name, 0)) for name in BAND_NAMES}


def most_telling_layer(table) -> str | None:
    """The layer to open first, at the latest analysed epoch of a layers table: the one whose alpha lies furthest
    outside the healthy band, or, when all are healthy, the one with the most eigenvalues (a 3x3 stem convolution
    with 9 eigenvalues says little)."""
    if table.empty:
        return None
    latest = table[table["epoch"] == table["epoch"].max()]
    fitted = latest[latest["alpha"] > 0]
    alpha = fitted["alpha"]
    outside = (OVER_TRAINED_BELOW - alpha).clip(lower=0) + (alpha - UNDER_TRAINED_ABOVE).clip(lower=0)
    if len(outside) and outside.max() > 0:
        return str(fitted.loc[outside.idxmax(), "layer"])
    largest = latest["num_evals"].fillna(0).idxmax() if "num_evals" in latest else latest.index[0]
    return str(latest.loc[largest, "layer"])


def layer_to_open(table, shown: list[str]) -> str | None:
    """The layer a view of `shown` layers opens on: the most telling one if the view has it, else its first.
    Here, below the app and the exports, so the page and `spectrascope export` open on the same layer."""
    telling = most_telling_layer(table)
    return telling if telling in shown else (shown[0] if shown else None)
