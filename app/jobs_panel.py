"""Starting and following jobs from the page: the "New run" and "Analyse" forms, the list of active
jobs with progress and cancel, and the background callback that follows the job this page started."""
from __future__ import annotations

import logging
from dataclasses import asdict

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
import dash_bootstrap_components as dbc

from analysis.options import BACKENDS
from app import auth, data
from app.ids import LIVE_INTERVAL, RUN_PICKER
from spectrascope import jobs, settings
from spectrascope.errors import UserError
from spectrascope.runs import RunRecord
from training.config import HYPERPARAMETERS, PRESETS

log = logging.getLogger("spectrascope.dashboard")
FORM_FIELDS = (  # (TrainConfig field, label, input type)
    ("epochs", "Epochs", "number"), ("batch_size", "Batch size", "number"), ("lr", "Peak learning rate", "number"),
    ("width", "Width (channels of the first stage)", "number"), ("mixup_alpha", "Mixup alpha (0 = off)", "number"),
    ("weight_decay", "Weight decay", "number"), ("seed", "Seed", "number"), ("device", "Device", "text"),
)
FIELD_TYPES = {spec.name: spec.type for spec in HYPERPARAMETERS}
NEW_RUN_OPEN = "new-run-open"
ANALYSE_OPEN = "analyse-open"
NEW_RUN_PRESET = "new-run-preset"
NEW_RUN_ID = "new-run-id"
NEW_RUN_FIELDS = {name: f"new-run-{name}" for name, _, _ in FORM_FIELDS}
NEW_RUN_ERROR = "new-run-error"
NEW_RUN_SUBMIT = "new-run-submit"
NEW_RUN_MODAL = "new-run-modal"
ANALYSE_TARGET = "analyse-target"
ANALYSE_BACKEND = "analyse-backend"
ANALYSE_RANDOMIZE = "analyse-randomize"
ANALYSE_ERROR = "analyse-error"
ANALYSE_SUBMIT = "analyse-submit"
ANALYSE_MODAL = "analyse-modal"
JOB_REQUEST = "job-request"
JOB_OUTCOME = "job-outcome"
JOB_PROGRESS = "job-progress"
JOB_PROGRESS_BOX = "job-progress-box"
JOB_LIST = "job-list"
JOB_LIST_SHOWN = "job-list-shown"
CANCEL_JOB = "cancel-job"  # the "type" of each job's cancel button id, {"type": CANCEL_JOB, "run": run_id}
SHOW_RUN = "show-run"  # the "type" of each job's run link, {"type": SHOW_RUN, "run": run_id}
RESUME_RUN = "resume-run"  # the "type" of a stopped run's Resume button, {"type": RESUME_RUN, "run": run_id}


def buttons() -> html.Div:
    return html.Div([
        dbc.Button([html.I(className="bi bi-plus-lg me-1"), "New run"], id=NEW_RUN_OPEN, color="primary",
                   size="sm", className="me-2"),
        dbc.Button([html.I(className="bi bi-cpu me-1"), "Analyse"], id=ANALYSE_OPEN, color="primary", outline=True,
                   size="sm"),
    ], className="d-flex")


def _field(name: str, label: str, kind: str) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=NEW_RUN_FIELDS[name]),
                    dbc.Input(id=NEW_RUN_FIELDS[name], type=kind, size="sm", step="any")], md=6, className="mb-2")


def _new_run_modal() -> dbc.Modal:
    body = [
        dbc.Row([
            dbc.Col([dbc.Label("Preset", html_for=NEW_RUN_PRESET),
                     dcc.Dropdown(id=NEW_RUN_PRESET, options=list(PRESETS), value="demo", clearable=False)], md=6),
            dbc.Col([dbc.Label("Run id (optional)", html_for=NEW_RUN_ID),
                     dbc.Input(id=NEW_RUN_ID, placeholder="<preset>-<date>-<time>", size="sm")], md=6),
        ], className="mb-2"),
        dbc.Row([_field(*spec) for spec in FORM_FIELDS]),
        dbc.Alert(id=NEW_RUN_ERROR, color="danger", is_open=False, className="mt-2 mb-0"),
    ]
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("New training run")),
        dbc.ModalBody(body),
        dbc.ModalFooter(dbc.Button("Start", id=NEW_RUN_SUBMIT, color="primary")),
    ], id=NEW_RUN_MODAL, is_open=False, size="lg")


