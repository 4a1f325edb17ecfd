"""Dash callbacks called directly, on a real analysed run and on empty, partial and failed ones."""
from __future__ import annotations

import json
import shutil
import time

from dash import no_update
from plotly.io.json import to_json_plotly

import figures
from app import components, data, jobs_panel, shell
from app.tabs import alpha, esd, metrics, training, weights
from app.tabs.common import analysis_missing
from app_views import esd_at, histogram_at, ridge_at
from helpers import Plotted, as_plotly
from spectrascope.runs import job_lock, read_run, update_run

# the tabs' figures checked against plotly's schema and read as go.Figure
alpha, esd, training, weights = Plotted(alpha), Plotted(esd), Plotted(training), Plotted(weights)


def _messages(figure) -> str:
    return " ".join(annotation.text.replace("<br>", " ") for annotation in figure.layout.annotations)


def _label(option: dict) -> str:
    """The text of a picker option's label, as the browser shows it."""
    def text(node) -> str:
        if isinstance(node, dict):
            return text(node.get("props", {}).get("children"))
        if isinstance(node, list):
            return " ".join(text(child) for child in node)
        return "" if node is None else str(node)
    return text(option["label"])


def test_run_picker_lists_runs_and_selects_the_newest(dashboard_data):
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "newer")
    update_run(data.paths("newer"), created="2099-01-01T00:00:00+00:00")
    options, value, note = shell.refresh_runs(1, None, None, None, None, None)
    assert value == "newer" and [option["value"] for option in options] == ["newer", "demo"]
    assert _label(options[1]).startswith("demo — completed · 3/3 ") and note is no_update  # no note: none unreadable
    assert shell.refresh_runs(2, None, None, "demo", options, None) == (no_update,) * 3  # nothing changed: nothing sent


def test_the_picker_shows_each_run_s_settings_and_results_and_filters_and_sorts_them(dashboard_data):
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "another")
    metrics_csv = data.paths("another").metrics_csv
    rows = metrics_csv.read_text().splitlines()
    header = rows[0].split(",")
    last = rows[-1].split(",")
    last[header.index("test_acc")] = "0.01"
    metrics_csv.write_text("\n".join(rows[:-1] + [",".join(last)]) + "\n")
    update_run(data.paths("another"), status="failed", created="2099-01-01T00:00:00+00:00")

    options, _, _ = shell.refresh_runs(1, None, None, "demo", None, None)
    labels = {option["value"]: _label(option) for option in options}
    config = read_run(data.paths("demo")).config
    settings = f"demo · lr {config['lr']:g} · {config['epochs']} epochs · mixup {config['mixup_alpha']:g}"
    assert settings in labels["demo"]
    assert "acc 1.0%" in labels["another"] and "mean α " in labels["demo"]
    assert all(option["search"].startswith(option["value"]) for option in options)  # typing finds settings too
    assert [o["value"] for o in options] == ["another", "demo"]  # newest first
    by_accuracy, _, _ = shell.refresh_runs(2, None, "accuracy", "demo", options, None)
    assert [o["value"] for o in by_accuracy] == ["demo", "another"]
    failed, _, _ = shell.refresh_runs(3, ["failed"], "name", "another", None, None)
    assert [o["value"] for o in failed] == ["another"]
    kept, _, _ = shell.refresh_runs(4, ["failed"], "name", "demo", None, None)
    assert [o["value"] for o in kept] == ["another", "demo"]  # the run on screen stays pickable


def test_a_run_whose_tables_cannot_be_read_is_still_listed_without_results(dashboard_data):
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "damaged")
    data.paths("damaged").layers_csv.write_bytes(b"\x00\xff not a csv \xfe")
    options, _, _ = shell.refresh_runs(1, None, "alpha", "demo", None, None)
    labels = {option["value"]: _label(option) for option in options}
    assert labels["damaged"].startswith("damaged — completed") and "mean α" not in labels["damaged"]
    assert "mean α" in labels["demo"]


