"""The frame around the tabs: run picker, run status, live refresh, and the tab strip."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc
from plotly.io.json import to_json_plotly

from app import auth, components, data, delete_run, exports, jobs_panel, run_list
from app.ids import LIVE_INTERVAL, RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import non_finite_note, unreadable_files_shown
from app.tabs import alpha, compare, esd, health, metrics, training, weights
from spectrascope import jobs
from spectrascope.runs import ACTIVE_STATUSES

TABS = (training, weights, esd, alpha, health, compare, metrics)
LIVE_MILLISECONDS = 2000
STATUS_COLOURS = {"queued": "secondary", "running": "primary", "completed": "success", "failed": "danger",
                  "cancelled": "warning", "interrupted": "warning"}
RUN_PROBLEMS = "run-problems"
RUN_STATUS_FILTER = "run-status-filter"
RUN_SORT = "run-sort"
RUN_STATUS = "run-status"
JOB_BUTTONS = "job-buttons"


def _who_is_logged_in() -> html.Small | None:
    user = auth.current_user()
    if user is None:
        return None
    return html.Small([html.I(className="bi bi-person me-1"), f"{user.name} · {user.role}"],
                      className="text-light ms-3")


def layout() -> html.Div:
    header = dbc.Navbar(dbc.Container([
        dbc.NavbarBrand([html.I(className="bi bi-activity me-2"), "spectrascope"], className="fw-bold"),
        html.Div([
            html.Div([
                dcc.Dropdown(id=RUN_PICKER, placeholder="no runs yet", clearable=False, optionHeight=48,
                             style={"minWidth": "27rem"}),
                dcc.Dropdown(id=RUN_STATUS_FILTER, options=list(run_list.STATUSES), multi=True,
                             placeholder="any status", style={"minWidth": "9.5rem"}, className="ms-2"),
                dcc.Dropdown(id=RUN_SORT, options=[{"label": text, "value": key}
                                                   for key, text in run_list.SORTS.items()],
                             value="newest", clearable=False, style={"minWidth": "10.5rem"}, className="ms-2"),
            ], className="d-flex"),
            html.Small(id=RUN_PROBLEMS, className="d-block mt-1 text-warning"),
        ], className="me-auto ms-3"),
        html.Div([jobs_panel.buttons(), delete_run.button()], id=JOB_BUTTONS,  # hidden from viewers: their clicks
                 className="d-none" if auth.refusal() else "d-flex flex-shrink-0 text-nowrap"),  # would be refused
        _who_is_logged_in(),
    ], fluid=True), color="dark", dark=True, className="mb-2")
    return html.Div([
        header,
        dbc.Container([
            html.Div(id=RUN_STATUS),
            jobs_panel.layout(),
            delete_run.modal(),
            exports.error_alert(),
            html.Div([  # the export bar sits at the right end of the tab strip, shifting nothing
                dbc.Tabs([dbc.Tab(tab.layout(), label=tab.LABEL, tab_id=tab.TAB_ID) for tab in TABS],
                         id=TAB_STRIP, active_tab=training.TAB_ID),
                html.Div(exports.layout(), className="position-absolute top-0 end-0 mt-1",
                         style={"maxWidth": "55%"}),
            ], className="position-relative"),
        ], fluid=True),
        dcc.Interval(id=LIVE_INTERVAL, interval=LIVE_MILLISECONDS),
        dcc.Store(id=RUN_VERSION),
    ])


def unreadable_note(problems: list[tuple[str, str]]) -> str | None:
    """The line under the picker naming the run folders it cannot list, so a damaged run is not just missing."""
    if not problems:
        return None
    count = "1 run folder is not listed" if len(problems) == 1 else f"{len(problems)} run folders are not listed"
    return f"{count}: " + "; ".join(f"{name} ({why})" for name, why in problems)


def refresh_runs(n_intervals, statuses, sort, current, options, note):
    """Run picker options (filtered and ordered as asked) and the note on unreadable runs, each only when it
    changed, and the newest run when none is chosen."""
    records, problems = data.runs_and_problems()
    fresh = json.loads(to_json_plotly(run_list.options([run_list.summarise(r) for r in records], statuses, sort,
                                                       current)))  # as the browser sends them back
    ids = [record.id for record in records]
    value = current if current in ids else (ids[0] if ids else None)
    fresh_note = unreadable_note(problems)
    return ((fresh if fresh != options else no_update), (value if value != current else no_update),
            (fresh_note if fresh_note != note else no_update))


def refresh_version(n_intervals, run_id, current):
    """A new value only when the run's files changed, so the tabs redraw only then."""
    version = data.version(run_id) if run_id else None
    return version if version != current else no_update


