"""Metrics tab: the whole per-layer table for one epoch, sortable and filterable, alpha coloured by the
heatmap's bands, saved as `<run>-epoch-<N>-layers.csv`."""
from __future__ import annotations

import pandas as pd
from dash import Input, Output, State, dash_table, dcc, html, no_update
from dash.dash_table.Format import Format, Scheme
import dash_bootstrap_components as dbc

from spectrascope.health.bands import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE
import figures
from app import components, data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import analysis_missing, headed_by_unit, unreadable_files_shown
from spectrascope.runs import LAYER_COLUMNS

TAB_ID, LABEL = "metrics", "Metrics"
NUMBER = Format(precision=5, scheme=Scheme.decimal_or_exponent)  # shown rounded; the CSV export keeps every digit
METRICS_EPOCH = "metrics-epoch"
METRICS_NOTE = "metrics-note"
METRICS_TABLE = "metrics-table"
METRICS_EXPORT = "metrics-export"
METRICS_DOWNLOAD = "metrics-download"
FROZEN = 2  # epoch and layer stay in view when the table scrolls right
LAYER_FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"  # 1ch a character: the width fits the name
LAYER_WIDTH_CH = (14, 48)  # the layer column's width in characters, at least and at most (longer names wrap)
ALPHA_BANDS = [  # the heatmap's colours, as cell backgrounds
    {"if": {"filter_query": f"{{alpha}} > 0 && {{alpha}} < {OVER_TRAINED_BELOW}", "column_id": "alpha"},
     "backgroundColor": figures.OVER_TRAINED_COLOUR},
    {"if": {"filter_query": f"{{alpha}} >= {OVER_TRAINED_BELOW} && {{alpha}} <= {UNDER_TRAINED_ABOVE}",
            "column_id": "alpha"}, "backgroundColor": figures.HEALTHY_COLOURS[0]},
    {"if": {"filter_query": f"{{alpha}} > {UNDER_TRAINED_ABOVE}", "column_id": "alpha"},
     "backgroundColor": figures.UNDER_TRAINED_COLOUR, "color": "white"},
]


def layout() -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=METRICS_EPOCH, placeholder="epoch", clearable=False), md=2),
            dbc.Col(html.Div(id=METRICS_NOTE, className="text-muted"), className="align-self-center"),
            dbc.Col(dbc.Button([html.I(className="bi bi-download me-1"), "Export CSV"], id=METRICS_EXPORT,
                               color="secondary", outline=True, size="sm"), md="auto"),
        ], className="my-2 g-3 align-items-center"),
        dcc.Download(id=METRICS_DOWNLOAD),
        dash_table.DataTable(id=METRICS_TABLE, sort_action="native", filter_action="native", page_size=25,
                             columns=[{"name": name, "id": name} for name in LAYER_COLUMNS],  # fixed_columns needs them
                             fixed_columns={"headers": True, "data": FROZEN},
                             filter_options={"placeholder_text": "filter"},
                             style_table={"overflowX": "auto", "minWidth": "100%"},
                             style_filter={"backgroundColor": "#f8f9fa"},
                             style_cell={"fontSize": 13, "padding": "4px", "minWidth": "105px", "width": "105px",
                                         "maxWidth": "105px", "overflow": "hidden", "textOverflow": "ellipsis"},
                             style_cell_conditional=column_styles([]),
                             style_data_conditional=ALPHA_BANDS),
    ], className="pt-2")


@unreadable_files_shown(lambda message: ([], None))
def epoch_options(run_id, version, current, options):
    epochs = data.analysed_epochs(run_id) if run_id else []
    value = components.chosen_epoch(epochs, current, options[-1]["value"] if options else None)
    unit = data.unit(run_id) if run_id else "epoch"
    return [{"label": f"{unit} {epoch}", "value": epoch} for epoch in epochs], value


