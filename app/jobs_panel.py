"""Starting and following jobs from the page: the "New run" and "Analyse" forms, the list of active
jobs with progress and cancel, and the background callback that follows the job this page started."""
from __future__ import annotations

from dataclasses import asdict

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
import dash_bootstrap_components as dbc

from analysis.options import BACKENDS
from analysis.run_format import ACTIVE_STATUSES, job_is_active
from app import data, jobs
from spectrascope.errors import UserError
from training.config import HYPERPARAMETERS, PRESETS

FORM_FIELDS = (  # (TrainConfig field, label, input type)
    ("epochs", "Epochs", "number"), ("batch_size", "Batch size", "number"), ("lr", "Peak learning rate", "number"),
    ("width", "Width (channels of the first stage)", "number"), ("mixup_alpha", "Mixup alpha (0 = off)", "number"),
    ("weight_decay", "Weight decay", "number"), ("seed", "Seed", "number"), ("device", "Device", "text"),
)
FIELD_TYPES = {spec.name: spec.type for spec in HYPERPARAMETERS}


def buttons() -> html.Div:
    return html.Div([
        dbc.Button([html.I(className="bi bi-plus-lg me-1"), "New run"], id="new-run-open", color="primary",
                   size="sm", className="me-2"),
        dbc.Button([html.I(className="bi bi-cpu me-1"), "Analyse"], id="analyse-open", color="secondary", size="sm"),
    ], className="d-flex")


def _field(name: str, label: str, kind: str) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=f"new-run-{name}"),
                    dbc.Input(id=f"new-run-{name}", type=kind, size="sm", step="any")], md=6, className="mb-2")


def _new_run_modal() -> dbc.Modal:
    body = [
        dbc.Row([
            dbc.Col([dbc.Label("Preset", html_for="new-run-preset"),
                     dcc.Dropdown(id="new-run-preset", options=list(PRESETS), value="demo", clearable=False)], md=6),
            dbc.Col([dbc.Label("Run id (optional)", html_for="new-run-id"),
                     dbc.Input(id="new-run-id", placeholder="<preset>-<date>-<time>", size="sm")], md=6),
        ], className="mb-2"),
        dbc.Row([_field(*spec) for spec in FORM_FIELDS]),
        dbc.Alert(id="new-run-error", color="danger", is_open=False, className="mt-2 mb-0"),
    ]
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("New training run")),
        dbc.ModalBody(body),
        dbc.ModalFooter(dbc.Button("Start", id="new-run-submit", color="primary")),
    ], id="new-run-modal", is_open=False, size="lg")


def _analyse_modal() -> dbc.Modal:
    body = [
        html.P(id="analyse-target", className="text-muted"),
        dbc.Label("Backend"),
        dbc.RadioItems(id="analyse-backend", options=list(BACKENDS), value="fast", inline=True),
        dbc.Switch(id="analyse-randomize", label="also compare with randomized ESDs (correlation traps)", value=False),
        dbc.Alert(id="analyse-error", color="danger", is_open=False, className="mt-2 mb-0"),
    ]
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Analyse run")),
        dbc.ModalBody(body),
        dbc.ModalFooter(dbc.Button("Start analysis", id="analyse-submit", color="primary")),
    ], id="analyse-modal", is_open=False)


