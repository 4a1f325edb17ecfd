"""Play in the browser: what a tab shows at each epoch (its figures, a table) is sent for a window of
FRAMES_PER_WINDOW epochs at once and drawn in the page as the slider moves or Play steps. Playing 41 or 200
epochs then costs one request per window instead of one per frame, and a slow network or a busy server does not
make the animation stutter.

A window is built by the tab's own callback (with `frames` below, from its outputs at each epoch) into the
player's store; the page works out which window an epoch is in and draws the epoch from the store."""
from __future__ import annotations

from dash import Input, Output, State

import figures
from app.components import PlayerIds

FRAMES_PER_WINDOW = 25  # a window builds in ~40 ms on 2 cores: one request per 25 frames played

# Which window the slider's epoch is in (its place among the slider's marks), only when that changes.
_WINDOW = """
function (epoch, marks, current) {
    const epochs = Object.keys(marks || {}).map(Number).sort((a, b) => a - b);
    const place = epochs.indexOf(epoch);
    const window_ = place < 0 ? current : Math.floor(place / %d);
    return window_ === current ? window.dash_clientside.no_update : window_;
}
"""

# The epoch's outputs from the store: a message whatever the epoch, else the frame of the epoch when the store
# holds it and was built for what the tab shows now (its key), with the template added back to each figure.
_DRAW = """
function (epoch, store, ...key) {
    const count = %d, unchanged = Array(count).fill(window.dash_clientside.no_update);
    if (!store) return count === 1 ? unchanged[0] : unchanged;
    let outputs = store.message;
    if (!outputs) {
        const place = store.epochs.indexOf(epoch);
        if (place < 0 || JSON.stringify(store.key) !== JSON.stringify(key)) {
            return count === 1 ? unchanged[0] : unchanged;
        }
        outputs = store.frames[place];
    }
    outputs = outputs.map(output => (output && output.data && output.layout)
        ? {...output, layout: {...output.layout, template: store.template}} : output);
    return count === 1 ? outputs[0] : outputs;
}
"""


def window_of(epochs: list[int], index: int | None) -> list[int]:
    """The epochs of window `index` of `epochs`; before the page has said (None), the window of the newest
    epoch, where the slider opens; a window past the end (the run has fewer epochs than the page last saw),
    the last one."""
    if not epochs:
        return []
    last = (len(epochs) - 1) // FRAMES_PER_WINDOW
    start = (last if index is None else min(max(index, 0), last)) * FRAMES_PER_WINDOW
    return epochs[start:start + FRAMES_PER_WINDOW]


def frames(key: list, epochs: list[int], outputs: list[tuple]) -> dict:
    """The store of a window: the tab's outputs at each of its epochs, figures packed and without the template
    (sent once for all), and `key`, the values of what the tab shows (run, layer...)."""
    return {"key": key, "epochs": epochs, "template": figures.TEMPLATE,
            "frames": [[_lean(output) for output in shown] for shown in outputs]}


def on_shared_log_axes(outputs: list[tuple], place: int = 0) -> list[tuple]:
    """The outputs with the figures at `place` on log axes of one range over the window
    (figures.share_log_axes): played, an ESD moves only where its eigenvalues do."""
    shared = figures.share_log_axes([shown[place] for shown in outputs])
    return [(*shown[:place], figure, *shown[place + 1:]) for shown, figure in zip(outputs, shared)]


def message(*outputs) -> dict:
    """A store that shows `outputs` (a figure saying why there is nothing to show...) at every epoch."""
    return {"message": [_lean(output) for output in outputs], "template": figures.TEMPLATE}


def _lean(output):
    if isinstance(output, dict) and "data" in output and "layout" in output:
        packed = figures.packed(output)
        return {**packed, "layout": {key: value for key, value in packed["layout"].items() if key != "template"}}
    return output


def register(app, player: PlayerIds, outputs: list[Output], key: list[State]) -> None:
    """Draw `outputs` from the player's store as its epoch moves; `key` are the states whose values the store
    must have been built for (the store's key, in the same order)."""
    app.clientside_callback(_WINDOW % FRAMES_PER_WINDOW, Output(player.window, "data"),
                            Input(player.epoch, "value"), State(player.epoch, "marks"), State(player.window, "data"))
    app.clientside_callback(_DRAW % len(outputs), *outputs, Input(player.epoch, "value"),
                            Input(player.frames, "data"), *key)
