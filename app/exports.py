"""Download the view on screen (Weights, ESD, Alpha tabs) as a GIF, MP4 or standalone HTML animation, or the
run's report: each made by a job (`spectrascope export|report --to-run`, the same machinery as training and
analysis, with its progress in the job list), its file then offered here from the run's exports/ folder."""
from __future__ import annotations

import logging
from dataclasses import asdict

from dash import Input, Output, State, ctx, html, no_update
import dash_bootstrap_components as dbc
from flask import abort, send_from_directory

from app import auth, data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.jobs_panel import JOB_REQUEST
from app.tabs import alpha, esd, weights
from spectrascope import jobs
from spectrascope.errors import UserError

log = logging.getLogger("spectrascope.dashboard")
FORMATS = {"gif": "GIF (video, any slide tool)", "mp4": "MP4 (H.264 video)", "html": "HTML (interactive, offline)"}
VIEWS = {weights.TAB_ID: "histogram", esd.TAB_ID: "esd", alpha.TAB_ID: "alpha"}  # tab -> `export --view`
EXPORT_BAR = "export-bar"
EXPORT_BUTTONS = "export-buttons"
EXPORT_ITEMS = {fmt: f"export-{fmt}" for fmt in FORMATS}
REPORT_BUTTON = "report-button"
EXPORT_OFFER = "export-offer"
EXPORT_ERROR = "export-error"
ROUTE = "/exports/<run_id>/<name>"


def layout() -> html.Div:
    menu = dbc.DropdownMenu([dbc.DropdownMenuItem(label, id=EXPORT_ITEMS[fmt]) for fmt, label in FORMATS.items()],
                            label=[html.I(className="bi bi-download me-1"), "Download this view"], size="sm",
                            color="primary", className="me-2")
    report = dbc.Button([html.I(className="bi bi-file-earmark-text me-1"), "Report"], id=REPORT_BUTTON, size="sm",
                        color="primary", outline=True, title="the whole run in one HTML file, readable offline")
    return html.Div([
        html.Div([menu, report], id=EXPORT_BUTTONS, className=BUTTONS_SHOWN),
        html.Small(id=EXPORT_OFFER, className="text-truncate"),
    ], id=EXPORT_BAR, className="d-none")


def error_alert() -> dbc.Alert:
    """Why an export could not start, above the tab strip (the bar is one line at the strip's end)."""
    return dbc.Alert(id=EXPORT_ERROR, color="danger", is_open=False, dismissable=True, className="mb-2 py-2")


BAR_SHOWN = "d-flex align-items-center flex-nowrap"
BUTTONS_SHOWN = "d-flex flex-shrink-0 text-nowrap me-3"


def bar_shown(active_tab):
    """The bar on the tabs it exports; the buttons only for those who may start jobs."""
    return (BAR_SHOWN if active_tab in VIEWS else "d-none"), ("d-none" if auth.refusal() else BUTTONS_SHOWN)


def start_export(gif, mp4, html_clicks, report, run_id, active_tab, esd_layer, weights_layer, weights_kind):
    """Submit the export (or the report) and start it as a job: the page follows it as it does an analysis."""
    if refused := auth.refusal():
        return no_update, refused, True
    if not run_id:
        return no_update, "Choose a run to export first", True
    try:
        if ctx.triggered_id == REPORT_BUTTON:
            job = jobs.submit_report(run_id)
        else:
            fmt = next(fmt for fmt, item in EXPORT_ITEMS.items() if item == ctx.triggered_id)
            view = VIEWS.get(active_tab, "alpha")
            layer = {"histogram": weights_layer, "esd": esd_layer}.get(view)
            job = jobs.submit_export(run_id, view, fmt, layer, biases=view == "histogram" and weights_kind == "bias")
    except UserError as exc:
        return no_update, str(exc), True
    jobs.start(job)
    log.info("started %s of %s: spectrascope %s %s", job.command, job.run_id, job.command, " ".join(job.args))
    return asdict(job), None, False


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def offer(run_id, version):
    """The run's latest export: a download link once written, else what became of it."""
    record = data.run(run_id) if run_id else None
    state = record.export_state if record else None
    if state is None or state.status is None:
        return None
    if state.status == "completed":
        path = data.paths(run_id).exports / state.file
        if not path.is_file():
            return None
        return html.A([html.I(className="bi bi-download me-1"), f"{state.file} ({_megabytes(path.stat().st_size)})"],
                      href=f"/exports/{run_id}/{state.file}", download=state.file, className="fw-bold")
    what = f"{state.file} failed: {state.error}" if state.status == "failed" else f"{state.file}: {state.status}"
    return html.Span(what, title=what, className="text-danger" if state.status == "failed" else "text-muted")


def serve_export(run_id: str, name: str):
    """A file of the run's exports/ folder (behind the login, as every route)."""
    try:
        folder = data.paths(run_id).exports
    except UserError:
        abort(404)
    return send_from_directory(folder, name, as_attachment=True)


def register(app) -> None:
    app.server.add_url_rule(ROUTE, "spectrascope_export", serve_export)
    app.callback(Output(EXPORT_BAR, "className"), Output(EXPORT_BUTTONS, "className"),
                 Input(TAB_STRIP, "active_tab"))(bar_shown)
    app.callback(Output(JOB_REQUEST, "data", allow_duplicate=True), Output(EXPORT_ERROR, "children"),
                 Output(EXPORT_ERROR, "is_open"),
                 *[Input(item, "n_clicks") for item in EXPORT_ITEMS.values()], Input(REPORT_BUTTON, "n_clicks"),
                 State(RUN_PICKER, "value"), State(TAB_STRIP, "active_tab"), State(esd.ESD_LAYER, "value"),
                 State(weights.WEIGHTS_LAYER, "value"), State(weights.WEIGHTS_KIND, "value"),
                 prevent_initial_call=True)(start_export)
    app.callback(Output(EXPORT_OFFER, "children"), Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"))(offer)
