"""ESD tab: a layer's eigenvalue density on log-log axes with the fitted power law, played over epochs, and
the density of the same weights shuffled when the run was analysed with --randomize."""
from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc
import pandas as pd

import figures
from app import components, data
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import analysis_missing, sent, unreadable_files_shown

TAB_ID, LABEL = "esd", "ESD"
FIT_FIELDS = ("alpha", "D", "xmin", "num_pl_spikes", "num_evals", "lambda_max", "stable_rank", "warning")
RANDOMIZED_FIELDS = ("max_rand_eval", "rand_num_spikes")  # only in rows analysed with --randomize
ESD_LAYER = "esd-layer"
ESD_PLAYER = components.player_ids("esd")
ESD_GRAPH = "esd-graph"
ESD_FIT = "esd-fit"


def layout() -> html.Div:
    return html.Div([
        dbc.Row(dbc.Col(dcc.Dropdown(id=ESD_LAYER, placeholder="type to filter layers by name", clearable=False),
                        md=5), className="my-2"),
        components.epoch_player(ESD_PLAYER),
        dcc.Graph(id=ESD_GRAPH, config={"displaylogo": False}),
        html.Div(id=ESD_FIT, className="mt-2"),
    ], className="pt-2")


@unreadable_files_shown(lambda message: ([], None))
def layer_options(run_id, version, current):
    layers = data.layer_names(run_id) if run_id else []
    value = current if current in layers else data.layer_worth_seeing(run_id) if layers else None
    return [{"label": layer, "value": layer} for layer in layers], value


def fit_row(run_id: str, epoch: int, layer: str) -> dict | None:
    table = data.layers(run_id)
    rows = table[(table["epoch"] == epoch) & (table["layer"] == layer)]
    return rows.iloc[0].to_dict() if len(rows) else None


def _cell(value) -> str:
    """Numbers to 4 significant digits, a 0 as 0 (no correlation traps is news), no warning as a dash."""
    return f"{value:.4g}" if isinstance(value, float) else "—" if value in ("", None) else str(value)


def fit_summary(row: dict) -> dbc.Table:
    fields = FIT_FIELDS + tuple(name for name in RANDOMIZED_FIELDS if pd.notna(row.get(name)))
    cells = [html.Td(_cell(row[name])) for name in fields]
    return dbc.Table([html.Thead(html.Tr([html.Th(name) for name in fields])), html.Tbody(html.Tr(cells))],
                     bordered=False, size="sm", className="w-auto")


def randomize_note(run_id: str) -> html.Small:
    """In place of the shuffled-weights ESD this epoch has none of: how to get it."""
    return html.Small(f"To compare with the ESD of the same weights shuffled (correlation traps), "
                      f"{data.analyse_randomized(run_id)}.", className="text-muted")


@unreadable_files_shown(lambda message: (figures.empty(message), None))
def esd_view(run_id, layer, epoch, active_tab, version):
    if active_tab != TAB_ID:
        return no_update, no_update
    if not run_id or not data.layer_names(run_id):
        return figures.empty(analysis_missing(run_id)), None
    row = fit_row(run_id, epoch, layer) if layer and epoch is not None else None
    unit = data.unit(run_id)
    if row is None:
        return figures.empty(f"{unit.capitalize()} {epoch} of {layer} has not been analysed"), None
    eigenvalues = data.eigenvalues(run_id, epoch, layer)
    if eigenvalues is None:
        return figures.empty(f"The eigenvalues of {layer} at {unit} {epoch} are missing: "
                             f"{data.redo_analysis(run_id)}"), None
    randomized = data.randomized_eigenvalues(run_id, epoch, layer)
    figure = figures.esd(eigenvalues, row, title=f"{layer} · {unit} {epoch}", randomized=randomized)
    return sent(figure), [fit_summary(row)] + ([randomize_note(run_id)] if randomized is None else [])


def register(app) -> None:
    app.callback(Output(ESD_LAYER, "options"), Output(ESD_LAYER, "value"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), State(ESD_LAYER, "value"))(layer_options)
    app.callback(Output(ESD_GRAPH, "figure"), Output(ESD_FIT, "children"),
                 Input(RUN_PICKER, "value"), Input(ESD_LAYER, "value"), Input(ESD_PLAYER.epoch, "value"),
                 Input(TAB_STRIP, "active_tab"), Input(RUN_VERSION, "data"))(esd_view)
    components.register_player(app, ESD_PLAYER, data.analysed_epochs)
