"""The report's health legend: each band's colour on the alpha heatmap and what it means. Which layer is in which
band, and the events, come from spectrascope.health."""
from __future__ import annotations

import figures
from spectrascope.health.bands import (
    FIT_FAILED, HEALTHY, OVER_TRAINED, OVER_TRAINED_BELOW, UNDER_TRAINED, UNDER_TRAINED_ABOVE,
)

BANDS = {  # band -> (colour, what it means), in the heatmap legend's order
    OVER_TRAINED: (figures.OVER_TRAINED_COLOUR, f"alpha < {OVER_TRAINED_BELOW:g}"),
    HEALTHY: (figures.HEALTHY_COLOURS[0], f"{OVER_TRAINED_BELOW:g} ≤ alpha ≤ {UNDER_TRAINED_ABOVE:g}"),
    UNDER_TRAINED: (figures.UNDER_TRAINED_COLOUR, f"alpha > {UNDER_TRAINED_ABOVE:g}"),
    FIT_FAILED: ("#ffffff", "no power law fitted (blank on the heatmap)"),
}
