"""Play in the page (app.frames): the tabs send a window of epochs' outputs at once, lean, and keyed by what
they show; the page draws each epoch from it."""
from __future__ import annotations

import numpy as np
from dash import no_update

from app import data, frames
from app.tabs import compare, esd, weights
from app_views import ridge_at
from helpers import played


def test_a_window_holds_a_run_of_epochs_and_opens_where_the_slider_does():
    size = frames.FRAMES_PER_WINDOW
    epochs = list(range(0, 10 * (4 * size + size // 2), 10))  # four and a half windows of checkpoints
    assert frames.window_of(epochs, None) == epochs[4 * size:]  # the newest epoch's: the slider opens there
    assert frames.window_of(epochs, 0) == epochs[:size] and frames.window_of(epochs, 1) == epochs[size:2 * size]
    assert frames.window_of(epochs, 9) == epochs[4 * size:]  # the run has fewer epochs than the page last saw
    assert frames.window_of([], 0) == []


def test_the_esd_frames_hold_every_epoch_of_the_layer_once_without_the_template(dashboard_data):
    store = esd.esd_frames(None, "demo", "fc", esd.TAB_ID, None)
    assert store["epochs"] == data.analysed_epochs("demo") and store["key"] == ["demo", "fc"]
    for epoch, (figure, fit) in zip(store["epochs"], store["frames"]):
        assert "template" not in figure["layout"] and f"epoch {epoch}" in figure["layout"]["title"]["text"]
        assert "bdata" in figure["data"][0]["x"]  # float32, packed
        assert fit is not None
    figure, _ = played(store, 2)
    assert figure.layout.title.text.startswith("fc · epoch 2")
    assert store["template"]["layout"]["plot_bgcolor"] == "white"  # sent once, added back in the page


def test_hidden_tabs_send_no_frames_and_a_run_without_analysis_sends_its_message(dashboard_data):
    assert esd.esd_frames(None, "demo", "fc", "alpha", None) is no_update
    assert weights.histogram_frames(None, "demo", "fc", "weight", "ridge", False, weights.TAB_ID, None) is no_update
    assert compare.layer_frames(None, ["demo"], "fc", "alpha") is no_update
    store = esd.esd_frames(None, None, None, esd.TAB_ID, None)
    figure, fit = played(store, 123)  # whatever the epoch
    assert "No run selected" in figure.layout.annotations[0].text and fit is None


def test_the_weights_frames_are_keyed_by_everything_the_histogram_depends_on(dashboard_data):
    store = weights.histogram_frames(None, "demo", "fc", "bias", "epoch", True, weights.TAB_ID, None)
    assert store["key"] == ["demo", "fc", "bias", "epoch", True]
    figure, = played(store, 1)
    assert figure.layout.yaxis.type == "log" and figure.layout.title.text == "fc.bias · epoch 1"


def test_played_frames_keep_one_scale_so_motion_means_change_in_the_weights(dashboard_data):
    for log_y in (False, True):
        store = weights.histogram_frames(None, "demo", "fc", "weight", "epoch", log_y, weights.TAB_ID, None)
        ranges = {tuple(played(store, epoch)[0].layout.yaxis.range) for epoch in store["epochs"]}
        assert len(ranges) == 1
    store = esd.esd_frames(None, "demo", "fc", esd.TAB_ID, None)
    shown = [played(store, epoch)[0] for epoch in store["epochs"]]
    assert len({(tuple(f.layout.xaxis.range), tuple(f.layout.yaxis.range)) for f in shown}) == 1
    smallest = min(float(np.min(trace.x)) for figure in shown for trace in figure.data if trace.x is not None)
    assert shown[0].layout.xaxis.range[0] <= np.log10(smallest)  # every point of every epoch in view


def test_moving_the_epoch_on_the_ridge_sends_only_its_colours(dashboard_data):
    operations = ridge_at("demo", "fc", "weight", 2, moved="weights-epoch.value").to_plotly_json()["operations"]
    whole = ridge_at("demo", "fc", "weight", 2)  # a change of view (or layer) draws the whole figure
    epochs = data.tensor_histogram("demo", "fc", "weight")[0]
    assert {tuple(operation["location"]) for operation in operations} == {
        ("data", row, part) for row in range(len(epochs)) for part in ("line", "fillcolor")}
    for operation in operations:  # the colours are those of the whole figure drawn at that epoch
        _, row, part = operation["location"]
        assert operation["params"]["value"] == whole["data"][row][part]
    assert whole["data"][epochs.index(2)]["line"]["width"] > whole["data"][0]["line"]["width"]
