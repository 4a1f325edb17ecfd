"""Alpha tab: the epoch x layer heatmap by health band, mean alpha against test accuracy; a click on a
cell opens that layer and epoch in the ESD tab."""
from __future__ import annotations

from dash import Input, Output, dcc, html, no_update
import dash_bootstrap_components as dbc

import figures
from app import data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs import esd
from app.tabs.common import analysis_missing, sent, unreadable_files_shown

TAB_ID, LABEL = "alpha", "Alpha"
ALPHA_HEATMAP = "alpha-heatmap"
ALPHA_SUMMARY = "alpha-summary"


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
    return html.Div([
        dbc.Row([
            dbc.Col([dcc.Graph(id=ALPHA_HEATMAP, config={"displaylogo": False}), legend], lg=8),
            dbc.Col(dcc.Graph(id=ALPHA_SUMMARY, config={"displaylogo": False}), lg=4),
        ], className="g-3"),
    ], className="pt-3")


@unreadable_files_shown(lambda message: (figures.empty(message), figures.empty(message)))
def alpha_figures(run_id, version, active_tab):
    if active_tab != TAB_ID:
        return no_update, no_update
    layers = data.layers(run_id) if run_id else None
    if layers is None or layers.empty:
        message = figures.empty(analysis_missing(run_id))
        return message, figures.empty("Mean alpha appears with the first analysed epoch")
    unit = data.unit(run_id)
    summary = figures.alpha_summary(layers, data.metrics(run_id), unit)
    heatmap = figures.alpha_heatmap(layers, unit)
    return sent(heatmap, run_id), sent(summary, run_id)


def open_cell(click):
    """Heatmap click -> the ESD tab at that layer and epoch."""
    if not click or not click.get("points"):
        return no_update, no_update, no_update
    point = click["points"][0]
    return esd.TAB_ID, point["y"], int(point["x"])


def register(app) -> None:
    app.callback(Output(ALPHA_HEATMAP, "figure"), Output(ALPHA_SUMMARY, "figure"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), Input(TAB_STRIP, "active_tab"))(alpha_figures)
    app.callback(Output(TAB_STRIP, "active_tab"), Output(esd.ESD_LAYER, "value", allow_duplicate=True),
                 Output(esd.ESD_PLAYER.epoch, "value", allow_duplicate=True),
                 Input(ALPHA_HEATMAP, "clickData"), prevent_initial_call=True)(open_cell)
