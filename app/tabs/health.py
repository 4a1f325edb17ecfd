"""Health tab: the run's layer-health events (spectrascope.health) as a timeline per layer and a table,
filtered by kind and severity, each a click away from that layer's ESD at that epoch; what holds at the latest
epoch in one line above them; and, where alerts are configured, the run's mute switch."""
from __future__ import annotations

import pandas as pd
from dash import Input, Output, State, ctx, dash_table, dcc, html, no_update
import dash_bootstrap_components as dbc

import figures
from app import auth, data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs import esd
from app.tabs.common import analysis_missing, headed_by_unit, sent, unreadable_files_shown
from spectrascope import settings
from spectrascope.health.events import counted_events, health_line, open_events
from spectrascope.health.rules import KINDS, SEVERITIES
from spectrascope.runs import EVENT_COLUMNS, update_run
from spectrascope.wording import counted

TAB_ID, LABEL = "health", "Health"
HEALTH_KINDS = "health-kinds"
HEALTH_SEVERITIES = "health-severities"
HEALTH_SUMMARY = "health-summary"
HEALTH_TIMELINE = "health-timeline"
HEALTH_TABLE = "health-table"
HEALTH_MUTE = "health-mute"
TABLE_COLUMNS = ("epoch", "layer", "kind", "severity", "detail", "still")
TABLE_HEADS = [{"name": "still so" if name == "still" else name, "id": name} for name in TABLE_COLUMNS]
TABLE_ROWS = 200  # the newest events the table lists: a long run has thousands, megabytes in one response
SEVERITY_STYLES = [{"if": {"filter_query": f"{{severity}} = {name}", "column_id": "severity"}, **style}
                   for name, style in (("warning", {"backgroundColor": "#fff3cd"}),
                                       ("critical", {"backgroundColor": "#f8d7da", "fontWeight": "bold"}))]


def layout() -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=HEALTH_KINDS, options=[{"label": kind, "value": kind, "title": meaning}
                                                           for kind, (_, meaning) in KINDS.items()],
                                 multi=True, placeholder="every kind of event"), md=5),
            dbc.Col(dbc.Checklist(id=HEALTH_SEVERITIES, options=list(SEVERITIES), value=["warning", "critical"],
                                  inline=True), md="auto", className="align-self-center"),
            dbc.Col(dbc.Switch(id=HEALTH_MUTE, label="alerts sent for this run", value=False,
                               className="d-none"), md="auto", className="align-self-center"),
        ], className="my-2 g-3 align-items-center"),
        html.Div(id=HEALTH_SUMMARY, className="mb-2"),
        dcc.Graph(id=HEALTH_TIMELINE, config={"displaylogo": False}),
        dash_table.DataTable(id=HEALTH_TABLE, sort_action="native", filter_action="native", page_size=15,
                             columns=TABLE_HEADS,
                             filter_options={"placeholder_text": "filter"}, style_table={"overflowX": "auto"},
                             style_cell={"fontSize": 13, "padding": "4px", "textAlign": "left",
                                         "whiteSpace": "normal", "height": "auto"},
                             style_data_conditional=SEVERITY_STYLES),
        html.Small("Click an event, on the timeline or in the table, to open that layer's ESD where it happened. "
                   "The rules and their thresholds: docs/health.md.", className="text-muted"),
    ], className="pt-2")


def table_heads(run_id):
    return headed_by_unit(TABLE_HEADS, run_id)


def _shown(table: pd.DataFrame, kinds, severities) -> pd.DataFrame:
    return table[(table["kind"].isin(kinds) if kinds else True) & table["severity"].isin(severities or [])]


def summary(events, latest: int, unit: str, listed: tuple[int, int] = (0, 0),
            severities=("warning", "critical")) -> dbc.Alert:
    """The run's health line and counts; where the table lists only the newest of the events shown, or the
    severities chosen hide some the line counts, says so."""
    line = health_line(events, latest, unit)
    hidden = {e.severity for e in counted_events(events, latest)} - set(severities or [])
    unseen = f" · tick {' and '.join(sorted(hidden))} to see all it counts (above the band since {unit} 0)" \
        if hidden else ""
    healthy = line.startswith("healthy")
    count = sum(event.severity != "info" for event in events)
    cut = (f" · the table lists the newest {listed[0]} of the {listed[1]} shown (choose kinds to see others)"
           if listed[0] < listed[1] else "")
    why = (" · a layer counts as out of the band until it is back inside by a margin (hysteresis), and a layer with "
           "too few eigenvalues for a meaningful alpha not at all, so the count can differ from the Alpha heatmap's "
           "cells")
    counts = f" · {counted(len(events), 'event')} in all, {counted(count, 'warning')} or worse"
    return dbc.Alert([html.B(line), html.Span(f"{counts}{cut}{unseen}{why if not healthy else ''}",
                                              className="text-muted")],
                     color="success" if healthy else "warning", className="py-2")


