"""ESD tab: a layer's eigenvalue density on log-log axes with the fitted power law, played over epochs, and
the density of the same weights shuffled, its Marchenko-Pastur edge and traps, at the epochs randomized."""
from __future__ import annotations

import functools

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc
import pandas as pd

import figures
from analysis.options import RANDOMIZE_EVERY
from app import components, data, frames
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import analysis_missing, unreadable_files_shown

TAB_ID, LABEL = "esd", "ESD"
FIT_FIELDS = ("alpha", "D", "xmin", "num_pl_spikes", "num_evals", "lambda_max", "stable_rank", "warning")
RANDOMIZED_FIELDS = ("max_rand_eval", "rand_bulk_edge", "rand_num_spikes")  # only in randomized rows
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
    return components.layer_options(layers), value


def layer_fits(run_id: str, layer: str | None) -> dict[int, dict]:
    """The layer's layers.csv row at each epoch analysed (one pass over the table for every frame)."""
    table = data.layers(run_id)
    if not layer or table.empty:
        return {}
    return {int(row["epoch"]): row for row in table[table["layer"] == layer].to_dict("records")}


def _cell(value) -> str:
    """Numbers to 4 significant digits, a 0 as 0 (no correlation traps is news), no warning as a dash."""
    return f"{value:.4g}" if isinstance(value, float) else "—" if value in ("", None) else str(value)


@functools.lru_cache(maxsize=4)
def _fit_header(fields: tuple[str, ...]) -> html.Thead:
    """One header for every frame with these fields: Dash builds components slowly (~50 us each)."""
    return html.Thead(html.Tr([html.Th(name) for name in fields]))


def fit_summary(row: dict) -> dbc.Table:
    fields = FIT_FIELDS + tuple(name for name in RANDOMIZED_FIELDS if pd.notna(row.get(name)))
    cells = [html.Td(_cell(row[name])) for name in fields]
    return dbc.Table([_fit_header(fields), html.Tbody(html.Tr(cells))], bordered=False, size="sm",
                     className="w-auto")


def randomize_note(run_id: str, unit: str, randomized: list[int]) -> html.Small:
    """In place of the shuffled-weights ESD this epoch has none of: where there is one, and how to get it."""
    shown = ", ".join(map(str, randomized[:8])) + (", …" if len(randomized) > 8 else "")
    where = f"this layer has it at {unit} {shown}" if randomized else "this run has none yet"
    return html.Small(f"No ESD of the shuffled weights (correlation traps) here: by default one checkpoint in "
                      f"{RANDOMIZE_EVERY} and the last get one, and {where}. For every {unit}, {data.analyse_randomized(run_id)}.",
                      className="text-muted")


@unreadable_files_shown(lambda message: frames.message(figures.empty(message), None))
def esd_frames(window, run_id, layer, active_tab, version):
    """The ESD and fit of the layer at each epoch of the slider's window, played in the page."""
    if active_tab != TAB_ID:
        return no_update
    if not run_id or not data.layer_names(run_id):
        return frames.message(figures.empty(analysis_missing(run_id)), None)
    epochs = frames.window_of(data.analysed_epochs(run_id), window)
    draw = esd_drawer(run_id, layer)
    return frames.frames([run_id, layer], epochs, frames.on_shared_log_axes([draw(epoch) for epoch in epochs]))


def esd_drawer(run_id: str, layer: str | None):
    """draw(epoch): (figure, fit summary) of the layer at that epoch, or a figure saying why there is none."""
    fits, unit = layer_fits(run_id, layer), data.unit(run_id)
    randomized_at = [epoch for epoch, row in fits.items() if pd.notna(row.get("rand_num_spikes"))]

    def draw(epoch: int) -> tuple:
        row = fits.get(epoch)
        if row is None:
            return figures.empty(f"{unit.capitalize()} {epoch} of {layer} has not been analysed"), None
        eigenvalues = data.eigenvalues(run_id, epoch, layer)
        if eigenvalues is None:
            return figures.empty(f"The eigenvalues of {layer} at {unit} {epoch} are missing: "
                                 f"{data.redo_analysis(run_id)}"), None
        randomized = data.randomized_eigenvalues(run_id, epoch, layer)
        figure = figures.esd(eigenvalues, row, title=f"{layer} · {unit} {epoch}", randomized=randomized)
        return figure, [fit_summary(row)] + ([randomize_note(run_id, unit, randomized_at)] if randomized is None
                                             else [])
    return draw


def register(app) -> None:
    app.callback(Output(ESD_LAYER, "options"), Output(ESD_LAYER, "value"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), State(ESD_LAYER, "value"))(layer_options)
    app.callback(Output(ESD_PLAYER.frames, "data"), Input(ESD_PLAYER.window, "data"), Input(RUN_PICKER, "value"),
                 Input(ESD_LAYER, "value"), Input(TAB_STRIP, "active_tab"), Input(RUN_VERSION, "data"))(esd_frames)
    frames.register(app, ESD_PLAYER, [Output(ESD_GRAPH, "figure"), Output(ESD_FIT, "children")],
                    key=[State(RUN_PICKER, "value"), State(ESD_LAYER, "value")])
    components.register_player(app, ESD_PLAYER, data.analysed_epochs)