def _progress_bar(done, total, label: str, colour: str, animated: bool) -> html.Div:
    """The label above a thin bar: inside the bar it is cut off (or unseen at 0%)."""
    value = 100 * done / total if total else 0
    return html.Div([html.Small(label, className="text-muted"),
                     dbc.Progress(value=value, color=colour, striped=animated, animated=animated,
                                  style={"height": "6px"}, className="mb-1")])


@unreadable_files_shown(lambda message: dbc.Alert(message, color="danger"))
def run_status(run_id, version):
    if not run_id:
        return dbc.Alert(["No runs yet. Press ", html.B("New run"), " to train the demo, or run ",
                          html.Code("spectrascope train --preset demo"), "."], color="info")
    record = data.run(run_id)
    if record is None:
        return dbc.Alert(f"Run {run_id} cannot be read: its run.json is missing or not valid JSON.", color="danger")
    status, progress, analysis = record.status, record.progress, record.analysis_state
    parts = [dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary"), className="me-2"),
             html.Small([f"{record.kind} · preset {record.preset or '—'} · created ",
                         components.relative_time(record.created, datetime.now(timezone.utc))],
                        className="text-muted")]
    bars = []
    if record.kind != "imported" and progress.total_epochs:
        done = progress.epoch or 0
        bars.append(_progress_bar(done, progress.total_epochs, f"training {done}/{progress.total_epochs}",
                                  "primary", status == "running"))
    checkpoints = data.checkpoint_count(run_id)
    if checkpoints and (record.analysis is not None or status in ACTIVE_STATUSES):
        analysed = len(data.analysed_epochs(run_id))
        label = f"analysed {analysed} of {checkpoints} checkpoints"
        if analysis.status == "running" and analysis.layers_total:  # a big model: where inside the checkpoints
            label += f" · layer {analysis.layers_done or 0} of {analysis.layers_total} under way"
        bars.append(_progress_bar(analysed, checkpoints, label, "info", analysis.status == "running"))
    messages = []
    if status == "queued":
        place = jobs.place_in_line(run_id)
        where = f" ({place})" if place else ""
        why = f" ({record.error})" if record.error else ""  # a team job whose worker was lost says so
        messages.append(dbc.Alert(f"Queued{where}: this run starts when a job slot is free{why}; the jobs list "
                                  "above shows what runs now.", color="secondary"))
    if status == "failed":
        messages.append(dbc.Alert(f"Training failed: {record.error or 'no message recorded'}", color="danger"))
    elif status == "interrupted" and jobs.job_claims_run(run_id):  # a team's lost worker: failover is coming
        messages.append(dbc.Alert("Training stopped: the worker running it was lost. Another worker takes the "
                                  "job over within a minute and goes on from the last complete epoch.",
                                  color="warning"))
    elif status == "interrupted" and checkpoints:
        messages.append(dbc.Alert(["Training stopped without finishing (its process died). Continue it with ",
                                   html.Code(f"spectrascope train --resume --run-id {run_id}"), "."], color="warning"))
    elif status == "interrupted":
        messages.append(dbc.Alert("This run was queued but its job never started or died while it waited "
                                  "(see job.log in the run folder). Start a new run.", color="warning"))
    non_finite = data.non_finite_from(run_id)
    if non_finite is not None and status != "failed":  # a failed run's error already says it
        messages.append(dbc.Alert(non_finite_note(non_finite), color="danger"))
    if analysis.status == "failed" and analysis.error:
        messages.append(dbc.Alert(f"The analysis failed: {analysis.error}", color="danger"))
    if analysis.errors:
        detail = "; ".join(f"epoch {epoch}: {message}" for epoch, message in analysis.errors.items())
        messages.append(dbc.Alert(f"Some epochs could not be analysed — {detail}", color="warning"))
    return html.Div([html.Div(parts, className="mb-2"), dbc.Row([dbc.Col(bar, md=6) for bar in bars]), *messages],
                    className="mb-2")


def register(app) -> None:
    app.callback(Output(RUN_PICKER, "options"), Output(RUN_PICKER, "value"), Output(RUN_PROBLEMS, "children"),
                 Input(LIVE_INTERVAL, "n_intervals"), Input(RUN_STATUS_FILTER, "value"), Input(RUN_SORT, "value"),
                 State(RUN_PICKER, "value"), State(RUN_PICKER, "options"),
                 State(RUN_PROBLEMS, "children"))(refresh_runs)
    app.callback(Output(RUN_VERSION, "data"), Input(LIVE_INTERVAL, "n_intervals"), Input(RUN_PICKER, "value"),
                 State(RUN_VERSION, "data"))(refresh_version)
    app.callback(Output(RUN_STATUS, "children"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"))(run_status)
    for tab in TABS:
        tab.register(app)
    jobs_panel.register(app)
    delete_run.register(app)
    exports.register(app)
