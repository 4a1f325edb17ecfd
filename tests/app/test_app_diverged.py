"""A run that went NaN/Inf says so on every tab, instead of drawing nothing."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from app import data, shell
from app.tabs import training, weights
from app_views import histogram_at
from helpers import Plotted
from training.recorder import RunRecorder, TrainingDiverged

training, weights = Plotted(training), Plotted(weights)  # figures checked against plotly's schema, read as go.Figure


def _texts(component) -> str:
    """Every string in a Dash component tree."""
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    children = children if isinstance(children, (list, tuple)) else [children] if children is not None else []
    return " ".join(_texts(child) for child in children)


@pytest.fixture
def diverged_run(tmp_path, monkeypatch):
    """Epochs 0-1 finite, epoch 2 with NaN weights and loss (recorded, then stopped); analysed."""
    from analysis.runner import analyze_run

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    with pytest.raises(TrainingDiverged):
        with RunRecorder(tmp_path, "boom", config={"lr": 50.0}, total_epochs=4) as run:
            for epoch in range(4):
                if epoch == 2:
                    with torch.no_grad():
                        model[0].weight.fill_(math.nan)
                loss = math.nan if epoch == 2 else 1.0 / (epoch + 1)
                run.log_epoch(epoch, model, train_loss=loss, test_loss=loss, test_acc=0.1 * epoch)
    analyze_run(tmp_path, "boom", progress=False)
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path))
    return "boom"


def test_the_training_tab_marks_where_values_went_non_finite(diverged_run):
    figure = training.training_figure(diverged_run, None, training.TAB_ID)
    assert [annotation.text for annotation in figure.layout.annotations if "NaN" in annotation.text] == [
        "NaN/Inf from epoch 2"]
    # one band on each panel drawn: accuracy and loss (the run logged no learning rate)
    assert len(figure.layout.shapes) == 2 and {shape.x0 for shape in figure.layout.shapes} == {1.5}


def test_the_weights_tab_says_why_an_epoch_draws_nothing(diverged_run):
    figure, stats = histogram_at(diverged_run, "0", "weight", 2, False)
    message = " ".join(annotation.text.replace("<br>", " ") for annotation in figure.layout.annotations)
    assert "0.weight at epoch 2: all 512 values are NaN/Inf" in message
    assert "Values are NaN/Inf from epoch 2" in message
    assert [row["nan_count"] for row in stats] == [0, 0, 512]
    finite, _ = histogram_at(diverged_run, "0", "weight", 1, False)
    assert finite.layout.title.text == "0.weight · epoch 1" and len(finite.data) == 1


def test_the_status_line_names_the_divergence(diverged_run):
    status = _texts(shell.run_status(diverged_run, None))
    assert "Training failed: training diverged at epoch 2" in status
    assert data.non_finite_from(diverged_run) == 2


def test_an_imported_run_with_nan_weights_is_flagged_from_its_statistics(diverged_run):
    """No training record to go by (an imported run): the analysis's NaN counts tell the epoch."""
    from spectrascope.runs import update_run

    update_run(data.paths(diverged_run), non_finite_from=None, status="completed", error=None, kind="imported")
    assert data.non_finite_from(diverged_run) == 2
    assert "Values are NaN/Inf from epoch 2" in _texts(shell.run_status(diverged_run, None))
