"""Compare tab: two or more runs side by side on the layers they share — training curves, mean alpha, one
layer's alpha, ESD and histogram overlaid at one epoch, and the alpha difference of the first two runs (a click
on a cell shows that layer and epoch). The choice lives in the page's URL (?compare=a,b), so a link shares it: the
page's link (app.links, wired in app.shell) reads and writes it with the queries below."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc
import pandas as pd

import figures
from app import components, data, frames
from app.ids import LIVE_INTERVAL, TAB_STRIP
from app.tabs import alpha
from app.tabs.common import sent, unreadable_files_shown
from app.tabs.esd import layer_fits
from spectrascope.health.bands import layer_to_open

TAB_ID, LABEL = "compare", "Compare"
QUERY_KEY = "compare"
PICK_TWO = "Pick two or more runs to compare."
NO_SHARED_AXIS = "Epochs and steps cannot share one axis (see above)."
MESSAGE_WIDTH = 50  # characters a line of a message in a figure half the page wide
COMPARE_RUNS = "compare-runs"
COMPARE_VERSION = "compare-version"  # changes as the files of any compared run change (one training, say)
COMPARE_NOTE = "compare-note"
COMPARE_PANELS = "compare-panels"  # every figure and control below the note: hidden while nothing can be compared
COMPARE_CURVES = "compare-curves"
COMPARE_MEAN_ALPHA = "compare-mean-alpha"
COMPARE_DIFFERENCE = "compare-difference"
COMPARE_LAYER = "compare-layer"
COMPARE_PLAYER = components.player_ids("compare")
COMPARE_LAYER_ALPHA = "compare-layer-alpha"
COMPARE_ESD = "compare-esd"
COMPARE_HISTOGRAM = "compare-histogram"
OVERVIEW = (COMPARE_CURVES, COMPARE_MEAN_ALPHA, COMPARE_DIFFERENCE)
PLAYED = (COMPARE_ESD, COMPARE_HISTOGRAM)  # drawn in the page from the frames of the slider's window


def _empty(message: str):
    return figures.empty(message, MESSAGE_WIDTH)


def _graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config={"displaylogo": False}, figure=_empty(PICK_TWO))


def run_options() -> list[str]:
    return [record.id for record in data.runs()]


def layout() -> html.Div:
    """Options filled in now, so the runs a link names are there to be chosen as the page opens."""
    return html.Div([
        dcc.Store(id=COMPARE_VERSION),
        dbc.Row(dbc.Col(dcc.Dropdown(id=COMPARE_RUNS, options=run_options(), multi=True,
                                     placeholder="runs to compare"), md=8), className="my-2"),
        html.Div(PICK_TWO, id=COMPARE_NOTE, className="text-muted small mb-2"),
        html.Div([
            dbc.Row([dbc.Col(_graph(COMPARE_CURVES), lg=7), dbc.Col(_graph(COMPARE_MEAN_ALPHA), lg=5)],
                    className="g-3"),
            dbc.Row(dbc.Col(dcc.Dropdown(id=COMPARE_LAYER, placeholder="a layer the runs share", clearable=False),
                            md=5), className="my-2"),
            components.epoch_player(COMPARE_PLAYER),
            dbc.Row([dbc.Col(_graph(COMPARE_DIFFERENCE), lg=6), dbc.Col(_graph(COMPARE_ESD), lg=6)], className="g-3"),
            dbc.Row([dbc.Col(_graph(COMPARE_LAYER_ALPHA), lg=6), dbc.Col(_graph(COMPARE_HISTOGRAM), lg=6)],
                    className="g-3"),
        ], id=COMPARE_PANELS, hidden=True),
    ], className="pt-2")


# --- the choice and the URL ---------------------------------------------------------------------------


def query(run_ids: list[str] | None) -> str:
    """The URL's query string for a choice of runs ('' for none); run ids hold no commas."""
    return "?" + urlencode({QUERY_KEY: ",".join(run_ids)}, safe=",") if run_ids else ""