def test_run_folders_the_picker_leaves_out_are_named_under_it(dashboard_data):
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "broken")
    data.paths("broken").run_json.write_text("{")
    options, _, note = shell.refresh_runs(1, None, None, "demo", None, None)
    assert [option["value"] for option in options] == ["demo"]
    assert note.startswith("1 run folder is not listed: broken (run.json is not valid JSON: Expecting")
    assert shell.refresh_runs(2, None, None, "demo", options, note) == (no_update,) * 3
    shutil.copytree(dashboard_data / "runs" / "broken", dashboard_data / "runs" / "also broken")
    note = shell.refresh_runs(3, None, None, "demo", options, note)[2]
    assert note.startswith("2 run folders are not listed: also broken (")
    shutil.rmtree(dashboard_data / "runs" / "broken")
    shutil.rmtree(dashboard_data / "runs" / "also broken")
    assert shell.refresh_runs(4, None, None, "demo", options, note)[2] is None  # mended: the note goes


def test_version_store_changes_only_with_the_files(dashboard_data):
    version = shell.refresh_version(1, "demo", None)
    assert shell.refresh_version(2, "demo", version) is no_update
    update_run(data.paths("demo"), progress={"phase": "x"}, updated="later")
    assert shell.refresh_version(3, "demo", version) not in (no_update, version)


def test_tabs_draw_the_real_run(dashboard_data):
    curves = training.training_figure("demo", None, training.TAB_ID)
    assert {trace.name for trace in curves.data} >= {"train", "test", "lr"}

    options, layer = weights.layer_options("demo", None, "weight", None)
    assert layer == data.layer_worth_seeing("demo") != "conv1" and {"label": "fc", "value": "fc"} in options
    assert esd.layer_options("demo", None, None)[1] == layer  # both tabs open on the same layer
    low, high, marks, epoch = components.slider_settings(weights.stat_epochs("demo"), None, 0)
    assert (low, high, epoch) == (0, 3, 3) and sorted(marks) == [0, 1, 2, 3]
    figure, stats = histogram_at("demo", "fc", "weight", 1, False)
    assert figure.layout.title.text == "fc.weight · epoch 1" and [row["epoch"] for row in stats] == [0, 1, 2, 3]
    ridge = as_plotly(ridge_at("demo", "fc", "weight", 1, log_y=True))
    assert len(ridge.data) == 4

    figure, summary = esd_at("demo", "fc", 2)
    assert figure.layout.title.text.startswith("fc · epoch 2") and summary is not None

    heatmap, summary_figure = alpha.alpha_figures("demo", None, alpha.TAB_ID)
    assert list(heatmap.data[0].x) == [0, 1, 2, 3] and heatmap.data[0].y[0] == "conv1"

    epochs, value = metrics.epoch_options("demo", None, None, [])
    rows, columns, note = metrics.metrics_table("demo", value, metrics.TAB_ID, None)
    assert value == 3 and len(rows) == len(data.layer_names("demo")) and {row["epoch"] for row in rows} == {3}
    assert "alpha" in [column["id"] for column in columns] and "rand_bulk_edge" in [c["id"] for c in columns]
    _, columns, _ = metrics.metrics_table("demo", 2, metrics.TAB_ID, None)  # the last epoch alone is randomized
    assert "alpha" in [column["id"] for column in columns] and "max_rand_eval" not in [c["id"] for c in columns]


def test_hidden_tabs_are_not_computed(dashboard_data):
    assert training.training_figure("demo", None, "alpha") is no_update
    assert alpha.alpha_figures("demo", None, "training") == (no_update, no_update)


def test_a_heatmap_click_opens_that_layer_and_epoch_in_the_esd_tab():
    click = {"points": [{"x": 2, "y": "layer1.0.conv2", "z": 3.1}]}
    assert alpha.open_cell(click) == (esd.TAB_ID, "layer1.0.conv2", 2)
    assert alpha.open_cell(None) == (no_update, no_update, no_update)


def test_a_run_without_analysis_says_so_in_every_analysis_tab(dashboard_data):
    shutil.rmtree(data.paths("demo").analysis)
    record = json.loads(data.paths("demo").run_json.read_text())
    record["analysis"] = {}  # run.json says nothing of an analysis either
    data.paths("demo").run_json.write_text(json.dumps(record))
    expected = "has not been analysed yet"
    assert expected in _messages(histogram_at("demo", None, "weight", 3, False)[0])
    assert expected in _messages(esd_at("demo", None, 3)[0])
    assert expected in _messages(alpha.alpha_figures("demo", None, alpha.TAB_ID)[0])
    assert expected in metrics.metrics_table("demo", None, metrics.TAB_ID, None)[2]