def _analyse_modal() -> dbc.Modal:
    body = [
        html.P(id=ANALYSE_TARGET, className="text-muted"),
        dbc.Label("Backend"),
        dbc.RadioItems(id=ANALYSE_BACKEND, options=list(BACKENDS), value="fast", inline=True),
        dbc.Switch(id=ANALYSE_RANDOMIZE, label=data.RANDOMIZE_SWITCH, value=False),
        dbc.Alert(id=ANALYSE_ERROR, color="danger", is_open=False, className="mt-2 mb-0"),
    ]
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Analyse run")),
        dbc.ModalBody(body),
        dbc.ModalFooter(dbc.Button("Start analysis", id=ANALYSE_SUBMIT, color="primary")),
    ], id=ANALYSE_MODAL, is_open=False)


def layout() -> html.Div:
    return html.Div([
        _new_run_modal(),
        _analyse_modal(),
        dcc.Store(id=JOB_REQUEST),
        html.Div([html.Small(id=JOB_OUTCOME, className="text-muted")]),
        html.Div(dbc.Progress(id=JOB_PROGRESS, value=0, label="", striped=True, animated=True),
                 id=JOB_PROGRESS_BOX, style={"display": "none"}, className="mb-2"),
        html.Div(id=JOB_LIST),
        dcc.Store(id=JOB_LIST_SHOWN),
    ])


# --- forms ---------------------------------------------------------------------------------------


def preset_defaults(preset):
    config = PRESETS[preset] if preset in PRESETS else None
    return [getattr(config, name) if config else None for name, _, _ in FORM_FIELDS]


def open_new_run(n_clicks):
    return bool(n_clicks)


def form_overrides(values) -> dict:
    """The filled-in form fields as TrainConfig values (empty means the preset's value)."""
    overrides = {}
    for (name, label, _), value in zip(FORM_FIELDS, values):
        if value is None or str(value).strip() == "":
            continue
        if FIELD_TYPES[name] == "int":
            if float(value) != int(float(value)):
                raise UserError(f"{label}: expected a whole number, got {value}")
            value = int(float(value))
        overrides[name] = value.strip() if isinstance(value, str) else value
    return overrides


def submit_new_run(n_clicks, preset, run_id, *values):
    """Validate the form and queue the run; errors stay in the form, named. The page stays on the run the
    user was looking at: the new one appears in the job list, a click away."""
    if refused := auth.refusal():
        return no_update, refused, True, no_update
    try:
        job = jobs.submit_training(preset, (run_id or "").strip() or None, **form_overrides(values))
    except UserError as exc:
        return no_update, str(exc), True, no_update
    jobs.start(job)
    log.info("started training %s: spectrascope train %s", job.run_id, " ".join(job.args))
    return False, "", False, asdict(job)


def open_analyse(n_clicks, run_id):
    return bool(n_clicks), (f"Run: {run_id}" if run_id else "No run selected")


def submit_analysis(n_clicks, run_id, backend, randomize):
    if refused := auth.refusal():
        return no_update, refused, True, no_update
    if not run_id:
        return no_update, "Choose a run to analyse first", True, no_update
    try:
        job = jobs.submit_analysis(run_id, backend, bool(randomize))
    except UserError as exc:
        return no_update, str(exc), True, no_update
    jobs.start(job)
    log.info("started analysing %s: spectrascope analyze %s", job.run_id, " ".join(job.args))
    return False, "", False, asdict(job)


