"""The page's Download menu and Report button: each starts an export job (the same machinery as training and
analysis), the job list shows it, and the finished file is offered from the run's exports/ folder — the same
file as `spectrascope export` writes."""
from __future__ import annotations

import json

import pytest

from app import data, exports, jobs_panel
from app.factory import create_app
from app_views import triggered_by
from helpers import spectrascope, wait_for
from spectrascope.runs import read_run

JOB_WAIT = 180


def start(component_id: str, tab: str, esd_layer=None, weights_layer=None, kind="weight"):
    with triggered_by(f"{component_id}.n_clicks", 1):
        return exports.start_export(None, None, None, None, "demo", tab, esd_layer, weights_layer, kind)


def export_ended(run_id: str = "demo") -> str | None:
    status = read_run(data.paths(run_id)).export_state.status
    return status if status in ("completed", "failed", "cancelled") else None


def _text(component) -> str:
    return json.dumps(component.to_plotly_json(), default=str, ensure_ascii=False) if component else ""


@pytest.fixture
def client(dashboard_data):
    return create_app().server.test_client()


def test_a_download_from_the_esd_tab_is_the_file_the_command_writes(dashboard_data, client, tmp_path):
    layer = data.layer_names("demo")[-1]
    job, error, error_shown = start(exports.EXPORT_ITEMS["gif"], "esd", esd_layer=layer)
    assert (job["command"], error, error_shown) == ("export", None, False)
    name = f"esd-{layer}.gif"
    assert ("--to-run", name) == tuple(job["args"][job["args"].index("--to-run"):][:2])
    assert any(command == "export" for _, command, _, _ in jobs_panel.active_jobs(data.runs()))  # in the job list
    wait_for(export_ended, JOB_WAIT, "the export job to end")
    assert export_ended() == "completed", read_run(data.paths("demo")).export_state

    offered = _text(exports.offer("demo", "v"))
    assert f"/exports/demo/{name}" in offered and name in offered
    downloaded = client.get(f"/exports/demo/{name}")
    assert downloaded.status_code == 200 and "attachment" in downloaded.headers["Content-Disposition"]
    by_hand = spectrascope("export", "--run", "demo", "--view", "esd", "--layer", layer, "--format", "gif",
                           "--out", tmp_path / "by-hand.gif", "--data-dir", dashboard_data)
    assert by_hand.returncode == 0, by_hand.stderr
    assert downloaded.data == (tmp_path / "by-hand.gif").read_bytes()


def test_the_report_button_writes_the_run_s_report_and_offers_it(dashboard_data, client):
    job, error, _ = start(exports.REPORT_BUTTON, "alpha")
    assert (job["command"], tuple(job["args"][-2:]), error) == ("report", ("--to-run", "report.html"), None)
    wait_for(export_ended, JOB_WAIT, "the report job to end")
    state = read_run(data.paths("demo")).export_state
    assert (state.status, state.command, state.frames_done) == ("completed", "report", state.frames_total)
    assert state.frames_total == len(data.layer_names("demo"))  # progress counted in layers drawn
    assert "/exports/demo/report.html" in _text(exports.offer("demo", "v"))
    page = client.get("/exports/demo/report.html").data.decode()
    assert page.startswith("<!DOCTYPE html>") and "demo" in page and "Last epoch" in page


def test_an_export_that_fails_says_why_where_the_file_would_be(dashboard_data):
    job, _, _ = start(exports.EXPORT_ITEMS["html"], "weights", weights_layer="no.such.layer")
    assert job["command"] == "export"
    wait_for(export_ended, JOB_WAIT, "the export job to end")
    assert export_ended() == "failed"
    shown = _text(exports.offer("demo", "v"))
    assert "histogram-no.such.layer.html failed" in shown and "no analysed layer 'no.such.layer'" in shown, shown


def test_the_bar_shows_on_the_tabs_it_exports_and_refuses_what_it_cannot_start(dashboard_data):
    assert exports.bar_shown("training")[0] == "d-none" and exports.bar_shown("metrics")[0] == "d-none"
    for tab in ("weights", "esd", "alpha"):
        assert exports.bar_shown(tab)[0] != "d-none"
    with triggered_by(f"{exports.REPORT_BUTTON}.n_clicks", 1):
        assert exports.start_export(None, None, None, 1, None, "alpha", None, None, "weight")[1:] == (
            "Choose a run to export first", True)
        assert "no run 'ghost'" in exports.start_export(None, None, None, 1, "ghost", "alpha", None, None,
                                                        "weight")[1]
    assert exports.offer("demo", "v") is None  # nothing exported yet


@pytest.mark.parametrize("path", ["/exports/demo/none.gif", "/exports/demo/..%2Frun.json", "/exports/demo/../run.json",
                                  "/exports/..%2Fdemo/run.json", "/exports/bad%20id/x.gif"])
def test_only_files_of_a_run_s_exports_folder_are_served(client, path):
    """A missing file is a 404; a path reaching out of exports/ never matches the route (Dash answers it with
    the page itself)."""
    response = client.get(path)
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert b"format_version" not in response.data
    assert response.status_code == 404 or b"<!DOCTYPE html>" in response.data
