"""Pure figure builders: tables and arrays in, plotly figures out; no file access, no Dash. The dashboard and
the exports draw with these same functions, so a video frame looks like the page. Torch-free."""
from __future__ import annotations

import numpy as np
import pandas as pd

from figures.alpha import (
    ALPHA_COLOUR_RANGE, TRAP_COLOUR, alpha_colourscale, alpha_heatmap, alpha_summary, block_of,
)
from figures.compare import (
    alpha_difference, alpha_difference_frame, esd_overlay, histogram_overlay, layer_alpha_overlay, mean_alpha_overlay,
    training_overlay,
)
from figures.histograms import MAX_RIDGES, RIDGE_ROW_PIXELS, bulk_range, histogram, ridge
from figures.spectra import MIN_FIT_EIGENVALUES, RANDOMIZED_COLOUR, esd, esd_grid
from figures.style import (
    ACCENT, HEALTHY_COLOURS, MESSAGE_WIDTH, OVER_TRAINED_COLOUR, TEST_COLOUR, TRAIN_COLOUR, UNDER_TRAINED_COLOUR,
    empty,
)
from figures.training import training_curves

__all__ = [
    "ACCENT", "ALPHA_COLOUR_RANGE", "HEALTHY_COLOURS", "MAX_RIDGES", "MESSAGE_WIDTH", "MIN_FIT_EIGENVALUES",
    "OVER_TRAINED_COLOUR", "RANDOMIZED_COLOUR", "RIDGE_ROW_PIXELS", "TEST_COLOUR", "TRAIN_COLOUR", "TRAP_COLOUR",
    "UNDER_TRAINED_COLOUR", "alpha_colourscale", "alpha_difference", "alpha_difference_frame", "alpha_heatmap",
    "alpha_summary", "block_of", "bulk_range", "empty", "esd", "esd_grid", "esd_overlay", "histogram", "histogram_overlay",
    "layer_alpha_overlay", "mean_alpha_overlay", "ridge", "training_curves", "training_overlay", "warm_up",
]


def warm_up() -> None:
    """Draw every kind of figure once on made-up data: plotly loads the validators of each trace and
    layout property on first use (a user's first figure would otherwise take twice as long)."""
    metrics = pd.DataFrame({"epoch": [0, 1], "train_loss": [np.nan, 1.0], "train_acc": [np.nan, 0.5],
                            "test_loss": [2.0, 1.0], "test_acc": [0.1, 0.5], "lr": [np.nan, 0.1]})
    layers = pd.DataFrame({"epoch": [0, 1], "layer": ["fc", "fc"], "alpha": [3.0, 4.0], "warning": ["", ""],
                           "rand_num_spikes": [0, 1]})
    edges, densities = np.linspace(-1, 1, 5), np.ones((2, 4))
    drawn = (training_curves(metrics), histogram(edges, densities[0], title=""),
             ridge(edges, densities, [0, 1], current=1, title=""),
             esd(np.geomspace(1, 10, 20), {"alpha": 2.0, "xmin": 2.0, "num_pl_spikes": 10, "D": 0.1}, title="",
                 randomized=np.geomspace(1, 5, 20)),
             alpha_heatmap(layers), alpha_summary(layers, metrics), empty(""))
    for figure in drawn:
        figure.to_json()
