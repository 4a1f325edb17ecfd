"""Training tab: accuracy, loss and learning rate per epoch (or step)."""
from __future__ import annotations

from dash import Input, Output, dcc, html, no_update

import figures
from app import data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import sent, unreadable_files_shown

TAB_ID, LABEL = "training", "Training"
TRAINING_CURVES = "training-curves"


def layout() -> html.Div:
    return html.Div(dcc.Graph(id=TRAINING_CURVES, config={"displaylogo": False}), className="pt-3")


@unreadable_files_shown(figures.empty)
def training_figure(run_id, version, active_tab):
    if active_tab != TAB_ID:
        return no_update
    if not run_id:
        return figures.empty("No run selected")
    metrics = data.metrics(run_id)
    if metrics.empty:
        record = data.run(run_id)
        if record is not None and record.kind == "imported":
            return figures.empty("No training log was imported with this run (a Lightning CSVLogger's metrics.csv "
                                 "or a Trainer's trainer_state.json): see the Alpha and ESD tabs")
        return figures.empty("No epoch recorded yet: the first point appears when epoch 0 is evaluated")
    return sent(figures.training_curves(metrics, non_finite_from=data.non_finite_from(run_id),
                                        unit=data.unit(run_id)), run_id)


def register(app) -> None:
    app.callback(Output(TRAINING_CURVES, "figure"), Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"),
                 Input(TAB_STRIP, "active_tab"))(training_figure)
