"""Deleting the chosen run from the page: a button, a confirmation naming what is lost, and the refusal
while a job works on the run."""
from __future__ import annotations

import logging

from dash import Input, Output, State, html, no_update
import dash_bootstrap_components as dbc

from app import auth, data
from spectrascope import jobs
from app.ids import RUN_PICKER
from spectrascope.runs import RunFormatError, delete_run

DELETE_OPEN = "delete-open"
DELETE_MODAL = "delete-modal"
DELETE_TARGET = "delete-target"
DELETE_CONFIRM = "delete-confirm"
DELETE_ERROR = "delete-error"


def button() -> dbc.Button:
    return dbc.Button([html.I(className="bi bi-trash me-1"), "Delete"], id=DELETE_OPEN, color="danger",
                      outline=True, size="sm", className="ms-2")


def modal() -> dbc.Modal:
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Delete run")),
        dbc.ModalBody([html.P(id=DELETE_TARGET),
                       dbc.Alert(id=DELETE_ERROR, color="danger", is_open=False, className="mt-2 mb-0")]),
        dbc.ModalFooter(dbc.Button("Delete for good", id=DELETE_CONFIRM, color="danger")),
    ], id=DELETE_MODAL, is_open=False)


def open_delete(n_clicks, run_id):
    """The dialog, naming what would be lost (and no earlier refusal still showing)."""
    if not run_id:
        return True, "No run selected.", True, False
    what = f"Run {run_id}: its checkpoints, metrics and analysis are removed from disk. This cannot be undone."
    return True, what, False, False


def confirm_delete(n_clicks, run_id):
    """Delete, close the dialog and let the picker choose another run; a refusal stays in the dialog."""
    if refused := auth.refusal():
        return no_update, refused, True, no_update
    if not run_id:
        return no_update, "Choose a run first", True, no_update
    try:
        jobs.refuse_while_team_job(run_id)
        delete_run(data.paths(run_id))
    except RunFormatError as exc:
        return no_update, str(exc), True, no_update
    logging.getLogger("spectrascope.dashboard").info("deleted run %s", run_id)
    return False, "", False, None


def register(app) -> None:
    app.callback(Output(DELETE_MODAL, "is_open"), Output(DELETE_TARGET, "children"),
                 Output(DELETE_CONFIRM, "disabled"), Output(DELETE_ERROR, "is_open", allow_duplicate=True),
                 Input(DELETE_OPEN, "n_clicks"), State(RUN_PICKER, "value"), prevent_initial_call=True)(open_delete)
    app.callback(Output(DELETE_MODAL, "is_open", allow_duplicate=True), Output(DELETE_ERROR, "children"),
                 Output(DELETE_ERROR, "is_open"), Output(RUN_PICKER, "value", allow_duplicate=True),
                 Input(DELETE_CONFIRM, "n_clicks"), State(RUN_PICKER, "value"),
                 prevent_initial_call=True)(confirm_delete)