def test_failed_and_interrupted_runs_show_their_story(dashboard_data):
    update_run(data.paths("demo"), status="failed", error="RuntimeError: CUDA out of memory",
               analysis={"status": "failed", "errors": {"2": "checkpoint is truncated"}})
    text = json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)
    assert "CUDA out of memory" in text and "epoch 2: checkpoint is truncated" in text
    assert "checkpoint is truncated" in analysis_missing("demo")
    update_run(data.paths("demo"), status="running")  # but no process holds its lock
    text = json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)
    assert "interrupted" in text and "--resume --run-id demo" in text


def test_no_runs_and_broken_runs_get_a_message(dashboard_data):
    assert "No runs yet" in json.dumps(shell.run_status(None, None).to_plotly_json(), default=str)
    assert "No run selected" in _messages(training.training_figure(None, None, training.TAB_ID))
    data.paths("demo").run_json.write_text("{")
    assert "cannot be read" in json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)


def test_a_run_with_no_epoch_yet_says_so(dashboard_data):
    data.paths("demo").metrics_csv.unlink()
    assert "No epoch recorded yet" in _messages(training.training_figure("demo", None, training.TAB_ID))


def test_missing_eigenvalues_point_to_a_fresh_analysis(dashboard_data):
    data.paths("demo").esd(2).unlink()  # the analysis redoes an epoch whose eigenvalues are gone
    message = _messages(esd_at("demo", "fc", 2)[0])
    assert "eigenvalues of fc at epoch 2 are missing: press “Analyse”" in message


def test_epoch_player_plays_and_pauses_and_its_slider_snaps_to_the_epochs():
    assert sorted(components.slider_marks([0, 1, 2, 5])) == [0, 1, 2, 5]  # Play steps through these, in the page
    disabled, _ = components.toggle_play(1, True)
    assert disabled is False
    assert components.slider_settings([0, 1, 2], 7, 2)[3] == 2 and components.slider_settings([0, 1, 2], 1, 2)[3] == 1
    assert len([label for label in components.slider_marks(list(range(41))).values() if label]) <= 12


def test_an_epoch_view_keeps_a_chosen_epoch_and_follows_a_live_run_from_the_newest():
    assert components.chosen_epoch([0, 1, 2, 3], 1, 2) == 1      # chosen by the user: kept
    assert components.chosen_epoch([0, 1, 2, 3], 2, 2) == 3      # was on the newest: follows
    assert components.chosen_epoch([0, 1], 5, 5) == 1 and components.chosen_epoch([], 1, 1) is None


def test_new_run_form_rejects_bad_input_with_a_named_message(dashboard_data):
    defaults = jobs_panel.preset_defaults("demo")
    fields = [name for name, _, _ in jobs_panel.FORM_FIELDS]
    values = dict(zip(fields, defaults))

    def submit(**changes):
        return jobs_panel.submit_new_run(1, "demo", changes.pop("run_id", "form-run"),
                                         *[changes.get(name, values[name]) for name in fields])

    assert submit(epochs=-1)[1:3] == ("epochs must be positive", True)
    assert "whole number" in submit(epochs=2.5)[1]
    assert "invalid run id" in submit(run_id="../escape")[1]
    assert "already exists" in submit(run_id="demo")[1]
    assert "device must be" in submit(device="tpu")[1]
    assert not data.paths("form-run").root.exists()


def test_analyse_form_needs_a_run_with_checkpoints(dashboard_data):
    assert jobs_panel.submit_analysis(1, None, "fast", False)[1] == "Choose a run to analyse first"
    assert "unknown backend" in jobs_panel.submit_analysis(1, "demo", "slow", False)[1]
    assert "no run 'ghost'" in jobs_panel.submit_analysis(1, "ghost", "fast", False)[1]


def test_the_version_is_a_short_digest_a_browser_keeps_exactly(dashboard_data):
    version = shell.refresh_version(1, "demo", None)
    assert isinstance(version, str) and len(version) == 16 and json.loads(json.dumps(version)) == version
    assert shell.refresh_version(2, "demo", json.loads(json.dumps(version))) is no_update


