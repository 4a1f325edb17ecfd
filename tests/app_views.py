"""The tabs that play over epochs, at one epoch, as the page draws them from the frames it is sent
(app.frames): the real callbacks, then the frame of that epoch."""
from __future__ import annotations

from app.tabs import esd, weights
from helpers import played


def esd_at(run_id, layer, epoch) -> tuple:
    """(figure, fit summary) of the ESD tab."""
    return played(esd.esd_frames(None, run_id, layer, esd.TAB_ID, None), epoch)


def histogram_at(run_id, layer, kind, epoch, log_y=False) -> tuple:
    """(figure, statistics rows) of the Weights tab's one-epoch view."""
    figure, = played(weights.histogram_frames(None, run_id, layer, kind, "epoch", log_y, weights.TAB_ID, None), epoch)
    return figure, weights.stats_view(run_id, layer, kind, weights.TAB_ID, None)
