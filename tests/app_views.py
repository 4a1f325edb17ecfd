"""The tabs that play over epochs, at one epoch, as the page draws them from the frames it is sent
(app.frames): the real callbacks, then the frame of that epoch."""
from __future__ import annotations

from contextlib import contextmanager

from dash._callback_context import context_value
from dash._utils import AttributeDict

from app.tabs import esd, weights
from helpers import played


@contextmanager
def triggered_by(prop_id: str, value=None):
    """Calls made inside run as Dash runs a callback that `prop_id` ("weights-view.value") set off."""
    token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": value}]))
    try:
        yield
    finally:
        context_value.reset(token)


def esd_at(run_id, layer, epoch) -> tuple:
    """(figure, fit summary) of the ESD tab."""
    return played(esd.esd_frames(None, run_id, layer, esd.TAB_ID, None), epoch)


def ridge_at(run_id, layer, kind, epoch, log_y=False, moved: str = "weights-view.value"):
    """The Weights tab's ridge view after a change of `moved`: the whole figure for a change of view (or
    layer), the colours alone (a Patch) when the slider's epoch moved."""
    with triggered_by(moved, epoch):
        return weights.ridge_view(run_id, layer, kind, epoch, "ridge", log_y, weights.TAB_ID, None)


def histogram_at(run_id, layer, kind, epoch, log_y=False) -> tuple:
    """(figure, statistics rows) of the Weights tab's one-epoch view."""
    figure, = played(weights.histogram_frames(None, run_id, layer, kind, "epoch", log_y, weights.TAB_ID, None), epoch)
    return figure, weights.stats_view(run_id, layer, kind, weights.TAB_ID, None)
