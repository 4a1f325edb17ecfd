"""Weights & biases tab: one tensor's histogram at an epoch, or all epochs offset (ridge), with statistics."""
from __future__ import annotations

from dash import Input, Output, Patch, State, ctx, dash_table, dcc, html, no_update
from dash.dash_table.Format import Format, Scheme
import dash_bootstrap_components as dbc

import figures
from app import components, data, frames
from app.ids import RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import analysis_missing, headed_by_unit, non_finite_note, sent, unreadable_files_shown
from spectrascope.health.bands import layer_to_open

TAB_ID, LABEL = "weights", "Weights & biases"
STAT_COLUMNS = ("epoch", "count", "mean", "std", "min", "max", "fro_norm", "nan_count", "inf_count")
COUNT_COLUMNS = ("epoch", "count", "nan_count", "inf_count")
FIXED = Format(precision=6, scheme=Scheme.fixed)  # every value to the same decimals, so they line up
STAT_HEADS = [{"name": c, "id": c, "type": "numeric", **({} if c in COUNT_COLUMNS else {"format": FIXED})}
              for c in STAT_COLUMNS]
WEIGHTS_LAYER = "weights-layer"
WEIGHTS_KIND = "weights-kind"
WEIGHTS_VIEW = "weights-view"
WEIGHTS_LOG_Y = "weights-log-y"
WEIGHTS_PLAYER = components.player_ids("weights")
WEIGHTS_HISTOGRAM = "weights-histogram"
WEIGHTS_STATS = "weights-stats"


def layout() -> html.Div:
    controls = dbc.Row([
        dbc.Col(dcc.Dropdown(id=WEIGHTS_LAYER, placeholder="type to filter layers by name", clearable=False), md=5),
        dbc.Col(dbc.RadioItems(id=WEIGHTS_KIND, options=[{"label": "weights", "value": "weight"},
                                                         {"label": "biases", "value": "bias"}],
                               value="weight", inline=True), md="auto"),
        dbc.Col(dbc.RadioItems(id=WEIGHTS_VIEW, options=[{"label": "one checkpoint", "value": "epoch"},
                                                         {"label": "every checkpoint (ridge)", "value": "ridge"}],
                               value="epoch", inline=True), md="auto"),
        dbc.Col(dbc.Switch(id=WEIGHTS_LOG_Y, label="log y", value=False), md="auto"),
    ], className="g-3 align-items-center my-2")
    return html.Div([
        controls,
        components.epoch_player(WEIGHTS_PLAYER),
        dcc.Graph(id=WEIGHTS_HISTOGRAM, config={"displaylogo": False}),
        html.H6("Statistics at each checkpoint", className="mt-3"),
        dash_table.DataTable(
            id=WEIGHTS_STATS, sort_action="native", page_action="none", fixed_rows={"headers": True},
            columns=STAT_HEADS,
            style_table={"overflowX": "auto", "maxHeight": "360px", "overflowY": "auto"},  # every epoch, scrolled
            style_cell={"fontSize": 13, "padding": "4px", "fontFamily": "var(--bs-font-monospace)",
                        "minWidth": "90px"}),
    ], className="pt-2")


@unreadable_files_shown(lambda message: ([], None))
def layer_options(run_id, version, kind, current):
    tensors = [layer for layer, tensor_kind in data.histogram_tensors(run_id) if tensor_kind == kind] if run_id else []
    value = current if current in tensors else layer_to_open(data.layers(run_id), tensors) if tensors else None
    return components.layer_options(tensors), value


def stat_epochs(run_id: str) -> list[int]:
    stats = data.weight_stats(run_id)
    return sorted(int(epoch) for epoch in stats["epoch"].unique()) if not stats.empty else []


def shown_tensor(run_id: str | None, layer: str | None, kind: str) -> tuple[tuple | None, str | None]:
    """(the tensor's (epochs, edges, densities), None), or (None, why the tab has no histogram of it to show)."""
    if not run_id or not data.histogram_tensors(run_id):
        return None, analysis_missing(run_id)
    tensor = data.tensor_histogram(run_id, layer, kind) if layer else None
    return (tensor, None) if tensor is not None else (None, f"This run has no {kind} histograms for the chosen layer")


@unreadable_files_shown(lambda message: frames.message(figures.empty(message)))
def histogram_frames(window, run_id, layer, kind, view, log_y, active_tab, version):
    """The tensor's histogram at each epoch of the slider's window, played in the page (the ridge view shows
    every epoch at once instead)."""
    if active_tab != TAB_ID or view == "ridge":
        return no_update
    tensor, why = shown_tensor(run_id, layer, kind)
    if why:
        return frames.message(figures.empty(why))
    draw = histogram_drawer(run_id, layer, kind, log_y, tensor)
    epochs = frames.window_of(tensor[0], window)
    return frames.frames([run_id, layer, kind, view, log_y], epochs, [(draw(epoch),) for epoch in epochs])


