"""Metrics tab: the whole per-layer table for one epoch, sortable, downloadable as CSV."""
from __future__ import annotations

from dash import Input, Output, State, dash_table, dcc, html, no_update
from dash.dash_table.Format import Format, Scheme
import dash_bootstrap_components as dbc

from app import components, data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import analysis_missing, unreadable_files_shown

TAB_ID, LABEL = "metrics", "Metrics"
NUMBER = Format(precision=5, scheme=Scheme.decimal_or_exponent)  # shown rounded; the CSV export keeps every digit
METRICS_EPOCH = "metrics-epoch"
METRICS_NOTE = "metrics-note"
METRICS_TABLE = "metrics-table"


def layout() -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=METRICS_EPOCH, placeholder="epoch", clearable=False), md=2),
            dbc.Col(html.Div(id=METRICS_NOTE, className="text-muted"), className="align-self-center"),
        ], className="my-2 g-3"),
        dash_table.DataTable(id=METRICS_TABLE, sort_action="native", filter_action="native", page_size=25,
                             export_format="csv", export_headers="display", style_table={"overflowX": "auto"},
                             style_cell={"fontSize": 13, "padding": "4px"}),
    ], className="pt-2")


@unreadable_files_shown(lambda message: ([], None))
def epoch_options(run_id, version, current, options):
    epochs = data.analysed_epochs(run_id) if run_id else []
    value = components.chosen_epoch(epochs, current, options[-1]["value"] if options else None)
    return [{"label": f"epoch {epoch}", "value": epoch} for epoch in epochs], value


@unreadable_files_shown(lambda message: ([], [], message))
def metrics_table(run_id, epoch, active_tab, version):
    if active_tab != TAB_ID:
        return no_update, no_update, no_update
    table = data.layers(run_id) if run_id else None
    if table is None or table.empty or epoch is None:
        return [], [], analysis_missing(run_id)
    rows = table[table["epoch"] == epoch].dropna(axis="columns", how="all")
    columns = [{"name": name, "id": name, "type": "numeric", "format": NUMBER} if rows[name].dtype.kind == "f"
               else {"name": name, "id": name, "type": "numeric" if rows[name].dtype.kind == "i" else "text"}
               for name in rows.columns]
    note = f"{len(rows)} layers at epoch {epoch}; click a column header to sort, “Export” saves the table as CSV"
    return rows.to_dict("records"), columns, note


def register(app) -> None:
    app.callback(Output(METRICS_EPOCH, "options"), Output(METRICS_EPOCH, "value"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), State(METRICS_EPOCH, "value"),
                 State(METRICS_EPOCH, "options"))(epoch_options)
    app.callback(Output(METRICS_TABLE, "data"), Output(METRICS_TABLE, "columns"),
                 Output(METRICS_NOTE, "children"),
                 Input(RUN_PICKER, "value"), Input(METRICS_EPOCH, "value"), Input(TAB_STRIP, "active_tab"),
                 Input(RUN_VERSION, "data"))(metrics_table)
