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