def chosen_in(search: str | None) -> list[str]:
    """The runs a query string names, in its order, once each."""
    named = parse_qs((search or "").lstrip("?")).get(QUERY_KEY, [""])[0]
    return list(dict.fromkeys(run_id for run_id in named.split(",") if run_id))


def url_to_choice(search, chosen):
    """A link opened: choose the runs it names that exist, and show this tab; and the line naming those that
    are not here (a link to a deleted run must not quietly compare fewer)."""
    named, here = chosen_in(search), run_options()
    wanted = [run_id for run_id in named if run_id in here]
    gone = list(dict.fromkeys(run_id for run_id in named if run_id not in here))
    note = (f"The link compares {', '.join(repr(run_id) for run_id in gone)}, not here (deleted, or on another "
            "server).") if gone else None
    return (wanted if wanted != (chosen or []) else no_update), (TAB_ID if wanted else no_update), note


def choice_to_url(chosen, search) -> str:
    fresh = query(chosen)
    return fresh if fresh != (search or "") else no_update


def refresh_version(n_intervals, run_ids, active_tab, current):
    """A new value only when a compared run's files changed (a run still training, a new analysis), so the
    shown comparison follows them; nothing is read while the tab is hidden."""
    if active_tab != TAB_ID:
        return no_update
    version = ".".join(data.version(run_id) for run_id in run_ids or [])
    return version if version != current else no_update


def fresh_options(active_tab):
    """Runs trained since the page opened, once the tab is shown."""
    return run_options() if active_tab == TAB_ID else no_update


# --- what the chosen runs share --------------------------------------------------------------------


def shared_layers(layer_lists: dict[str, list[str]]) -> list[str]:
    """The layers every run has, in the first run's order."""
    lists = list(layer_lists.values())
    return [layer for layer in lists[0] if all(layer in other for other in lists[1:])] if lists else []


def missing_layers(layer_lists: dict[str, list[str]]) -> dict[str, list[str]]:
    """For each run lacking some: the layers another chosen run has and it does not, in network order."""
    every = list(dict.fromkeys(layer for layers in layer_lists.values() for layer in layers))
    lacking = {run_id: [layer for layer in every if layer not in layers] for run_id, layers in layer_lists.items()}
    return {run_id: layers for run_id, layers in lacking.items() if layers}


def units_problem(run_ids: list[str]) -> str | None:
    """Why the runs cannot share one x axis: some count epochs, others training steps."""
    units = {run_id: data.unit(run_id) for run_id in run_ids}
    if len(set(units.values())) < 2:
        return None
    counts = "; ".join(f"{run_id} counts {unit}s" for run_id, unit in units.items())
    return f"These runs are not comparable on one axis: {counts}. Pick runs numbered the same way."


def problem(run_ids: list[str] | None) -> str | None:
    """Why nothing can be compared: too few runs, or runs numbered differently."""
    return PICK_TWO if len(run_ids or []) < 2 else units_problem(run_ids)


def panels_hidden(run_ids) -> bool:
    """The figures wait hidden while nothing can be compared: the note above says why, once."""
    return problem(run_ids) is not None


def in_figures(why: str) -> str:
    """A problem as the figures say it: the note above the figures says it in full."""
    return why if why == PICK_TWO else NO_SHARED_AXIS


def layer_lists(run_ids: list[str]) -> dict[str, list[str]]:
    return {run_id: data.layer_names(run_id) for run_id in run_ids}


def shared_epochs(run_ids: list[str]) -> list[int]:
    """The slider's epochs: every epoch any chosen run analysed (a run without one says so in the overlay)."""
    return sorted({epoch for run_id in run_ids for epoch in data.analysed_epochs(run_id)})


def layers_note(lists: dict[str, list[str]]) -> list:
    """Which layers are compared, and which runs lack which (or have no analysis at all)."""
    shared, missing = shared_layers(lists), missing_layers(lists)
    if not missing:
        return [f"Compared on all {len(shared)} layers; the first two runs have the same layers, so their alpha "
                "difference is shown."]
    if not shared:  # listing every layer of each as missing says nothing more
        return ["These runs share no layer (different models): each mean alpha is over the run's own layers, and "
                "there is no layer to compare one by one."]
    lines = [f"Compared on the {len(shared)} layers all runs share."]
    for run_id, layers in missing.items():
        lacks = "has not been analysed" if not lists[run_id] else f"lacks {len(layers)}: {', '.join(layers)}"
        lines.append(html.Br())
        lines.append(f"{run_id} {lacks}.")
    return lines