def resume_button(run_id: str):
    """For a training that stopped before its end, to runners: it goes on from its last complete epoch."""
    if auth.refusal():
        return None
    return dbc.Button([html.I(className="bi bi-play-fill me-1"), "Resume"], id={"type": RESUME_RUN, "run": run_id},
                      color="dark", size="sm", className="ms-2")  # dark: it stands out on the warning notice


def resume_run(n_clicks):
    """Queue the training again where it stopped (the team's workers, or this machine's runner); a refusal is
    said where the page's last job is."""
    if not ctx.triggered_id or not any(n_clicks):
        return no_update, no_update
    if refused := auth.refusal():
        return no_update, refused
    try:
        job = jobs.submit_resume(ctx.triggered_id["run"])
    except UserError as exc:
        return no_update, f"Resume refused: {exc}"
    jobs.start(job)
    log.info("resumed training %s: spectrascope train %s", job.run_id, " ".join(job.args))
    return asdict(job), no_update


# --- following jobs ------------------------------------------------------------------------------


def follow_job(set_progress, request):
    """Background callback: the progress bar of the job this page started, until it ends. Not for a team:
    it would hold a Celery worker for the job's whole wait and run; the job list follows every job."""
    job = jobs.Job.from_dict(request)
    if settings.redis_url():
        return f"Last job from this page: {job.command} of {job.run_id} — sent to the team's workers (see the jobs)"
    status = jobs.watch(job, lambda fraction, text: set_progress((round(100 * fraction), text)))
    return f"Last job from this page: {job.command} of {job.run_id} — {status}"


def active_jobs(records: list[RunRecord]) -> list[tuple[str, str, float, str]]:
    """(run id, command, fraction, text) for every run with training or analysis queued or running."""
    found = []
    for record in records:
        job = jobs.active_job(record)
        if job is not None:
            kind, fraction, text = job
            found.append((record.id, kind.command, fraction, text))
    return found


def _cancel_button(run_id: str, dashboard_job: bool):
    """Only the dashboard's own jobs listen for a cancel request; a job started from a shell is stopped there."""
    if not dashboard_job:
        return html.Small("started outside the dashboard", className="text-muted")
    if auth.refusal():
        return None
    return dbc.Button("Cancel", id={"type": CANCEL_JOB, "run": run_id}, color="danger", outline=True, size="sm")


def job_state(run_id: str, fraction: float, ours: bool) -> tuple[str, str]:
    """(badge text, colour): cancelling, queued with its place in line, or running."""
    if ours and jobs.cancelling(run_id):
        return "cancelling…", "warning"
    place = jobs.place_in_line(run_id)
    if place is not None:
        return f"queued: {place}", "secondary"
    return ("starting" if fraction == 0 else "running"), "primary"


def _job_row(run_id: str, fraction: float, text: str, ours: bool, state: tuple[str, str]) -> dbc.ListGroupItem:
    """Run, state, the whole progress line above a thin bar (a label inside a bar is cut off), cancel."""
    badge, colour = state
    action = (html.Small("cancelling…", className="text-muted") if badge == "cancelling…"
              else _cancel_button(run_id, ours))
    show = dbc.Button(run_id, id={"type": SHOW_RUN, "run": run_id}, color="link", title="show this run",
                      className="p-0 me-2 fw-bold")
    return dbc.ListGroupItem(dbc.Row([
        dbc.Col([show, dbc.Badge(badge, color=colour)], md=4),
        dbc.Col([html.Small(text, className="d-block text-muted"),
                 dbc.Progress(value=100 * fraction, style={"height": "6px"}, color=colour)], md=6),
        dbc.Col(action, md=2, className="text-end"),
    ], className="align-items-center"))


def job_list(n_intervals, shown):
    """The active jobs, re-sent only when they changed (a list redrawn under the pointer can swallow a click)."""
    found = []
    for run_id, _, fraction, text in active_jobs(data.runs()):
        ours = jobs.job_is_running(run_id)
        found.append((run_id, fraction, text, ours, job_state(run_id, fraction, ours)))
    signature = repr(found)
    if signature == shown:
        return no_update, no_update
    rows = [_job_row(*job) for job in found]
    return (dbc.ListGroup(rows, className="mb-2") if rows else None), signature


