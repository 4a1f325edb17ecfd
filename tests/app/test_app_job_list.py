"""The job list and status line: state and place in line in words, the whole progress line readable,
"cancelling" only while it is true, readable times, and a queued run's page saying what it waits for."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from plotly.io.json import to_json_plotly

from app import components, data, jobs_panel, shell
from spectrascope import settings
from spectrascope.runs import job_lock, jobs_root, update_run
from spectrascope.runs.locks import held


def _text(component) -> str:
    return json.dumps(component.to_plotly_json(), default=str, ensure_ascii=False)


def waiting_ticket(run_id: str, stamp: int):
    """A live waiter's place in line, as the job queue keeps it (a locked, time-stamped ticket)."""
    folder = jobs_root(settings.data_dir())
    folder.mkdir(parents=True, exist_ok=True)
    return held(folder / f"{stamp:020d}-{run_id}.wait")


def test_queued_jobs_say_their_place_in_line(dashboard_data):
    update_run(data.paths("demo"), status="queued")
    with job_lock(data.paths("demo"), "job"), waiting_ticket("other", 1), waiting_ticket("demo", 2):
        assert jobs_panel.job_state("demo", 0.0, True) == ("queued: #2 in line", "secondary")
        rows, _ = jobs_panel.job_list(1, None)
        assert "queued: #2 in line" in _text(rows) and "queued: waiting for a free job slot" in _text(rows)
        assert "Queued (#2 in line): this run starts when a job slot is free" in _text(shell.run_status("demo", None))
    with waiting_ticket("demo", 3):
        assert jobs_panel.job_state("demo", 0.0, True) == ("queued: next in line", "secondary")


def test_a_dead_waiters_ticket_gives_no_place_in_line(dashboard_data):
    folder = jobs_root(settings.data_dir())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{1:020d}-demo.wait").touch()  # nobody holds it
    assert jobs_panel.job_state("demo", 0.5, True) == ("running", "primary")


def test_the_progress_line_is_text_beside_the_bar_not_inside_it(dashboard_data):
    update_run(data.paths("demo"), status="running", progress={"epoch": 3, "total_epochs": 21})
    with job_lock(data.paths("demo"), "training"), job_lock(data.paths("demo"), "job"):
        rows, _ = jobs_panel.job_list(1, None)
    listing = rows.to_plotly_json()
    progress = [c for c in rows._traverse() if type(c).__name__ == "Progress"]
    assert len(progress) == 1 and not getattr(progress[0], "label", None)
    assert "training: epoch 3 of 21" in json.dumps(listing, default=str)


def test_cancelling_shows_in_the_row_only_until_the_job_ends(dashboard_data):
    update_run(data.paths("demo"), status="running")
    with job_lock(data.paths("demo"), "training"), job_lock(data.paths("demo"), "job"):
        data.paths("demo").cancel_request.touch()
        rows, _ = jobs_panel.job_list(1, None)
        assert "cancelling…" in _text(rows) and "cancel-job" not in _text(rows)
    data.paths("demo").cancel_request.unlink()
    update_run(data.paths("demo"), status="cancelled")
    rows, _ = jobs_panel.job_list(2, None)
    assert rows is None  # the job ended: no row, no message left behind


def test_times_read_as_how_long_ago_with_the_full_time_on_hover():
    now = datetime(2026, 12, 1, 21, 30, tzinfo=timezone.utc)
    for ago, text in ((timedelta(seconds=20), "just now"), (timedelta(minutes=3), "3 min ago"),
                      (timedelta(hours=5, minutes=2), "5 h ago"), (timedelta(days=3), "3 days ago")):
        span = components.relative_time((now - ago).isoformat(), now)
        assert span.children == text
    assert components.relative_time("2026-12-01T21:26:00+00:00", now).title == "2026-12-01 21:26:00 UTC"
    assert components.relative_time("", now).children == "—"


def test_the_status_line_shows_created_as_time_ago(dashboard_data):
    update_run(data.paths("demo"), created=(datetime.now(timezone.utc) - timedelta(minutes=7)).isoformat())
    assert "7 min ago" in _text(shell.run_status("demo", None))


def test_a_time_written_without_its_zone_reads_as_utc():
    now = datetime(2026, 12, 1, 21, 30, tzinfo=timezone.utc)
    assert components.relative_time("2026-12-01T21:00:00", now).children == "30 min ago"
    assert components.relative_time("2026-12-01", now).children == "21 h ago"


def test_the_status_line_says_which_layer_an_analysis_of_a_big_model_is_on(dashboard_data):
    update_run(data.paths("demo"), analysis={"status": "running", "phase": "spectra", "layers_done": 31,
                                             "layers_total": 75, "layer": "model.layers.4.mlp.up_proj",
                                             "seconds_left": 190.0})
    with job_lock(data.paths("demo"), "analysis"):  # the analysis job is alive
        status = json.dumps(json.loads(to_json_plotly(shell.run_status("demo", None))), ensure_ascii=False)
    assert "layer 31 of 75 under way (model.layers.4.mlp.up_proj) · about 3 min left" in status
    update_run(data.paths("demo"), analysis={"status": "completed", "layers_done": None, "layers_total": None})
    assert "under way" not in json.dumps(shell.run_status("demo", None).to_plotly_json(), default=str)