def test_unreadable_run_files_are_named_in_the_tabs_not_raised(dashboard_data):
    paths = data.paths("demo")
    paths.layers_csv.write_text("")
    heatmap, _ = alpha.alpha_figures("demo", None, alpha.TAB_ID)
    assert "runs/demo/analysis/layers.csv cannot be read" in _messages(heatmap)
    assert "press “Analyse” (or run `spectrascope analyze --run-id demo`) to rebuild them" in _messages(heatmap)
    assert metrics.metrics_table("demo", 3, metrics.TAB_ID, None)[:2] == ([], [])
    assert esd.layer_options("demo", None, None) == ([], None)
    assert "layers.csv cannot be read" in json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)

    paths.histograms.write_bytes(b"not a zip file")
    figure, stats = histogram_at("demo", "fc", "weight", 1, False)
    assert "runs/demo/analysis/histograms.npz cannot be read" in _messages(figure)
    assert [row["epoch"] for row in stats] == [0, 1, 2, 3]  # the statistics come from weight_stats.csv, intact

    paths.metrics_csv.write_text("")
    message = _messages(training.training_figure("demo", None, training.TAB_ID))
    assert "runs/demo/metrics.csv cannot be read" in message and "restore it from a backup" in message

    paths.metrics_csv.write_text("epoch,test_acc\n0,0.1\n1,0.5\n")  # a user's own, with columns left out
    assert [trace.name for trace in training.training_figure("demo", None, training.TAB_ID).data] == ["test"]


def test_histograms_without_their_statistics_still_draw(dashboard_data):
    data.paths("demo").weight_stats_csv.unlink()
    figure, stats = histogram_at("demo", "fc", "weight", 1, False)
    assert figure.layout.title.text == "fc.weight · epoch 1" and stats == []


def test_a_run_json_that_is_not_an_object_hides_only_that_run(dashboard_data):
    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "other")
    data.paths("other").run_json.write_text("[1, 2]")
    assert data.run("other") is None and [record.id for record in data.runs()] == ["demo"]


def test_analysis_tabs_without_any_run_say_so(dashboard_data):
    for view in (histogram_at(None, None, "weight", None, False),
                 esd_at(None, None, None)):
        assert "No run selected" in _messages(view[0])


def test_a_queued_run_whose_job_never_started_reads_interrupted(dashboard_data):
    shutil.rmtree(data.paths("demo").checkpoints)
    update_run(data.paths("demo"), status="queued")
    assert data.run("demo").status == "queued"  # just queued: a job runner may be on its way
    record = json.loads(data.paths("demo").run_json.read_text())
    record["updated"] = "2000-01-01T00:00:00+00:00"
    data.paths("demo").run_json.write_text(json.dumps(record))
    assert data.run("demo").status == "interrupted"
    assert "never started or died" in json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)


def test_only_the_dashboard_s_own_jobs_get_a_cancel_button(dashboard_data):
    update_run(data.paths("demo"), status="running")
    with job_lock(data.paths("demo"), "training"):  # a `spectrascope train` started from a shell
        rows, shown = jobs_panel.job_list(1, None)
        listing = json.dumps(rows.to_plotly_json(), default=str)
        assert "started outside the dashboard" in listing and "cancel-job" not in listing
        assert jobs_panel.job_list(2, shown) == (no_update, no_update)  # unchanged: not re-sent
        with job_lock(data.paths("demo"), "job"):  # the dashboard's job runner
            rows, _ = jobs_panel.job_list(3, shown)
            assert "cancel-job" in json.dumps(rows.to_plotly_json(), default=str)


def test_the_statistics_table_shows_every_epoch_with_aligned_decimals(dashboard_data):
    table = next(component for component in weights.layout()._traverse() if getattr(component, "id", None)
                 == weights.WEIGHTS_STATS)
    assert table.page_action == "none" and table.style_table["overflowY"] == "auto"
    formats = {column["id"]: column.get("format") for column in table.columns}
    assert formats["mean"] == formats["fro_norm"] == weights.FIXED and formats["epoch"] is None
    _, stats = histogram_at("demo", "fc", "weight", 1, False)
    assert [row["epoch"] for row in stats] == [0, 1, 2, 3] and stats[0]["count"] == 128 * 10  # fc: 128 -> 10


