"""The Health tab's callbacks and the run picker's health line, on real analysed runs."""
from __future__ import annotations

import json

from dash import no_update
from plotly.io.json import to_json_plotly

from app import data, run_list
from app.tabs import esd, health
from app_views import triggered_by
from helpers import Plotted
from spectrascope.health.monitor import recorded_events
from spectrascope.health.rules import SEVERITIES
from spectrascope.runs import read_run, run_paths


def texts(component) -> str:
    return json.dumps(json.loads(to_json_plotly(component)))


def test_the_timeline_and_table_show_the_events_the_analysis_wrote_filtered(dashboard_data):
    events = recorded_events(run_paths(dashboard_data, "demo"))
    assert events, "the demo's analysis wrote no events.csv"
    timeline, rows, summary = Plotted(health).health_view("demo", None, health.TAB_ID, [], list(SEVERITIES))
    markers = [trace for trace in timeline.data if trace.mode == "markers"]
    assert sorted(trace.name for trace in markers) == sorted({e.kind for e in events})
    assert sum(len(trace.y) for trace in markers) == len(events) == len(rows)
    assert list(timeline.layout.yaxis.ticktext) == data.layer_names("demo")  # every layer a row
    assert {(e.layer, e.epoch) for e in events} == {(point[0], x) for trace in markers
                                                   for point, x in zip(trace.customdata, trace.x)}
    assert [row["epoch"] for row in rows] == sorted((e.epoch for e in events), reverse=True)
    assert "events in all" in texts(summary)
    kinds = sorted({e.kind for e in events})[:1]
    _, only, _ = health.health_view("demo", None, health.TAB_ID, kinds, ["info"])
    assert only and {(row["kind"], row["severity"]) for row in only} == {(kinds[0], "info")}
    assert health.health_view("demo", None, "training", [], ["info"]) == (no_update,) * 3
    _, nothing, _ = health.health_view("demo", None, health.TAB_ID, [], [])
    assert nothing == []


def test_an_event_opens_its_layers_esd_at_its_epoch():
    click = {"points": [{"x": 2, "y": 4, "customdata": ["layer1.0.conv2", "warning", "alpha 1.9 < 2"]}]}
    with triggered_by(f"{health.HEALTH_TIMELINE}.clickData"):
        assert health.open_event(click, None, None) == (esd.TAB_ID, "layer1.0.conv2", 2)
    rows = [{"epoch": 3, "layer": "fc"}, {"epoch": 1, "layer": "conv1"}]
    with triggered_by(f"{health.HEALTH_TABLE}.active_cell"):
        assert health.open_event(click, {"row": 1, "column": 0}, rows) == (esd.TAB_ID, "conv1", 1)


def test_the_mute_switch_shows_where_alerts_go_and_writes_the_run(dashboard_data, monkeypatch):
    assert health.mute_switch("demo", None) == (False, "d-none")  # no alert URL: nothing to mute
    monkeypatch.setenv("SPECTRASCOPE_ALERT_URL", "http://127.0.0.1:9/hook")
    assert health.mute_switch("demo", None) == (False, "")
    assert health.set_muted(True, "demo") == "alerts muted for this run"
    assert read_run(run_paths(dashboard_data, "demo")).alerts_muted is True
    assert health.mute_switch("demo", None) == (True, "")


def test_the_run_picker_says_each_runs_health_at_its_latest_epoch(dashboard_data):
    record = read_run(run_paths(dashboard_data, "demo"))
    summary = run_list.summarise(record)
    assert summary.health and (summary.health.startswith("healthy at epoch 3") or "since epoch" in summary.health)
    option = run_list.options([summary], None, "newest", None)[0]
    assert summary.health in texts(option["label"]) and summary.health in option["search"]


def test_a_run_analysed_before_events_existed_shows_its_events_derived_from_its_tables(dashboard_data):
    paths = run_paths(dashboard_data, "demo")
    written = recorded_events(paths)
    paths.events_csv.unlink()
    assert written and data.events("demo") == written


def test_the_table_lists_the_newest_events_and_says_when_it_leaves_older_ones_out(dashboard_data, monkeypatch):
    every = health.health_view("demo", None, health.TAB_ID, [], list(SEVERITIES))[1]
    monkeypatch.setattr(health, "TABLE_ROWS", 3)
    _, rows, summary = health.health_view("demo", None, health.TAB_ID, [], list(SEVERITIES))
    assert rows == every[:3] and len(every) > 3
    assert f"the table lists the newest 3 of the {len(every)} shown" in texts(summary)


def test_the_summary_says_which_severities_to_tick_for_the_layers_it_counts():
    import pandas as pd

    from spectrascope.health.events import derive_events
    from spectrascope.health.rules import Rules

    never_learned = pd.DataFrame([{"epoch": epoch, "layer": "fc", "layer_type": "dense", "num_evals": 100,
                                   "alpha": alpha, "D": 0.05, "stable_rank": 10.0, "lambda_max": 3.0}
                                  for epoch, alpha in enumerate([12.0, 9.0, 8.5])])
    events = derive_events(never_learned, Rules())  # above the band from epoch 0: an info event, counted later
    hidden = texts(health.summary(events, 2, "epoch", severities=["warning", "critical"]))
    assert "1 layer under-trained since epoch 0" in hidden and "tick info to see all it counts" in hidden
    assert "tick info" not in texts(health.summary(events, 2, "epoch", severities=list(SEVERITIES)))