@unreadable_files_shown(lambda message: ([], [], message))
def metrics_table(run_id, epoch, active_tab, version):
    if active_tab != TAB_ID:
        return no_update, no_update, no_update
    table = data.layers(run_id) if run_id else None
    if table is None or table.empty or epoch is None:
        return [], [], analysis_missing(run_id)
    rows = table[table["epoch"] == epoch].dropna(axis="columns", how="all")
    columns = headed_by_unit([{"name": name, "id": name,
                               **({"type": "numeric", "format": NUMBER} if rows[name].dtype.kind == "f"
                                  else {"type": "numeric" if rows[name].dtype.kind == "i" else "text"})}
                              for name in rows.columns], run_id)
    return rows.to_dict("records"), columns, row_note(rows.to_dict("records"), None, epoch, run_id)


def column_styles(rows: list[dict] | None) -> list[dict]:
    """The layer column as wide as its longest name, and wrapping one too long rather than cutting it: the name
    is the one column that must be read whole (GPT-2's `transformer.h.11.mlp.c_proj` is 27 characters)."""
    longest = max((len(str(row.get("layer", ""))) for row in rows or []), default=0)
    width = f"{min(max(longest, LAYER_WIDTH_CH[0]), LAYER_WIDTH_CH[1]) + 2}ch"  # and the padding
    return [
        *({"if": {"column_id": name}, "textAlign": "left"} for name in ("layer", "layer_type", "warning")),
        {"if": {"column_id": "epoch"}, "minWidth": "75px", "width": "75px", "maxWidth": "75px"},
        {"if": {"column_id": "layer"}, "minWidth": width, "width": width, "maxWidth": width, "fontFamily": LAYER_FONT,
         "whiteSpace": "normal", "wordBreak": "break-all", "textOverflow": "clip"},
    ]


def row_note(rows: list[dict], shown: list[dict] | None, epoch, run_id) -> str:
    """How many layers the table shows, following its filter."""
    if not rows:
        return no_update
    count = f"{len(rows)} layers" if shown is None or len(shown) == len(rows) else \
        f"{len(shown)} of {len(rows)} layers (filtered)"
    return f"{count} at {data.unit(run_id)} {epoch}; click a column header to sort, type under it to filter"


def export_csv(n_clicks, shown, rows, run_id, epoch):
    """The rows the table shows (filtered and sorted), every digit kept, named after run and epoch."""
    table = pd.DataFrame(shown if shown is not None else rows or [])
    if table.empty or run_id is None:
        return no_update
    return dcc.send_data_frame(table.to_csv, f"{run_id}-epoch-{epoch}-layers.csv", index=False)


def register(app) -> None:
    app.callback(Output(METRICS_EPOCH, "options"), Output(METRICS_EPOCH, "value"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), State(METRICS_EPOCH, "value"),
                 State(METRICS_EPOCH, "options"))(epoch_options)
    app.callback(Output(METRICS_TABLE, "data"), Output(METRICS_TABLE, "columns"),
                 Output(METRICS_NOTE, "children"),
                 Input(RUN_PICKER, "value"), Input(METRICS_EPOCH, "value"), Input(TAB_STRIP, "active_tab"),
                 Input(RUN_VERSION, "data"))(metrics_table)
    app.callback(Output(METRICS_TABLE, "style_cell_conditional"), Input(METRICS_TABLE, "data"))(column_styles)
    app.callback(Output(METRICS_NOTE, "children", allow_duplicate=True),
                 Input(METRICS_TABLE, "data"), Input(METRICS_TABLE, "derived_virtual_data"),
                 State(METRICS_EPOCH, "value"), State(RUN_PICKER, "value"), prevent_initial_call=True)(row_note)
    app.callback(Output(METRICS_DOWNLOAD, "data"), Input(METRICS_EXPORT, "n_clicks"),
                 State(METRICS_TABLE, "derived_virtual_data"), State(METRICS_TABLE, "data"),
                 State(RUN_PICKER, "value"), State(METRICS_EPOCH, "value"), prevent_initial_call=True)(export_csv)
