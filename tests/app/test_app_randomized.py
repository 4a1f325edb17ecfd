"""--randomize in the dashboard: the shuffled-weights ESD over the real one, correlation traps on the heatmap,
and a note on how to get them where a run has none. On a small hand-written run (no training needed)."""
from __future__ import annotations

import numpy as np
import pytest

from app import data, jobs_panel
from app.tabs import alpha, esd
from app_views import esd_at
from helpers import Plotted
from spectrascope.runs import new_run_record, run_paths, save_layer_rows, write_esd, write_run

alpha, esd = Plotted(alpha), Plotted(esd)  # figures checked against plotly's schema, read as go.Figure

LAYER = "layers.0.attn.out_proj"


def _row(epoch: int, randomized: bool) -> dict:
    row = {"epoch": epoch, "layer": LAYER, "layer_type": "dense", "N": 64, "M": 64, "num_evals": 64, "alpha": 3.0,
           "xmin": 2.0, "D": 0.05, "num_pl_spikes": 20, "lambda_max": 9.0, "stable_rank": 4.0, "warning": ""}
    return {**row, "max_rand_eval": 4.0, "rand_distance": 0.3, "rand_num_spikes": 2} if randomized else row


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run `r`: epoch 0 analysed with --randomize, epoch 1 without; the dashboard pointed at it."""
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path))
    paths = run_paths(tmp_path, "r")
    paths.root.mkdir(parents=True)
    write_run(paths, new_run_record("r", kind="imported", preset=None, config={}, total_epochs=None, provenance={}))
    save_layer_rows(paths, {0, 1}, [_row(0, True), _row(1, False)])
    evals = np.sort(np.random.default_rng(0).pareto(2.5, 64) + 1)
    write_esd(paths, 0, {LAYER: evals}, {LAYER: np.linspace(0.5, 4.0, 320)})
    write_esd(paths, 1, {LAYER: evals})
    return paths


def test_the_esd_tab_draws_the_shuffled_weights_esd_of_a_randomized_epoch(run):
    figure, summary = esd_at("r", LAYER, 0)
    names = [trace.name for trace in figure.data]
    assert names[:2] == ["ESD", "randomized (shuffled weights)"] and "largest shuffled λ=4" in names
    assert "rand_num_spikes" in str(summary[0]) and len(summary) == 1  # its numbers, and no note


def test_an_epoch_analysed_without_randomize_says_how_to_get_the_comparison(run):
    figure, summary = esd_at("r", LAYER, 1)
    assert [trace.name for trace in figure.data][0] == "ESD"
    assert "randomized (shuffled weights)" not in [trace.name for trace in figure.data]
    note = summary[-1].children
    assert "`spectrascope analyze --run-id r --randomize`" in note
    assert f"“{data.RANDOMIZE_SWITCH}”" in note and data.RANDOMIZE_SWITCH in repr(jobs_panel.layout())  # the form's
    assert "rand_num_spikes" not in str(summary[0])


def test_a_damaged_randomized_file_is_named_with_a_fix_that_works(run):
    run.randomized_esd(0).write_bytes(b"not a zip file")
    figure, _ = esd_at("r", LAYER, 0)
    message = figure.layout.annotations[0].text.replace("<br>", " ")
    assert message.startswith("runs/r/analysis/esd_randomized/epoch_0000.npz cannot be read")
    assert "delete that file and runs/r/analysis/esd/epoch_0000.npz, then press “Analyse” with" in message


def test_the_alpha_tab_marks_the_layers_with_correlation_traps(run):
    heatmap, _ = alpha.alpha_figures("r", None, alpha.TAB_ID)
    traps = heatmap.data[1]
    assert list(zip(traps.x, traps.y)) == [(0, LAYER)]
    assert list(traps.text) == ["correlation trap: 2 spikes in the randomized ESD"]


def test_no_correlation_traps_read_as_0_not_as_a_blank():
    row = {**_row(0, True), "rand_num_spikes": np.int64(0)}  # as pandas gives a column without empty cells
    cells = [cell.children for cell in esd.fit_summary(row).children[1].children.children]
    assert cells[-1] == "0" and cells[esd.FIT_FIELDS.index("warning")] == "—"
