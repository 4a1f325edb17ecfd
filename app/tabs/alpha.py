"""Alpha tab: the epoch x layer heatmap by health band (rows in network order or by matrix kind), mean alpha
against test accuracy, and for a model of repeated blocks alpha by depth at a chosen checkpoint; a click on
a cell opens that layer and epoch in the ESD tab."""
from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc

import figures
from app import data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs import esd
from app.tabs.common import analysis_missing, sent, unreadable_files_shown

TAB_ID, LABEL = "alpha", "Alpha"
ALPHA_HEATMAP = "alpha-heatmap"
ALPHA_SUMMARY = "alpha-summary"
ALPHA_ROWS = "alpha-rows"
DEPTH_SECTION, DEPTH_EPOCH, DEPTH_GRAPH = "alpha-depth-section", "alpha-depth-epoch", "alpha-depth"


def _swatch(background: str) -> html.Span:
    return html.Span(className="d-inline-block me-1 border align-middle",
                     style={"width": "2.2em", "height": "0.9em", "background": background})


def layout() -> html.Div:
    """The legend's swatches are the heatmap's own colours: the healthy band shades from light (alpha 2)
    to dark (alpha 6), and so does its swatch."""
    light, dark = figures.HEALTHY_COLOURS
    bands = ((figures.OVER_TRAINED_COLOUR, "alpha < 2: over-trained"),
             (f"linear-gradient(to right, {light}, {dark})", "2 → 6: healthy"),
             (figures.UNDER_TRAINED_COLOUR, "alpha > 6: under-trained"), ("#ffffff", "blank: fit failed"))
    legend = html.Small([html.Span([_swatch(colour), text], className="me-3") for colour, text in bands],
                        className="text-muted")
    rows = dbc.RadioItems(id=ALPHA_ROWS, inline=True, value="network",
                          options=[{"label": "rows in network order", "value": "network"},
                                   {"label": "rows by matrix kind", "value": "kind"}])
    depth = html.Div([
        html.H6("Alpha by depth", className="mt-3"),
        dcc.Slider(id=DEPTH_EPOCH, min=0, max=0, step=None, value=None, marks={}),
        dcc.Graph(id=DEPTH_GRAPH, config={"displaylogo": False}),
    ], id=DEPTH_SECTION, className="d-none")
    return html.Div([
        dbc.Row([
            dbc.Col([html.Div(rows, id=f"{ALPHA_ROWS}-box", className="d-none"),
                     dcc.Graph(id=ALPHA_HEATMAP, config={"displaylogo": False}), legend], lg=8),
            dbc.Col(dcc.Graph(id=ALPHA_SUMMARY, config={"displaylogo": False}), lg=4),
        ], className="g-3"),
        depth,
    ], className="pt-3")


@unreadable_files_shown(lambda message: (figures.empty(message), figures.empty(message)))
def alpha_figures(run_id, version, active_tab, rows="network"):
    if active_tab != TAB_ID:
        return no_update, no_update
    layers = data.layers(run_id) if run_id else None
    if layers is None or layers.empty:
        message = figures.empty(analysis_missing(run_id))
        return message, figures.empty("Mean alpha appears with the first analysed epoch")
    unit = data.unit(run_id)
    summary = figures.alpha_summary(layers, data.metrics(run_id), unit)
    heatmap = figures.alpha_heatmap(layers, unit, by_kind=rows == "kind")
    return sent(heatmap, run_id), sent(summary, run_id)


def _has_depth(run_id: str | None) -> bool:
    return bool(run_id and figures.stack_of(data.layer_names(run_id)))


@unreadable_files_shown(lambda message: ("d-none", "d-none", {}, 0, 0, None))
def depth_controls(run_id, version, active_tab, current):
    """The depth section and the rows switch, shown for a model of repeated blocks; the slider over its
    analysed checkpoints, on the latest unless one is chosen."""
    if active_tab != TAB_ID:
        return (no_update,) * 6
    if not _has_depth(run_id):
        return "d-none", "d-none", {}, 0, 0, None
    epochs = data.analysed_epochs(run_id)
    shown = epochs if len(epochs) <= 12 else epochs[:: max(1, len(epochs) // 10)] + [epochs[-1]]
    marks = {int(epoch): str(epoch) for epoch in shown}
    value = current if current in epochs else epochs[-1]
    return "", "mb-1", marks, epochs[0], epochs[-1], value


@unreadable_files_shown(lambda message: figures.empty(message))
def depth_figure(run_id, epoch, active_tab, version):
    if active_tab != TAB_ID or epoch is None or not _has_depth(run_id):
        return no_update
    return sent(figures.alpha_by_depth(data.layers(run_id), int(epoch), data.unit(run_id)), run_id)


def open_cell(click):
    """Heatmap click -> the ESD tab at that layer and epoch."""
    if not click or not click.get("points"):
        return no_update, no_update, no_update
    point = click["points"][0]
    return esd.TAB_ID, point["y"], int(point["x"])


def register(app) -> None:
    app.callback(Output(ALPHA_HEATMAP, "figure"), Output(ALPHA_SUMMARY, "figure"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), Input(TAB_STRIP, "active_tab"),
                 Input(ALPHA_ROWS, "value"))(alpha_figures)
    app.callback(Output(DEPTH_SECTION, "className"), Output(f"{ALPHA_ROWS}-box", "className"),
                 Output(DEPTH_EPOCH, "marks"), Output(DEPTH_EPOCH, "min"), Output(DEPTH_EPOCH, "max"),
                 Output(DEPTH_EPOCH, "value"), Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"),
                 Input(TAB_STRIP, "active_tab"), State(DEPTH_EPOCH, "value"))(depth_controls)
    app.callback(Output(DEPTH_GRAPH, "figure"), Input(RUN_PICKER, "value"), Input(DEPTH_EPOCH, "value"),
                 Input(TAB_STRIP, "active_tab"), Input(RUN_VERSION, "data"))(depth_figure)
    app.callback(Output(TAB_STRIP, "active_tab"), Output(esd.ESD_LAYER, "value", allow_duplicate=True),
                 Output(esd.ESD_PLAYER.epoch, "value", allow_duplicate=True),
                 Input(ALPHA_HEATMAP, "clickData"), prevent_initial_call=True)(open_cell)
