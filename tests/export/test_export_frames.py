"""The frames of each view: one per epoch asked for, drawn by the dashboard's builders, axes fixed across
epochs; and the animated figure built from them."""
from __future__ import annotations

import numpy as np
import pytest

import figures
from export import frames, load, views
from helpers import as_plotly

FIT = {"alpha": 2.5, "xmin": 1.0, "num_pl_spikes": 20, "D": 0.1}


def _axis_ranges(frame) -> dict:
    layout = frame.layout.to_plotly_json()
    return {name: tuple(axis.get("range") or ()) for name, axis in layout.items() if name[1:5] == "axis"}


def _points(frame, axis: str) -> np.ndarray:
    values = [np.asarray(getattr(trace, axis), dtype=float) for trace in frame.data]
    return np.concatenate(values) if values else np.empty(0)


@pytest.mark.parametrize("view, layer", [("histogram", "fc1"), ("esd", "fc2"), ("alpha", None), ("grid", None)])
def test_one_frame_per_epoch_asked_for_each_naming_its_epoch_on_fixed_axes(export_data, view, layer):
    paths = load.open_run(export_data, "exp")
    epochs, drawn = getattr(views, view)(paths, layer, "weight", (1, 3))
    assert epochs == [1, 2, 3] and len(drawn) == 3
    for epoch, frame in zip(epochs, drawn):
        assert f"epoch {epoch}" in frame.layout.title.text
        if layer:
            assert frame.layout.title.text.startswith(layer)
    ranges = [_axis_ranges(frame) for frame in drawn]
    assert ranges[0] and all(r == ranges[0] for r in ranges)  # every frame on the same axes


def test_the_fixed_log_axes_hold_every_epochs_points(export_data):
    paths = load.open_run(export_data, "exp")
    _, drawn = views.esd(paths, "fc1", "weight", (None, None))
    (low_x, high_x), (low_y, high_y) = drawn[0].layout.xaxis.range, drawn[0].layout.yaxis.range
    for frame in drawn:
        x, y = _points(frame, "x"), _points(frame, "y")
        assert low_x <= np.log10(x.min()) and np.log10(x.max()) <= high_x
        assert low_y <= np.log10(y[y > 0].min()) and np.log10(y.max()) <= high_y
    assert np.ptp([_points(frame, "x").max() for frame in drawn]) > 0  # the spectra do move


def test_the_histogram_frames_are_the_dashboards_histogram_on_one_scale(export_data):
    paths = load.open_run(export_data, "exp")
    tensor = load.tensor_histogram(paths, "fc1", "bias", (None, None))
    drawn = frames.histogram_frames(tensor)
    dashboard = as_plotly(figures.histogram(tensor.edges, tensor.densities[2], title="t",
                                            x_range=figures.bulk_range(tensor.edges, tensor.densities)))
    assert list(drawn[2].data[0].y) == list(dashboard.data[0].y)
    assert drawn[2].layout.xaxis.range == dashboard.layout.xaxis.range
    assert drawn[0].layout.yaxis.range[1] >= tensor.densities.max()
    assert drawn[0].layout.title.text == "fc1.bias · epoch 0"


def test_the_alpha_heatmap_fills_in_epoch_by_epoch_in_the_dashboards_colours(export_data):
    paths = load.open_run(export_data, "exp")
    epochs, drawn = views.alpha(paths, None, "weight", (None, None))
    for count, frame in enumerate(drawn, start=1):
        heatmap = frame.data[0]
        assert list(heatmap.x) == epochs and list(heatmap.y) == ["fc1", "fc2"]
        filled = ~np.isnan(np.asarray(heatmap.z, dtype=float))
        assert filled[:, :count].all() and not filled[:, count:].any()
        assert [list(stop) for stop in heatmap.colorscale] == [list(stop) for stop in figures.alpha_colourscale()]


def test_the_grid_has_a_panel_per_analysed_layer_titled_with_its_alpha(export_data):
    paths = load.open_run(export_data, "exp")
    table, _ = load.layer_table(paths, (3, 3))
    _, drawn = views.grid(paths, None, "weight", (3, 3))
    titles = [annotation.text for annotation in drawn[0].layout.annotations]
    for layer in ("fc1", "fc2"):
        alpha = table.loc[table["layer"] == layer, "alpha"].item()
        assert f"{layer}<br>α = {alpha:.2f}" in titles
    assert {trace.xaxis for trace in drawn[0].data} == {"x", "x2"}


def test_an_animation_keeps_each_trace_in_its_place_and_hides_what_an_epoch_lacks():
    eigenvalues = np.geomspace(0.1, 10, 60)
    drawn = frames.esd_frames([0, 1, 2], [load.Spectrum("fc", eigenvalues * (1 + i), fit, None)
                                          for i, fit in enumerate([FIT, {}, FIT])])  # epoch 1: the fit failed
    assert [len(frame.data) for frame in drawn] == [3, 1, 3]
    animation = frames.animated(drawn, [0, 1, 2], fps=4)
    assert [frame.name for frame in animation.frames] == ["0", "1", "2"]
    assert all(len(frame.data) == len(animation.data) == 3 for frame in animation.frames)
    assert [trace.visible for trace in animation.frames[1].data] == [True, False, False]
    assert [trace.name.split()[0] for trace in animation.frames[2].data] == ["ESD", "power", "xmin=1"]
    assert animation.frames[1].layout.title.text.startswith("fc · epoch 1<br><sup>power-law fit failed")
    steps = animation.layout.sliders[0].steps
    assert [list(step.args[0]) for step in steps] == [["0"], ["1"], ["2"]]
    assert animation.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == 250