def layout() -> html.Div:
    return html.Div([
        _new_run_modal(),
        _analyse_modal(),
        dcc.Store(id="job-request"),
        html.Div([html.Small(id="job-outcome", className="text-muted")]),
        html.Div(dbc.Progress(id="job-progress", value=0, label="", striped=True, animated=True),
                 id="job-progress-box", style={"display": "none"}, className="mb-2"),
        html.Div(id="job-list"),
        dcc.Store(id="job-list-shown"),
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
    """Validate the form and queue the run; errors stay in the form, named."""
    try:
        job = jobs.submit_training(preset, (run_id or "").strip() or None, **form_overrides(values))
    except UserError as exc:
        return no_update, str(exc), True, no_update, no_update
    jobs.start_detached(job)
    return False, "", False, asdict(job), job.run_id


def open_analyse(n_clicks, run_id):
    return bool(n_clicks), (f"Run: {run_id}" if run_id else "No run selected")


def submit_analysis(n_clicks, run_id, backend, randomize):
    if not run_id:
        return no_update, "Choose a run to analyse first", True, no_update
    try:
        job = jobs.submit_analysis(run_id, backend, bool(randomize))
    except UserError as exc:
        return no_update, str(exc), True, no_update
    jobs.start_detached(job)
    return False, "", False, asdict(job)


# --- following jobs ------------------------------------------------------------------------------


def follow_job(set_progress, request):
    """Background callback: the progress bar of the job this page started, until it ends."""
    job = jobs.Job.from_dict(request)
    status = jobs.watch(job, lambda fraction, text: set_progress((round(100 * fraction), text)))
    return f"Last job from this page: {job.command} of {job.run_id} — {status}"


def active_jobs(records: list[dict]) -> list[tuple[str, str, float, str]]:
    """(run id, command, fraction, text) for every run with training or analysis queued or running."""
    found = []
    for record in records:
        if record.get("status") in ACTIVE_STATUSES:
            found.append((record["id"], "train", *jobs.progress(record, "train")))
        elif (record.get("analysis") or {}).get("status") in ACTIVE_STATUSES:
            found.append((record["id"], "analyze", *jobs.progress(record, "analyze")))
    return found


def _cancel_button(run_id: str, dashboard_job: bool):
    """Only the dashboard's own jobs listen for a cancel request; a job started from a shell is stopped there."""
    if not dashboard_job:
        return html.Small("started outside the dashboard", className="text-muted")
    return dbc.Button("Cancel", id={"type": "cancel-job", "run": run_id}, color="danger", outline=True, size="sm")


def job_list(n_intervals, shown):
    """The active jobs, re-sent only when they changed (a list redrawn under the pointer can swallow a click)."""
    found = [(run_id, fraction, text, job_is_active(data.paths(run_id), "job"))
             for run_id, _, fraction, text in active_jobs(data.runs())]
    signature = repr(found)
    if signature == shown:
        return no_update, no_update
    rows = [
        dbc.ListGroupItem(dbc.Row([
            dbc.Col(html.B(run_id), md=2),
            dbc.Col(dbc.Progress(value=100 * fraction, label=text, striped=True, animated=True), md=8),
            dbc.Col(_cancel_button(run_id, ours), md=2),
        ], className="align-items-center"))
        for run_id, fraction, text, ours in found
    ]
    return (dbc.ListGroup(rows, className="mb-2") if rows else None), signature


def cancel_job(n_clicks):
    if not ctx.triggered_id or not any(n_clicks):
        return no_update
    jobs.request_cancel(ctx.triggered_id["run"])
    return f"Cancelling the job of {ctx.triggered_id['run']}…"


def register(app) -> None:
    app.callback([Output(f"new-run-{name}", "value") for name, _, _ in FORM_FIELDS],
                 Input("new-run-preset", "value"))(preset_defaults)
    app.callback(Output("new-run-modal", "is_open"), Input("new-run-open", "n_clicks"),
                 prevent_initial_call=True)(open_new_run)
    app.callback(Output("new-run-modal", "is_open", allow_duplicate=True), Output("new-run-error", "children"),
                 Output("new-run-error", "is_open"), Output("job-request", "data"),
                 Output("run-picker", "value", allow_duplicate=True),
                 Input("new-run-submit", "n_clicks"), State("new-run-preset", "value"), State("new-run-id", "value"),
                 *[State(f"new-run-{name}", "value") for name, _, _ in FORM_FIELDS],
                 prevent_initial_call=True)(submit_new_run)
    app.callback(Output("analyse-modal", "is_open"), Output("analyse-target", "children"),
                 Input("analyse-open", "n_clicks"), State("run-picker", "value"),
                 prevent_initial_call=True)(open_analyse)
    app.callback(Output("analyse-modal", "is_open", allow_duplicate=True), Output("analyse-error", "children"),
                 Output("analyse-error", "is_open"), Output("job-request", "data", allow_duplicate=True),
                 Input("analyse-submit", "n_clicks"), State("run-picker", "value"), State("analyse-backend", "value"),
                 State("analyse-randomize", "value"), prevent_initial_call=True)(submit_analysis)
    app.callback(Output("job-outcome", "children"), Input("job-request", "data"), background=True,
                 progress=[Output("job-progress", "value"), Output("job-progress", "label")],
                 running=[(Output("job-progress-box", "style"), {"display": "block"}, {"display": "none"})],
                 prevent_initial_call=True)(follow_job)
    app.callback(Output("job-list", "children"), Output("job-list-shown", "data"),
                 Input("live-interval", "n_intervals"), State("job-list-shown", "data"))(job_list)
    app.callback(Output("job-outcome", "children", allow_duplicate=True),
                 Input({"type": "cancel-job", "run": ALL}, "n_clicks"), prevent_initial_call=True)(cancel_job)