def histogram_drawer(run_id: str, layer: str, kind: str, log_y: bool, tensor: tuple):
    """draw(epoch): the tensor's histogram at that epoch over the bulk of all its epochs (one view while
    playing), or why it cannot be drawn (every value NaN/Inf); the files are read once for all epochs."""
    epochs, edges, densities = tensor
    stats = {row["epoch"]: row for row in tensor_stats(run_id, layer, kind)}
    title, unit, view = f"{layer}.{kind}", data.unit(run_id), figures.bulk_range(edges, densities)

    def draw(epoch: int) -> figures.Figure:
        row = stats.get(epoch, {})
        non_finite = int(row.get("nan_count", 0) + row.get("inf_count", 0))
        if non_finite and non_finite == row.get("count"):
            return figures.empty(f"{title} at {unit} {epoch}: all {non_finite} values are NaN/Inf. "
                                 f"{non_finite_note(data.non_finite_from(run_id))}")
        shown = title + (f" · {non_finite} NaN/Inf values not drawn" if non_finite else "")
        return figures.histogram(edges, densities[epochs.index(epoch)], title=f"{shown} · {unit} {epoch}",
                                 log_y=log_y, x_range=view, y_over=densities)
    return draw


@unreadable_files_shown(figures.empty)
def ridge_view(run_id, layer, kind, epoch, view, log_y, active_tab, version):
    """Every epoch offset, the slider's epoch highlighted. When only the epoch moved, just the ridges' colours
    are sent (a Patch), not the figure again; a long run's ridge, whose rows follow the epoch, is redrawn."""
    if active_tab != TAB_ID or view != "ridge":
        return no_update
    tensor, why = shown_tensor(run_id, layer, kind)
    if why:
        return figures.empty(why)
    epochs, edges, densities = tensor
    current = epoch if epoch in epochs else epochs[-1]
    if ctx.triggered_id == WEIGHTS_PLAYER.epoch and len(epochs) <= figures.MAX_RIDGES:
        return highlighted(epochs, current)
    return sent(figures.ridge(edges, densities, epochs, current=current, title=f"{layer}.{kind}", log_y=log_y,
                              unit=data.unit(run_id)))


def highlighted(epochs: list[int], current: int) -> Patch:
    """The ridge's colours with `current` highlighted, as changes to the figure the page holds."""
    patch = Patch()
    for row, style in enumerate(figures.ridge_styles(epochs, current)):
        patch["data"][row]["line"] = style["line"]
        patch["data"][row]["fillcolor"] = style["fillcolor"]
    return patch


@unreadable_files_shown(lambda message: [])
def stats_view(run_id, layer, kind, active_tab, version):
    if active_tab != TAB_ID:
        return no_update
    return tensor_stats(run_id, layer, kind) if run_id and layer else []


def stat_heads(run_id):
    return headed_by_unit(STAT_HEADS, run_id)


def tensor_stats(run_id: str, layer: str, kind: str) -> list[dict]:
    stats = data.weight_stats(run_id)
    if stats.empty:
        return []
    rows = stats[(stats["layer"] == layer) & (stats["kind"] == kind)].loc[:, list(STAT_COLUMNS)]
    return rows.to_dict("records")


# The slider's epoch highlighted in the statistics table, in the page as it plays.
_HIGHLIGHT_EPOCH = """
function (epoch) {
    return (epoch === null || epoch === undefined) ? []
        : [{"if": {"filter_query": "{epoch} = " + epoch}, "backgroundColor": "#fde2d9"}];
}
"""


def register(app) -> None:
    app.callback(Output(WEIGHTS_LAYER, "options"), Output(WEIGHTS_LAYER, "value"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"), Input(WEIGHTS_KIND, "value"),
                 State(WEIGHTS_LAYER, "value"))(layer_options)
    shown = (Input(RUN_PICKER, "value"), Input(WEIGHTS_LAYER, "value"), Input(WEIGHTS_KIND, "value"))
    app.callback(Output(WEIGHTS_STATS, "columns"), Input(RUN_PICKER, "value"))(stat_heads)
    app.callback(Output(WEIGHTS_STATS, "data"), *shown, Input(TAB_STRIP, "active_tab"),
                 Input(RUN_VERSION, "data"))(stats_view)
    app.callback(Output(WEIGHTS_PLAYER.frames, "data"), Input(WEIGHTS_PLAYER.window, "data"), *shown,
                 Input(WEIGHTS_VIEW, "value"), Input(WEIGHTS_LOG_Y, "value"), Input(TAB_STRIP, "active_tab"),
                 Input(RUN_VERSION, "data"))(histogram_frames)
    frames.register(app, WEIGHTS_PLAYER, [Output(WEIGHTS_HISTOGRAM, "figure")],
                    key=[State(RUN_PICKER, "value"), State(WEIGHTS_LAYER, "value"), State(WEIGHTS_KIND, "value"),
                         State(WEIGHTS_VIEW, "value"), State(WEIGHTS_LOG_Y, "value")])
    app.callback(Output(WEIGHTS_HISTOGRAM, "figure", allow_duplicate=True), *shown,
                 Input(WEIGHTS_PLAYER.epoch, "value"), Input(WEIGHTS_VIEW, "value"), Input(WEIGHTS_LOG_Y, "value"),
                 Input(TAB_STRIP, "active_tab"), Input(RUN_VERSION, "data"), prevent_initial_call=True)(ridge_view)
    app.clientside_callback(_HIGHLIGHT_EPOCH, Output(WEIGHTS_STATS, "style_data_conditional"),
                            Input(WEIGHTS_PLAYER.epoch, "value"))
    components.register_player(app, WEIGHTS_PLAYER, stat_epochs)