def test_the_metrics_table_exports_what_it_shows_under_the_run_and_epoch_name(dashboard_data):
    rows, _, note = metrics.metrics_table("demo", 2, metrics.TAB_ID, None)
    assert note.startswith(f"{len(rows)} layers at epoch 2;")
    shown = [row for row in rows if row["alpha"] > 3]
    note = metrics.row_note(rows, shown, 2, "demo")
    assert note.startswith(f"{len(shown)} of {len(rows)} layers (filtered) at epoch 2")
    download = metrics.export_csv(1, shown, rows, "demo", 2)
    assert download["filename"] == "demo-epoch-2-layers.csv"
    lines = download["content"].splitlines()
    assert lines[0].startswith("epoch,layer,") and len(lines) == len(shown) + 1
    assert repr(shown[0]["alpha"]) in lines[1]  # every digit, not the table's rounded display
    assert metrics.export_csv(1, None, rows, "demo", 2)["content"].count("\n") == len(rows) + 1


def test_the_layer_column_fits_its_longest_name_and_wraps_rather_than_cuts_one_longer():
    def layer_style(names):
        return next(rule for rule in metrics.column_styles([{"layer": name} for name in names])
                    if rule["if"]["column_id"] == "layer" and "width" in rule)

    gpt2 = layer_style(["transformer.h.0.attn.c_attn", "transformer.h.11.mlp.c_proj", "lm_head"])
    assert gpt2["minWidth"] == gpt2["width"] == gpt2["maxWidth"] == f"{len('transformer.h.0.attn.c_attn') + 2}ch"
    assert (gpt2["textOverflow"], gpt2["whiteSpace"], gpt2["wordBreak"]) == ("clip", "normal", "break-all")
    assert "monospace" in gpt2["fontFamily"]
    assert layer_style(["fc"])["width"] == f"{metrics.LAYER_WIDTH_CH[0] + 2}ch"  # room for the filter box
    assert layer_style(["x" * 300])["width"] == f"{metrics.LAYER_WIDTH_CH[1] + 2}ch"  # wrapped past that


def test_metrics_alpha_cells_take_the_heatmaps_band_colours_and_two_columns_stay_frozen():
    table = next(c for c in metrics.layout()._traverse() if getattr(c, "id", None) == metrics.METRICS_TABLE)
    assert table.fixed_columns == {"headers": True, "data": 2}
    colours = [rule["backgroundColor"] for rule in table.style_data_conditional if rule["if"]["column_id"] == "alpha"]
    assert colours == [figures.OVER_TRAINED_COLOUR, figures.HEALTHY_COLOURS[0], figures.UNDER_TRAINED_COLOUR]


def _badge(status_line) -> str:
    return next(component.children for component in status_line._traverse()
                if type(component).__name__ == "Badge")


def test_a_job_that_dies_redraws_the_status_line_and_badge_and_picker_agree(dashboard_data):
    """A job that dies changes no file: the version must still move, or the badge keeps 'running' while the
    picker's label says 'interrupted'."""
    update_run(data.paths("demo"), status="running")
    with job_lock(data.paths("demo"), "training"):
        running = shell.refresh_version(1, "demo", None)
        options, _, _ = shell.refresh_runs(1, None, None, "demo", [], None)
        assert _label(options[0]).startswith("demo — running")
        assert _badge(shell.run_status("demo", running)) == "running"
    died = shell.refresh_version(2, "demo", running)
    assert died not in (no_update, running)
    options, _, _ = shell.refresh_runs(2, None, None, "demo", options, None)
    assert _label(options[0]).startswith("demo — interrupted")
    assert _badge(shell.run_status("demo", died)) == "interrupted"


def test_the_status_line_follows_a_queued_job_s_place_in_line(dashboard_data):
    """A place in line is in no file of the run: the version must still move when it changes."""
    from spectrascope.runs import jobs_root
    from spectrascope.runs.locks import held

    update_run(data.paths("demo"), status="queued")
    waiting = data.version("demo")
    jobs_root(dashboard_data).mkdir(parents=True, exist_ok=True)
    with held(jobs_root(dashboard_data) / f"{time.time_ns():020d}-demo.wait"):
        in_line = data.version("demo")
        assert in_line != waiting
        assert "Queued (next in line)" in json.dumps(shell.run_status("demo", in_line).to_plotly_json(), default=str)


