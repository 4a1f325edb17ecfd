"""Models that are not ours: nn.Sequential layers are named 0, 2, 4 and transformers' dotted-numeric
(blocks.11.mlp.fc1); names can be long. Every tab treats a layer name as text."""
from __future__ import annotations

import pytest
import torch

import figures
from app import data
from app.tabs import alpha, esd, metrics, weights
from app_views import esd_at, histogram_at, ridge_at
from helpers import Plotted, as_plotly

alpha, esd, weights = Plotted(alpha), Plotted(esd), Plotted(weights)  # figures checked, read as go.Figure

LONG = "encoder." + ".".join(f"stage{i}" for i in range(30)) + ".proj"  # 200 characters
SEQUENTIAL = ("0", "2", "4")  # every name a number: read as numbers unless told otherwise
MIXED = ("0", "blocks.11.mlp.fc1", LONG)


def _messages(figure) -> str:
    return " ".join(annotation.text for annotation in figure.layout.annotations)


@pytest.fixture(params=[SEQUENTIAL, MIXED], ids=["sequential", "mixed"])
def foreign_run(request, tmp_path, monkeypatch):
    """An imported run of three epochs of a model with such names, analysed; returns (run id, names)."""
    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for epoch in range(3):
        state = {f"{layer}.weight": torch.randn(48, 32, generator=generator) * (1 + epoch) for layer in request.param}
        state["0.bias"] = torch.randn(48, generator=generator)
        torch.save(state, folder / f"epoch_{epoch}.pt")
    data_dir = tmp_path / "data"
    import_checkpoints(folder, data_dir, "seq")
    analyze_run(data_dir, "seq", progress=False)
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(data_dir))
    return "seq", request.param


def test_layer_names_read_back_as_the_text_they_are(foreign_run):
    run_id, layers = foreign_run
    assert data.layer_names(run_id) == list(layers)
    assert set(data.weight_stats(run_id)["layer"]) == set(layers)
    assert ("0", "bias") in data.histogram_tensors(run_id)


def test_the_esd_tab_draws_every_layer(foreign_run):
    run_id, layers = foreign_run
    options, _ = esd.layer_options(run_id, None, None)
    assert options == [{"label": layer, "value": layer} for layer in layers]
    for layer in layers:
        figure, fit = esd_at(run_id, layer, 2)
        assert figure.layout.title.text.startswith(f"{layer} · epoch 2<br>") and fit is not None
        assert len(figure.data) >= 2 and not _messages(figure)  # the histogram and the fitted line


def test_the_weights_tab_shows_histogram_and_statistics(foreign_run):
    run_id, layers = foreign_run
    options, _ = weights.layer_options(run_id, None, "weight", None)
    assert options == [{"label": layer, "value": layer} for layer in layers]
    for layer in layers:
        figure, stats = histogram_at(run_id, layer, "weight", 1, False)
        assert figure.layout.title.text == f"{layer}.weight · epoch 1"
        assert [row["epoch"] for row in stats] == [0, 1, 2] and all(row["count"] == 48 * 32 for row in stats)


def test_the_alpha_heatmap_has_the_layer_names_on_a_category_axis(foreign_run):
    run_id, layers = foreign_run
    heatmap, _ = alpha.alpha_figures(run_id, None, alpha.TAB_ID)
    assert heatmap.layout.yaxis.type == "category"
    assert list(heatmap.data[0].y) == list(layers)
    assert alpha.open_cell({"points": [{"x": 1, "y": "0"}]}) == (esd.TAB_ID, "0", 1)


def test_the_metrics_table_lists_the_names_as_text(foreign_run):
    run_id, layers = foreign_run
    rows, columns, _ = metrics.metrics_table(run_id, 2, metrics.TAB_ID, None)
    assert [row["layer"] for row in rows] == list(layers)
    assert next(column for column in columns if column["id"] == "layer")["type"] == "text"


def test_a_heatmap_of_numeric_names_alone_is_still_categorical():
    import pandas as pd

    layers = pd.DataFrame({"epoch": [0, 0, 0], "layer": ["0", "2", "4"], "alpha": [3.0, 4.0, 5.0],
                           "warning": ["", "", ""]})
    figure = as_plotly(figures.alpha_heatmap(layers))
    assert figure.layout.yaxis.type == "category" and list(figure.data[0].y) == ["0", "2", "4"]


def test_a_run_numbered_by_step_says_step_on_every_axis_and_title(tmp_path, monkeypatch):
    """Lightning's files (epoch=E-step=S.ckpt, weights under state_dict with the module's prefix): the run is
    numbered by step, hundreds apart, and no view calls a step an epoch."""
    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for epoch, step in enumerate((250, 500, 750)):
        state = {"model.fc.weight": torch.randn(48, 32, generator=generator) * (1 + epoch),
                 "model.fc.bias": torch.randn(48, generator=generator)}
        torch.save({"state_dict": state, "global_step": step}, folder / f"epoch={epoch}-step={step}.ckpt")
    import_checkpoints(folder, tmp_path / "data", "lit")
    analyze_run(tmp_path / "data", "lit", progress=False)
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path / "data"))

    heatmap, summary = alpha.alpha_figures("lit", None, alpha.TAB_ID)
    assert heatmap.layout.xaxis.title.text == "step" and summary.layout.xaxis.title.text == "step"
    assert list(heatmap.data[0].x) == [250, 500, 750] and heatmap.layout.xaxis.dtick is None
    assert "step %{x}" in heatmap.data[0].hovertemplate
    figure, _ = esd_at("lit", "fc", 500)
    assert figure.layout.title.text.startswith("fc · step 500<br>")
    histogram, _ = histogram_at("lit", "fc", "weight", 750, False)
    ridge = as_plotly(ridge_at("lit", "fc", "weight", 750))
    assert histogram.layout.title.text.startswith("fc.weight · step 750") and ridge.layout.yaxis.title.text == "step"
    options, _ = metrics.epoch_options("lit", None, None, [])
    assert [option["label"] for option in options] == ["step 250", "step 500", "step 750"]
    _, columns, _ = metrics.metrics_table("lit", 750, metrics.TAB_ID, None)
    assert columns[0] == {"name": "step", "id": "epoch", "type": "numeric"}  # the run format's column, headed step