# --- the figures -------------------------------------------------------------------------------------


def _shared_rows(run_ids: list[str], lists: dict[str, list[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Each run's layers.csv rows of the layers all runs share (`lists`: the runs' layer_lists, if known)."""
    shared = set(shared_layers(lists or layer_lists(run_ids)))
    tables = {run_id: data.layers(run_id) for run_id in run_ids}
    return {run_id: table[table["layer"].isin(shared)] if "layer" in table else table
            for run_id, table in tables.items()}


def difference_figure(run_ids: list[str], lists: dict[str, list[str]], unit: str):
    """Run B − run A where the first two runs have the same layers (`lists`: the runs' layer_lists);
    otherwise why not."""
    first, second = run_ids[:2]
    if not lists[first] or lists[first] != lists[second]:
        return _empty(f"The alpha difference needs two analysed runs with the same layers: "
                             f"{first} and {second} differ.")
    return sent(figures.alpha_difference(data.layers(first), data.layers(second), (first, second), unit))


@unreadable_files_shown(lambda message: (message, *(_empty(message),) * len(OVERVIEW)))
def overview(run_ids, active_tab, version=None):
    if active_tab != TAB_ID:
        return (no_update,) * (1 + len(OVERVIEW))
    why = problem(run_ids)
    if why:
        return why, *(_empty(in_figures(why)),) * len(OVERVIEW)
    unit = data.unit(run_ids[0])
    curves = figures.training_overlay({run_id: data.metrics(run_id) for run_id in run_ids}, unit)
    lists = layer_lists(run_ids)  # each run's layers, read once for the note and both figures
    if shared_layers(lists):
        mean_alpha = figures.mean_alpha_overlay(_shared_rows(run_ids, lists), unit)
    else:  # different models: each one's own mean is still worth setting side by side
        mean_alpha = figures.mean_alpha_overlay({run_id: data.layers(run_id) for run_id in run_ids}, unit,
                                                title="Mean alpha (each run's own layers)")
    return layers_note(lists), sent(curves), sent(mean_alpha), difference_figure(run_ids, lists, unit)


@unreadable_files_shown(lambda message: ([], None))
def layer_options(run_ids, active_tab, current, version=None):
    if active_tab != TAB_ID:
        return no_update, no_update
    shared = shared_layers(layer_lists(run_ids)) if not problem(run_ids) else []
    value = current if current in shared else layer_to_open(data.layers(run_ids[0]), shared) if shared else None
    return components.layer_options(shared), value


def _nothing_to_overlay(run_ids, layer) -> str | None:
    why = problem(run_ids)
    return in_figures(why) if why else None if layer else "The chosen runs share no analysed layer."


@unreadable_files_shown(_empty)
def layer_alpha(run_ids, layer, active_tab, version=None):
    """The layer's alpha against epoch, one line per run."""
    if active_tab != TAB_ID:
        return no_update
    why = _nothing_to_overlay(run_ids, layer)
    return _empty(why) if why else sent(figures.layer_alpha_overlay(_shared_rows(run_ids), layer,
                                                                    data.unit(run_ids[0])))


@unreadable_files_shown(lambda message: frames.message(*(_empty(message),) * len(PLAYED)))
def layer_frames(window, run_ids, layer, active_tab, version=None):
    """The layer's ESD and histogram of every run overlaid, at each epoch of the slider's window, played in
    the page."""
    if active_tab != TAB_ID:
        return no_update
    why = _nothing_to_overlay(run_ids, layer)
    if why:
        return frames.message(*(_empty(why),) * len(PLAYED))
    epochs = frames.window_of(shared_epochs(run_ids), window)
    draw = layer_drawer(run_ids, layer)
    return frames.frames([run_ids, layer], epochs, frames.on_shared_log_axes([draw(epoch) for epoch in epochs]))


def layer_drawer(run_ids: list[str], layer: str):
    """draw(epoch): (ESD overlay, histogram overlay) of the layer at that epoch; each run's tables are read
    once for all epochs."""
    unit = data.unit(run_ids[0])
    fits = {run_id: layer_fits(run_id, layer) for run_id in run_ids}
    tensors = {run_id: data.tensor_histogram(run_id, layer, "weight") for run_id in run_ids}

    def spectrum(run_id: str, epoch: int):
        """(eigenvalues, fit) of the run's layer at that epoch, or None where it has none."""
        fit = fits[run_id].get(epoch)
        eigenvalues = data.eigenvalues(run_id, epoch, layer) if fit is not None else None
        return None if eigenvalues is None else (eigenvalues, fit)

    def weights(run_id: str, epoch: int):
        """(bin edges, density) of the run's layer's weights at that epoch, or None where it has none."""
        tensor = tensors[run_id]
        if tensor is None or epoch not in tensor[0]:
            return None
        epochs, edges, densities = tensor
        return edges, densities[epochs.index(epoch)]

    def draw(epoch: int) -> tuple:
        return (figures.esd_overlay({run_id: spectrum(run_id, epoch) for run_id in run_ids},
                                    title=f"{layer} · {unit} {epoch}"),
                figures.histogram_overlay({run_id: weights(run_id, epoch) for run_id in run_ids},
                                          title=f"{layer}.weight · {unit} {epoch}"))
    return draw


def open_cell(click):
    """Difference heatmap click -> that layer and epoch in the overlays (read as on the Alpha tab)."""
    return alpha.open_cell(click)[1:]


def register(app) -> None:
    app.callback(Output(COMPARE_RUNS, "options"), Input(TAB_STRIP, "active_tab"),
                 prevent_initial_call=True)(fresh_options)
    app.callback(Output(COMPARE_NOTE, "children"), *(Output(graph, "figure") for graph in OVERVIEW),
                 Input(COMPARE_RUNS, "value"), Input(TAB_STRIP, "active_tab"),
                 Input(COMPARE_VERSION, "data"))(overview)
    app.callback(Output(COMPARE_PANELS, "hidden"), Input(COMPARE_RUNS, "value"))(panels_hidden)
    app.callback(Output(COMPARE_LAYER, "options"), Output(COMPARE_LAYER, "value"),
                 Input(COMPARE_RUNS, "value"), Input(TAB_STRIP, "active_tab"), State(COMPARE_LAYER, "value"),
                 Input(COMPARE_VERSION, "data"))(layer_options)
    app.callback(Output(COMPARE_LAYER_ALPHA, "figure"), Input(COMPARE_RUNS, "value"), Input(COMPARE_LAYER, "value"),
                 Input(TAB_STRIP, "active_tab"), Input(COMPARE_VERSION, "data"))(layer_alpha)
    app.callback(Output(COMPARE_PLAYER.frames, "data"), Input(COMPARE_PLAYER.window, "data"),
                 Input(COMPARE_RUNS, "value"), Input(COMPARE_LAYER, "value"),
                 Input(TAB_STRIP, "active_tab"), Input(COMPARE_VERSION, "data"))(layer_frames)
    frames.register(app, COMPARE_PLAYER, [Output(graph, "figure") for graph in PLAYED],
                    key=[State(COMPARE_RUNS, "value"), State(COMPARE_LAYER, "value")])
    app.callback(Output(COMPARE_LAYER, "value", allow_duplicate=True),
                 Output(COMPARE_PLAYER.epoch, "value", allow_duplicate=True),
                 Input(COMPARE_DIFFERENCE, "clickData"), prevent_initial_call=True)(open_cell)
    app.callback(Output(COMPARE_VERSION, "data"), Input(LIVE_INTERVAL, "n_intervals"), Input(COMPARE_RUNS, "value"),
                 State(TAB_STRIP, "active_tab"), State(COMPARE_VERSION, "data"))(refresh_version)
    components.register_player(app, COMPARE_PLAYER, shared_epochs, runs=COMPARE_RUNS, version=COMPARE_VERSION)