def show_run(n_clicks):
    """A job's run name in the list opens that run."""
    if not ctx.triggered_id or not any(n_clicks):
        return no_update
    return ctx.triggered_id["run"]


def cancel_job(n_clicks):
    """Ask the job to stop; its row says "cancelling…" until it ends (then the row goes, message and all)."""
    if not ctx.triggered_id or not any(n_clicks) or auth.refusal():
        return no_update
    jobs.request_cancel(ctx.triggered_id["run"])
    log.info("asked the job of %s to stop", ctx.triggered_id["run"])
    return None  # the list is drawn again at the next tick


def register(app) -> None:
    app.callback([Output(field, "value") for field in NEW_RUN_FIELDS.values()],
                 Input(NEW_RUN_PRESET, "value"))(preset_defaults)
    app.callback(Output(NEW_RUN_MODAL, "is_open"), Input(NEW_RUN_OPEN, "n_clicks"),
                 prevent_initial_call=True)(open_new_run)
    app.callback(Output(NEW_RUN_MODAL, "is_open", allow_duplicate=True), Output(NEW_RUN_ERROR, "children"),
                 Output(NEW_RUN_ERROR, "is_open"), Output(JOB_REQUEST, "data"),
                 Input(NEW_RUN_SUBMIT, "n_clicks"), State(NEW_RUN_PRESET, "value"), State(NEW_RUN_ID, "value"),
                 *[State(field, "value") for field in NEW_RUN_FIELDS.values()],
                 prevent_initial_call=True)(submit_new_run)
    app.callback(Output(ANALYSE_MODAL, "is_open"), Output(ANALYSE_TARGET, "children"),
                 Input(ANALYSE_OPEN, "n_clicks"), State(RUN_PICKER, "value"),
                 prevent_initial_call=True)(open_analyse)
    app.callback(Output(ANALYSE_MODAL, "is_open", allow_duplicate=True), Output(ANALYSE_ERROR, "children"),
                 Output(ANALYSE_ERROR, "is_open"), Output(JOB_REQUEST, "data", allow_duplicate=True),
                 Input(ANALYSE_SUBMIT, "n_clicks"), State(RUN_PICKER, "value"), State(ANALYSE_BACKEND, "value"),
                 State(ANALYSE_RANDOMIZE, "value"), prevent_initial_call=True)(submit_analysis)
    app.callback(Output(JOB_OUTCOME, "children"), Input(JOB_REQUEST, "data"), background=True,
                 progress=[Output(JOB_PROGRESS, "value"), Output(JOB_PROGRESS, "label")],
                 running=[(Output(JOB_PROGRESS_BOX, "style"), {"display": "block"}, {"display": "none"})],
                 prevent_initial_call=True)(follow_job)
    app.callback(Output(JOB_LIST, "children"), Output(JOB_LIST_SHOWN, "data"),
                 Input(LIVE_INTERVAL, "n_intervals"), State(JOB_LIST_SHOWN, "data"))(job_list)
    app.callback(Output(JOB_LIST_SHOWN, "data", allow_duplicate=True),
                 Input({"type": CANCEL_JOB, "run": ALL}, "n_clicks"), prevent_initial_call=True)(cancel_job)
    app.callback(Output(RUN_PICKER, "value", allow_duplicate=True),
                 Input({"type": SHOW_RUN, "run": ALL}, "n_clicks"), prevent_initial_call=True)(show_run)
    app.callback(Output(JOB_REQUEST, "data", allow_duplicate=True), Output(JOB_OUTCOME, "children", allow_duplicate=True),
                 Input({"type": RESUME_RUN, "run": ALL}, "n_clicks"), prevent_initial_call=True)(resume_run)
