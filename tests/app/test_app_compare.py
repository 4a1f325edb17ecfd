"""The Compare tab's callbacks, called as functions on two runs: the analysed demo run and `other`, a copy of it
whose alphas are changed in every second layer."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from dash import no_update

from app import data
from app.tabs import compare
from helpers import Plotted, played
from spectrascope.runs import update_run

compare = Plotted(compare)  # figures checked against plotly's schema, read as go.Figure

SHIFT = 0.5
RUNS = ["demo", "other"]


def _rewrite_layers(run_id: str, change) -> None:
    path = data.paths(run_id).layers_csv
    change(pd.read_csv(path, keep_default_na=False)).to_csv(path, index=False)


@pytest.fixture
def two_runs(dashboard_data):
    """`other`'s alpha is SHIFT higher than `demo`'s in every second layer (where the fit did not fail);
    returns those layers."""
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "other")
    shifted = data.layer_names("demo")[::2]

    def shift(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[table["layer"].isin(shifted) & (table["alpha"] > 0), "alpha"] += SHIFT
        return table

    _rewrite_layers("other", shift)
    return shifted


def test_training_curves_and_mean_alpha_are_overlaid_one_colour_per_run(two_runs):
    note, curves, mean_alpha, _ = compare.overview(RUNS, compare.TAB_ID)
    assert [trace.name for trace in curves.data] == ["demo", "demo", "other", "other"]  # accuracy and loss each
    colours = {trace.name: trace.line.color for trace in curves.data}
    assert len(set(colours.values())) == 2 and all(trace.line.color == colours[trace.name] for trace in curves.data)
    assert list(curves.data[0].y) == list(data.metrics("demo").dropna(subset=["test_acc"])["test_acc"])

    lines = {trace.name: np.asarray(trace.y) for trace in mean_alpha.data}
    assert sorted(lines) == RUNS and {trace.line.color for trace in mean_alpha.data} == set(colours.values())
    assert (lines["other"] > lines["demo"]).all()  # every epoch has shifted layers with a fit
    assert "all" in str(note) and "alpha difference" in str(note)


def test_the_difference_heatmap_is_run_b_minus_run_a_centred_on_zero(two_runs):
    heatmap = compare.overview(RUNS, compare.TAB_ID)[3].data[0]
    z = pd.DataFrame(np.asarray(heatmap.z, dtype=float), index=list(heatmap.y), columns=list(heatmap.x))
    assert list(z.index) == data.layer_names("demo") and list(z.columns) == data.analysed_epochs("demo")
    fitted = data.layers("demo").pivot(index="layer", columns="epoch", values="alpha").reindex(z.index) > 0
    expected = pd.DataFrame(0.0, index=z.index, columns=z.columns)
    expected.loc[expected.index.isin(two_runs)] = SHIFT
    assert np.allclose(z.where(fitted), expected.where(fitted), atol=1e-9, equal_nan=True)  # blank where a fit failed
    assert heatmap.zmid == 0 and heatmap.zmin == -heatmap.zmax == pytest.approx(-SHIFT)

    swapped = compare.overview(RUNS[::-1], compare.TAB_ID)[3].data[0]  # A and B the other way round
    assert np.allclose(np.asarray(swapped.z, dtype=float), -z.to_numpy(), equal_nan=True)


def test_runs_with_different_layers_compare_on_the_shared_ones_and_say_what_is_missing(two_runs):
    dropped = data.layer_names("other")[-1]
    _rewrite_layers("other", lambda table: table[table["layer"] != dropped])
    note, _, mean_alpha, difference = compare.overview(RUNS, compare.TAB_ID)
    assert f"other lacks 1: {dropped}." in note
    assert note[0] == f"Compared on the {len(data.layer_names('other'))} layers all runs share."
    options, value = compare.layer_options(RUNS, compare.TAB_ID, dropped)
    choosable = [option["value"] for option in options if not option.get("disabled")]  # not the blocks' headings
    assert choosable == data.layer_names("other") and value != dropped
    assert not difference.data and "same layers" in difference.layout.annotations[0].text
    demo = data.layers("demo")
    shared_mean = demo[(demo["layer"] != dropped) & (demo["alpha"] > 0)].groupby("epoch")["alpha"].mean()
    assert np.allclose(mean_alpha.data[0].y, shared_mean.to_numpy())  # demo's mean over the shared layers only


def test_runs_of_different_models_set_their_own_mean_alphas_side_by_side(two_runs):
    _rewrite_layers("other", lambda table: table.assign(layer="renamed." + table["layer"]))
    note, _, mean_alpha, _ = compare.overview(RUNS, compare.TAB_ID)
    assert len(note) == 1 and note[0].startswith("These runs share no layer (different models)")
    assert mean_alpha.layout.title.text == "Mean alpha (each run's own layers)"
    demo = data.layers("demo")
    assert np.allclose(mean_alpha.data[0].y, demo[demo["alpha"] > 0].groupby("epoch")["alpha"].mean().to_numpy())
    assert len(mean_alpha.data[1].y) == len(data.analysed_epochs("other"))  # the other run's line is drawn too


def test_a_click_on_a_difference_cell_shows_that_layer_and_epoch_overlaid(two_runs):
    layer = data.layer_names("demo")[2]
    assert compare.open_cell({"points": [{"x": 1, "y": layer, "z": SHIFT}]}) == (layer, 1)
    assert compare.open_cell(None) == (no_update, no_update)
    layer_alpha = compare.layer_alpha(RUNS, layer, compare.TAB_ID)
    esd, histogram = played(compare.layer_frames(None, RUNS, layer, compare.TAB_ID), 1)
    assert esd.layout.title.text.startswith(f"{layer} · epoch 1")
    assert {trace.legendgroup for trace in esd.data} == set(RUNS)
    assert len({trace.marker.color for trace in esd.data if trace.mode == "markers"}) == 2
    assert [trace.name for trace in histogram.data] == RUNS and histogram.layout.title.text.startswith(layer)
    demo, other = (np.asarray(trace.y) for trace in layer_alpha.data)
    assert np.allclose(other - demo, SHIFT if layer in two_runs else 0.0)


def test_the_choice_round_trips_through_the_url_query(two_runs):
    search = compare.query(RUNS)
    assert search == "?compare=demo,other" and compare.chosen_in(search) == RUNS
    assert compare.url_to_choice(search, None) == (RUNS, compare.TAB_ID, None)  # a link opens the tab on its runs
    assert compare.url_to_choice("?compare=other,gone,other", None) == (
        ["other"], compare.TAB_ID, "The link compares 'gone', not here (deleted, or on another server).")
    assert compare.url_to_choice(search, RUNS) == (no_update, compare.TAB_ID, None)
    assert compare.url_to_choice("", None) == (no_update, no_update, None)  # a plain link leaves the page as it is
    assert compare.choice_to_url(RUNS, "") == search and compare.choice_to_url(RUNS, search) is no_update
    assert compare.choice_to_url([], search) == ""


def test_fewer_than_two_runs_or_mixed_units_say_why_nothing_is_compared(two_runs):
    """Said once, in the note: the panels of figures wait hidden, empty, until two comparable runs are chosen."""
    assert compare.overview(["demo"], compare.TAB_ID)[0] == compare.PICK_TWO
    assert compare.panels_hidden(None) and compare.panels_hidden(["demo"]) and not compare.panels_hidden(RUNS)
    panels = next(c for c in compare.layout()._traverse() if getattr(c, "id", None) == compare.COMPARE_PANELS)
    assert panels.hidden and {compare.COMPARE_NOTE, compare.COMPARE_RUNS}.isdisjoint(
        getattr(c, "id", None) for c in panels._traverse())
    assert compare.layer_options(None, compare.TAB_ID, None) == ([], None)
    update_run(data.paths("other"), unit="step")
    note, *drawn = compare.overview(RUNS, compare.TAB_ID)
    assert "not comparable on one axis" in note and "other counts steps" in note and compare.panels_hidden(RUNS)
    layer_view = [compare.layer_alpha(RUNS, "fc", compare.TAB_ID),
                  *played(compare.layer_frames(None, RUNS, "fc", compare.TAB_ID), 1)]
    assert all(not figure.data for figure in drawn + layer_view)


def test_a_run_without_metrics_is_named_and_step_runs_label_their_axes(two_runs):
    data.paths("other").metrics_csv.unlink()
    for run_id in RUNS:
        update_run(data.paths(run_id), unit="step")
    _, curves, mean_alpha, difference = compare.overview(RUNS, compare.TAB_ID)
    assert [trace.name for trace in curves.data] == ["demo", "demo"]
    assert "no training metrics: other" in curves.layout.title.text
    assert mean_alpha.layout.xaxis.title.text == "step" and difference.layout.xaxis.title.text == "step"


def test_hidden_compare_tab_is_not_computed(two_runs):
    assert compare.overview(RUNS, "alpha") == (no_update,) * 4
    assert compare.layer_alpha(RUNS, "fc", "alpha") is no_update
    assert compare.layer_frames(None, RUNS, "fc", "alpha") is no_update
    assert compare.shared_epochs(RUNS) == data.analysed_epochs("demo")


def test_the_comparison_follows_a_compared_run_whose_files_change(two_runs):
    assert compare.refresh_version(1, RUNS, "alpha", None) is no_update  # hidden: nothing read
    version = compare.refresh_version(1, RUNS, compare.TAB_ID, None)
    assert compare.refresh_version(2, RUNS, compare.TAB_ID, version) is no_update  # nothing changed
    before = list(compare.overview(RUNS, compare.TAB_ID, version)[2].data[1].y)
    raised = data.layer_names("other")[0]
    _rewrite_layers("other", lambda table: table.assign(alpha=table["alpha"].where(table["layer"] != raised, 9.5)))
    changed = compare.refresh_version(3, RUNS, compare.TAB_ID, version)
    assert changed not in (no_update, version)
    after = list(compare.overview(RUNS, compare.TAB_ID, changed)[2].data[1].y)  # redrawn from the new files
    assert all(new > old for new, old in zip(after, before))
