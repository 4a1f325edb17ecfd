"""Small pieces shared by several tabs: the epoch player, slider marks, layer pickers, readable times."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, NamedTuple

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc

import figures
from app.ids import RUN_PICKER, RUN_VERSION
from app.tabs.common import unreadable_files_shown

PLAY_MILLISECONDS = 500  # a step of Play: frames are drawn in the page, so it can move briskly
BLOCK_HEADING = "block:"  # the value of a layer picker's (disabled) heading of a block: no layer is named so


class PlayerIds(NamedTuple):
    """The ids of one epoch player's play/pause button, epoch slider and timer, and of the stores of the frames
    it plays in the page (app.frames): which window of epochs the slider is in, and that window's frames."""
    play: str
    epoch: str
    timer: str
    window: str
    frames: str


def player_ids(prefix: str) -> PlayerIds:
    return PlayerIds(*(f"{prefix}-{part}" for part in ("play", "epoch", "timer", "window", "frames")))


# The next epoch on the slider, wrapping round to the first: Play's steps never leave the page.
_NEXT_EPOCH = """
function (ticks, marks, current) {
    const epochs = Object.keys(marks || {}).map(Number).sort((a, b) => a - b);
    if (!epochs.length) return window.dash_clientside.no_update;
    const later = epochs.filter(epoch => current === null || current === undefined || epoch > current);
    return later.length ? later[0] : epochs[0];
}
"""


def epoch_player(player: PlayerIds) -> html.Div:
    """Play/pause button, an epoch slider and the timer that moves it."""
    return html.Div([
        dbc.Button(html.I(className="bi bi-play-fill"), id=player.play, color="secondary", outline=True,
                   size="sm", title="play / pause over epochs", className="me-2"),
        html.Div(dcc.Slider(id=player.epoch, min=0, max=0, step=None, marks={}, value=None,
                            updatemode="drag"), className="flex-grow-1"),
        dcc.Interval(id=player.timer, interval=PLAY_MILLISECONDS, disabled=True),
        dcc.Store(id=player.window), dcc.Store(id=player.frames),
    ], className="d-flex align-items-center mb-2")


def slider_marks(epochs: list[int]) -> dict:
    """A mark at every epoch (so the slider snaps to real epochs), labelled at about ten of them."""
    step = max(1, len(epochs) // 10)
    labelled = set(epochs[::step]) | ({epochs[-1]} if epochs else set())
    return {epoch: (str(epoch) if epoch in labelled else "") for epoch in epochs}


def chosen_epoch(epochs: list[int], current: int | None, previous_latest: int | None) -> int | None:
    """Keep an epoch the user chose; otherwise (or when it is gone) show the newest, so a view that was
    on the newest epoch follows a live run forward."""
    if not epochs:
        return None
    return current if current in epochs and current != previous_latest else epochs[-1]


def slider_settings(epochs: list[int], current: int | None, previous_latest: int | None) -> tuple:
    """(min, max, marks, value) of an epoch slider."""
    if not epochs:
        return 0, 0, {}, None
    return epochs[0], epochs[-1], slider_marks(epochs), chosen_epoch(epochs, current, previous_latest)


def toggle_play(n_clicks, paused: bool):
    if not n_clicks:
        return no_update, no_update
    playing = paused  # it was paused, so now it plays
    return not playing, html.I(className="bi bi-pause-fill" if playing else "bi bi-play-fill")


def register_player(app, player: PlayerIds, epochs_of: Callable, runs: str = RUN_PICKER,
                    version: str = RUN_VERSION) -> None:
    """Wire an epoch_player: its slider spans `epochs_of(value)` of the component `runs` (the chosen run, by
    default), followed forward as the store `version` says the runs' files changed, and play/pause steps
    through them."""
    @unreadable_files_shown(lambda message: slider_settings([], None, None))
    def follow_run(run_id, version, current, previous_latest):
        return slider_settings(epochs_of(run_id) if run_id else [], current, previous_latest)

    app.callback(Output(player.epoch, "min"), Output(player.epoch, "max"), Output(player.epoch, "marks"),
                 Output(player.epoch, "value"),
                 Input(runs, "value"), Input(version, "data"), State(player.epoch, "value"),
                 State(player.epoch, "max"))(follow_run)
    app.callback(Output(player.timer, "disabled"), Output(player.play, "children"),
                 Input(player.play, "n_clicks"), State(player.timer, "disabled"))(toggle_play)
    app.clientside_callback(_NEXT_EPOCH, Output(player.epoch, "value", allow_duplicate=True),
                            Input(player.timer, "n_intervals"), State(player.epoch, "marks"),
                            State(player.epoch, "value"), prevent_initial_call=True)


def layer_options(layers: list[str]) -> list[dict]:
    """A layer picker's options, in network order, grouped under their block (transformer.h.3, layer2.1) where
    blocks hold several layers: a heading per block that cannot be chosen, and each layer's block prefix
    muted; typing filters by the whole name. A plain list where no block holds two layers (nn.Sequential)."""
    blocks = [figures.block_of(layer) for layer in layers]
    if len(set(blocks)) == len(blocks):
        return [{"label": layer, "value": layer} for layer in layers]
    options, previous = [], None
    for layer, block in zip(layers, blocks):
        if layer == block:
            options.append({"label": layer, "value": layer})
        else:
            if block != previous:
                options.append({"label": html.Span(block, className="fw-semibold small text-secondary"),
                                "value": BLOCK_HEADING + block, "disabled": True})
            options.append({"label": html.Span([html.Span(block, className="text-muted"), layer[len(block):]],
                                                className="ps-3"), "value": layer, "search": layer})
        previous = block
    return options


def relative_time(stamp: str, now: datetime) -> html.Span:
    """"3 min ago", the full UTC time on hover: readable at a glance, wherever the browser is."""
    try:
        then = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return html.Span(stamp or "—")
    if then.tzinfo is None:  # a time another tool wrote without its zone: taken as UTC, as spectrascope writes
        then = then.replace(tzinfo=timezone.utc)
    seconds = max(0.0, (now - then).total_seconds())
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
            break
    else:
        text = "just now"
    return html.Span(text, title=then.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                     style={"textDecoration": "underline dotted"})