def test_a_transformer_s_layers_are_picked_block_by_block_and_a_sequential_s_from_a_plain_list():
    layers = ["transformer.wte", "transformer.h.0.attn.q_proj", "transformer.h.0.mlp.fc",
              "transformer.h.1.attn.q_proj", "transformer.h.1.mlp.fc", "lm_head"]
    options = components.layer_options(layers)
    headings = [option["value"] for option in options if option.get("disabled")]
    assert headings == [components.BLOCK_HEADING + "transformer.h.0", components.BLOCK_HEADING + "transformer.h.1"]
    choosable = [option for option in options if not option.get("disabled")]
    assert [option["value"] for option in choosable] == layers  # network order, every layer once
    assert all(option.get("search", option["label"]) == option["value"] for option in choosable)  # typing: the name
    assert _label(json.loads(to_json_plotly(options[2]))) == "transformer.h.0 .attn.q_proj"  # the whole name
    assert options.index(choosable[1]) == headings_at(options, "transformer.h.0") + 1
    assert components.layer_options(["0", "2", "4"]) == [{"label": name, "value": name} for name in ("0", "2", "4")]


def headings_at(options: list[dict], block: str) -> int:
    return next(index for index, option in enumerate(options) if option["value"] == components.BLOCK_HEADING + block)


def _resume_buttons(status_line) -> list:
    return [component.id for component in status_line._traverse()
            if isinstance(getattr(component, "id", None), dict) and component.id.get("type") == jobs_panel.RESUME_RUN]


def test_a_training_that_stopped_offers_resume_and_resume_says_why_it_cannot(dashboard_data):
    from app_views import triggered_by

    update_run(data.paths("demo"), status="running")  # and no process holds its lock: it died
    status_line = shell.run_status("demo", None)
    assert _resume_buttons(status_line) == [{"type": jobs_panel.RESUME_RUN, "run": "demo"}]
    assert "spectrascope submit train --resume --run-id demo" in json.dumps(status_line.to_plotly_json(), default=str)
    update_run(data.paths("demo"), status="completed")
    assert _resume_buttons(shell.run_status("demo", None)) == []
    with triggered_by('{"run":"demo","type":"resume-run"}.n_clicks', 1):
        request, said = jobs_panel.resume_run([1])
    assert request is no_update and said == "Resume refused: run 'demo' is complete: nothing to resume"
    assert read_run(data.paths("demo")).status == "completed"  # nothing was queued


def test_a_model_of_repeated_blocks_gets_alpha_by_depth_and_rows_by_matrix_kind(dashboard_data):
    import pandas as pd

    shutil.copytree(dashboard_data / "runs" / "demo", dashboard_data / "runs" / "blocks")
    path = data.paths("blocks").layers_csv
    table = pd.read_csv(path, keep_default_na=False)
    kinds = ("attn.q", "attn.k", "attn.v", "mlp.up", "mlp.down")
    names = {layer: f"model.layers.{i // len(kinds)}.{kinds[i % len(kinds)]}"
             for i, layer in enumerate(dict.fromkeys(table["layer"]))}
    table.assign(layer=table["layer"].map(names)).to_csv(path, index=False)
    last = data.analysed_epochs("blocks")[-1]

    section, rows_box, marks, low, high, value = alpha.depth_controls("blocks", None, alpha.TAB_ID, None)
    assert section == "" and rows_box != "d-none" and (low, high, value) == (0, last, last) and marks[last] == str(last)
    depth = alpha.depth_figure("blocks", 1, alpha.TAB_ID, None)
    assert [trace.name for trace in depth.data] == list(kinds) and "at epoch 1" in depth.layout.title.text
    heatmap, _ = alpha.alpha_figures("blocks", None, alpha.TAB_ID, "kind")
    assert list(heatmap.data[0].y)[:2] == ["model.layers.0.attn.q", "model.layers.1.attn.q"]
    assert alpha.depth_controls("demo", None, alpha.TAB_ID, None)[:2] == ("d-none", "d-none")  # ResNet: no depth