@unreadable_files_shown(lambda message: (figures.empty(message), [], None))
def health_view(run_id, version, active_tab, kinds, severities):
    if active_tab != TAB_ID:
        return no_update, no_update, no_update
    layers = data.layers(run_id) if run_id else None
    if layers is None or layers.empty:
        return figures.empty(analysis_missing(run_id)), [], None
    unit, events = data.unit(run_id), data.events(run_id)
    epochs = sorted(set(data.analysed_epochs(run_id)) | {event.epoch for event in events})  # NaN ones too
    order = data.layer_names(run_id)
    every_event = pd.DataFrame([event.row() for event in events], columns=list(EVENT_COLUMNS))
    shown = _shown(every_event, kinds, severities)
    still = {event.event_id for event in open_events(events, epochs[-1])}
    rows = shown.iloc[::-1].head(TABLE_ROWS)
    rows = rows.assign(still=["yes" if i in still else "" for i in rows["event_id"]])
    timeline = figures.health_timeline(shown, order, epochs, unit, every_event=every_event)
    return (sent(timeline, run_id), rows[list(TABLE_COLUMNS)].to_dict("records"),
            summary(events, epochs[-1], unit, listed=(len(rows), len(shown)), severities=severities))


def mute_switch(run_id, version):
    """Shown to runners where alerts are configured: the run's alerts_muted."""
    record = data.run(run_id) if run_id else None
    if record is None or not settings.alert_urls() or auth.refusal():
        return False, "d-none"
    return record.alerts_muted, ""


def set_muted(muted, run_id):
    """The switch's state written to run.json (by a runner only), and said in its label."""
    record = data.run(run_id) if run_id else None
    if record is not None and not auth.refusal() and record.alerts_muted != bool(muted):
        update_run(data.paths(run_id), alerts_muted=bool(muted))
    return "alerts muted for this run" if muted else "alerts sent for this run"


def open_event(click, active_cell, rows):
    """A timeline marker or a table row, whichever was clicked, -> the ESD tab at that layer and epoch."""
    if ctx.triggered_id == HEALTH_TIMELINE and click and click.get("points"):
        point = click["points"][0]
        return esd.TAB_ID, point["customdata"][0], int(point["x"])
    if (ctx.triggered_id == HEALTH_TABLE and active_cell and rows and active_cell.get("row") is not None
            and active_cell["row"] < len(rows)):
        row = rows[active_cell["row"]]
        return esd.TAB_ID, row["layer"], int(row["epoch"])
    return no_update, no_update, no_update


def register(app) -> None:
    app.callback(Output(HEALTH_TIMELINE, "figure"), Output(HEALTH_TABLE, "data"), Output(HEALTH_SUMMARY, "children"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), Input(TAB_STRIP, "active_tab"),
                 Input(HEALTH_KINDS, "value"), Input(HEALTH_SEVERITIES, "value"))(health_view)
    app.callback(Output(HEALTH_TABLE, "columns"), Input(RUN_PICKER, "value"))(table_heads)
    app.callback(Output(HEALTH_MUTE, "value"), Output(HEALTH_MUTE, "className"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"))(mute_switch)
    app.callback(Output(HEALTH_MUTE, "label"), Input(HEALTH_MUTE, "value"), State(RUN_PICKER, "value"),
                 prevent_initial_call=True)(set_muted)
    app.callback(Output(TAB_STRIP, "active_tab", allow_duplicate=True),
                 Output(esd.ESD_LAYER, "value", allow_duplicate=True),
                 Output(esd.ESD_PLAYER.epoch, "value", allow_duplicate=True),
                 Input(HEALTH_TIMELINE, "clickData"), Input(HEALTH_TABLE, "active_cell"),
                 State(HEALTH_TABLE, "derived_viewport_data"), prevent_initial_call=True)(open_event)
