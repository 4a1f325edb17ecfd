"""Pure figure builders: tables and arrays in, plotly figures out as plain data; no file access, no Dash. The
dashboard and the exports draw with these same functions, so a video frame looks like the page. Torch-free."""
from __future__ import annotations

from figures.alpha import (
    ALPHA_COLOUR_RANGE, TRAP_COLOUR, alpha_colourscale, alpha_heatmap, alpha_summary, block_of,
    learning_curve,
)
from figures.depth import alpha_by_depth, kind_order, stack_of
from figures.health import health_timeline
from figures.compare import (
    alpha_difference, alpha_difference_frame, esd_overlay, histogram_overlay, layer_alpha_overlay, mean_alpha_overlay,
    training_overlay,
)
from figures.histograms import MAX_RIDGES, RIDGE_ROW_PIXELS, bulk_range, histogram, ridge, ridge_styles
from figures.spectra import MIN_FIT_EIGENVALUES, RANDOMIZED_COLOUR, esd, esd_grid
from figures.style import (
    ACCENT, HEALTHY_COLOURS, MESSAGE_WIDTH, OVER_TRAINED_COLOUR, TEMPLATE, TEST_COLOUR, TRAIN_COLOUR,
    UNDER_TRAINED_COLOUR, Figure, empty, packed, share_log_axes,
)
from figures.training import training_curves

__all__ = [
    "ACCENT", "ALPHA_COLOUR_RANGE", "Figure", "HEALTHY_COLOURS", "MAX_RIDGES", "MESSAGE_WIDTH",
    "MIN_FIT_EIGENVALUES", "OVER_TRAINED_COLOUR", "RANDOMIZED_COLOUR", "RIDGE_ROW_PIXELS", "TEMPLATE", "TEST_COLOUR",
    "TRAIN_COLOUR", "TRAP_COLOUR", "UNDER_TRAINED_COLOUR", "alpha_by_depth", "alpha_colourscale", "alpha_difference",
    "alpha_difference_frame", "alpha_heatmap", "alpha_summary", "block_of", "bulk_range", "empty", "esd", "esd_grid",
    "esd_overlay", "health_timeline", "histogram", "histogram_overlay", "kind_order", "layer_alpha_overlay",
    "learning_curve", "mean_alpha_overlay", "packed", "ridge", "ridge_styles", "share_log_axes", "stack_of",
    "training_curves",
    "training_overlay",
]

