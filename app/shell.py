"""The frame around the tabs: run picker, run status, live refresh, the tab strip, and the page's link."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Callable, NamedTuple

from dash import Input, Output, State, dcc, html, no_update
import dash_bootstrap_components as dbc
from plotly.io.json import to_json_plotly

from app import auth, components, data, delete_run, exports, jobs_panel, links, run_list
from app.ids import LIVE_INTERVAL, RUN_PICKER, RUN_VERSION, TAB_STRIP
from app.tabs.common import non_finite_note, unreadable_files_shown
from app.tabs import alpha, compare, esd, health, metrics, training, weights
from spectrascope import jobs
from spectrascope.runs import ACTIVE_STATUSES
from spectrascope.wording import about

TABS = (training, weights, esd, alpha, health, compare, metrics)
LIVE_MILLISECONDS = 2000
STATUS_COLOURS = {"queued": "secondary", "running": "primary", "completed": "success", "failed": "danger",
                  "cancelled": "warning", "interrupted": "warning"}
RUN_PROBLEMS = "run-problems"
RUN_STATUS_FILTER = "run-status-filter"
RUN_SORT = "run-sort"
RUN_STATUS = "run-status"
JOB_BUTTONS = "job-buttons"
PAGE_URL = "page-url"  # the address bar: read for the view a link names (app.links)
LINK_NOTE = "link-note"  # what the link names that is not here
LINK_OPENED = "link-opened"  # set once the link has been applied: the address bar follows the page from then on
VIEW_QUERY = "view-query"  # the query of what the page shows, written into the address bar in the page


def _who_is_logged_in() -> html.Small | None:
    user = auth.current_user()
    if user is None:
        return None
    return html.Small([html.I(className="bi bi-person me-1"), f"{user.name} · {user.role}"],
                      className="text-light ms-3")


def layout() -> html.Div:
    header = dbc.Navbar(dbc.Container([
        dbc.NavbarBrand([html.I(className="bi bi-activity me-2"), "spectrascope"], className="fw-bold"),
        html.Div([
            html.Div([
                dcc.Dropdown(id=RUN_PICKER, placeholder="no runs yet", clearable=False, optionHeight=48,
                             style={"minWidth": "27rem"}),
                dcc.Dropdown(id=RUN_STATUS_FILTER, options=list(run_list.STATUSES), multi=True,
                             placeholder="any status", style={"minWidth": "9.5rem"}, className="ms-2"),
                dcc.Dropdown(id=RUN_SORT, options=[{"label": text, "value": key}
                                                   for key, text in run_list.SORTS.items()],
                             value="newest", clearable=False, style={"minWidth": "10.5rem"}, className="ms-2"),
            ], className="d-flex"),
            html.Small(id=RUN_PROBLEMS, className="d-block mt-1 text-warning"),
        ], className="me-auto ms-3"),
        html.Div([jobs_panel.buttons(), delete_run.button()], id=JOB_BUTTONS,  # hidden from viewers: their clicks
                 className="d-none" if auth.refusal() else "d-flex flex-shrink-0 text-nowrap"),  # would be refused
        _who_is_logged_in(),
    ], fluid=True), color="dark", dark=True, className="mb-2")
    return html.Div([
        header,
        dbc.Container([
            html.Div(id=RUN_STATUS),
            html.Div(id=LINK_NOTE),
            jobs_panel.layout(),
            delete_run.modal(),
            exports.error_alert(),
            html.Div([  # the export bar sits at the right end of the tab strip, shifting nothing
                dbc.Tabs([dbc.Tab(tab.layout(), label=tab.LABEL, tab_id=tab.TAB_ID) for tab in TABS],
                         id=TAB_STRIP, active_tab=training.TAB_ID),
                html.Div(exports.layout(), className="position-absolute top-0 end-0 mt-1",
                         style={"maxWidth": "55%"}),
            ], className="position-relative"),
        ], fluid=True),
        dcc.Interval(id=LIVE_INTERVAL, interval=LIVE_MILLISECONDS),
        dcc.Store(id=RUN_VERSION),
        dcc.Location(id=PAGE_URL, refresh=False), dcc.Store(id=LINK_OPENED), dcc.Store(id=VIEW_QUERY),
    ])


def unreadable_note(problems: list[tuple[str, str]]) -> str | None:
    """The line under the picker naming the run folders it cannot list, so a damaged run is not just missing."""
    if not problems:
        return None
    count = "1 run folder is not listed" if len(problems) == 1 else f"{len(problems)} run folders are not listed"
    return f"{count}: " + "; ".join(f"{name} ({why})" for name, why in problems)


def refresh_runs(n_intervals, statuses, sort, current, options, note):
    """Run picker options (filtered and ordered as asked) and the note on unreadable runs, each only when it
    changed, and the newest run when none is chosen."""
    records, problems = data.runs_and_problems()
    fresh = json.loads(to_json_plotly(run_list.options([run_list.summarise(r) for r in records], statuses, sort,
                                                       current)))  # as the browser sends them back
    ids = [record.id for record in records]
    value = current if current in ids else (ids[0] if ids else None)
    fresh_note = unreadable_note(problems)
    return ((fresh if fresh != options else no_update), (value if value != current else no_update),
            (fresh_note if fresh_note != note else no_update))


def refresh_version(n_intervals, run_id, current):
    """A new value only when the run's files changed, so the tabs redraw only then."""
    version = data.version(run_id) if run_id else None
    return version if version != current else no_update


def _progress_bar(done, total, label: str, colour: str, animated: bool) -> html.Div:
    """The label above a thin bar: inside the bar it is cut off (or unseen at 0%)."""
    value = 100 * done / total if total else 0
    return html.Div([html.Small(label, className="text-muted"),
                     dbc.Progress(value=value, color=colour, striped=animated, animated=animated,
                                  style={"height": "6px"}, className="mb-1")])


@unreadable_files_shown(lambda message: dbc.Alert(message, color="danger"))
def run_status(run_id, version):
    if not run_id:
        return dbc.Alert(["No runs yet. Press ", html.B("New run"), " to train the demo, or run ",
                          html.Code("spectrascope train --preset demo"), "."], color="info")
    record = data.run(run_id)
    if record is None:
        return dbc.Alert(f"Run {run_id} cannot be read: its run.json is missing or not valid JSON.", color="danger")
    status, progress, analysis = record.status, record.progress, record.analysis_state
    parts = [dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary"), className="me-2"),
             html.Small([f"{record.kind}{f' · preset {record.preset}' if record.preset else ''} · created ",
                         components.relative_time(record.created, datetime.now(timezone.utc))],
                        className="text-muted")]
    bars = []
    if record.kind != "imported" and progress.total_epochs:
        done = progress.epoch or 0
        bars.append(_progress_bar(done, progress.total_epochs, f"training {done}/{progress.total_epochs}",
                                  "primary", status == "running"))
    checkpoints = data.checkpoint_count(run_id)
    if checkpoints and (record.analysis is not None or status in ACTIVE_STATUSES):
        analysed = len(data.analysed_epochs(run_id))
        label = f"analysed {analysed} of {checkpoints} checkpoints"
        if analysis.status == "running" and analysis.layers_total:  # a big model: where inside the checkpoints
            label += f" · layer {analysis.layers_done or 0} of {analysis.layers_total} under way"
            label += f" ({analysis.layer})" if analysis.layer else ""
            label += f" · {about(analysis.seconds_left)} left" if analysis.seconds_left is not None else ""
        bars.append(_progress_bar(analysed, checkpoints, label, "info", analysis.status == "running"))
    messages = []
    if status == "queued":
        place = jobs.place_in_line(run_id)
        where = f" ({place})" if place else ""
        why = f" ({record.error})" if record.error else ""  # a team job whose worker was lost says so
        messages.append(dbc.Alert(f"Queued{where}: this run starts when a job slot is free{why}; the jobs list "
                                  "above shows what runs now.", color="secondary"))
    if status == "failed":
        messages.append(dbc.Alert([f"Training failed: {record.error or 'no message recorded'}",
                                   jobs_panel.resume_button(run_id) if checkpoints and record.non_finite_from is None
                                   else None], color="danger"))
    elif status == "interrupted" and jobs.job_claims_run(run_id):  # a team's lost worker: failover is coming
        messages.append(dbc.Alert("Training stopped: the worker running it was lost. Another worker takes the "
                                  "job over within a minute and goes on from the last complete epoch.",
                                  color="warning"))
    elif status in ("interrupted", "cancelled") and checkpoints:
        why = "cancelled" if status == "cancelled" else (
            "the data directory's disk is full: free some space first" if data.disk_full() else "its process died")
        messages.append(dbc.Alert([f"Training stopped without finishing ({why}). Resume it from its last complete "
                                   "epoch here, or with ",
                                   html.Code(f"spectrascope submit train --resume --run-id {run_id}"), ".",
                                   jobs_panel.resume_button(run_id)], color="warning"))
    elif status == "interrupted":
        messages.append(dbc.Alert("This run was queued but its job never started or died while it waited "
                                  "(see job.log in the run folder). Start a new run.", color="warning"))
    non_finite = data.non_finite_from(run_id)
    if non_finite is not None and status != "failed":  # a failed run's error already says it
        messages.append(dbc.Alert(non_finite_note(non_finite), color="danger"))
    if analysis.status == "failed" and analysis.error:
        messages.append(dbc.Alert(f"The analysis failed: {analysis.error}", color="danger"))
    if analysis.errors:
        detail = "; ".join(f"epoch {epoch}: {message}" for epoch, message in analysis.errors.items())
        messages.append(dbc.Alert(f"Some epochs could not be analysed — {detail}", color="warning"))
    return html.Div([html.Div(parts, className="mb-2"), dbc.Row([dbc.Col(bar, md=6) for bar in bars]), *messages],
                    className="mb-2")


# --- the page's link ----------------------------------------------------------------------------------


class Played(NamedTuple):
    """A tab showing one layer at one epoch, which a link can name: its layer picker and epoch player, the layer
    it shows of a run for a wanted one (that one where the run has it), and the epochs of its slider."""
    layer: str
    player: components.PlayerIds
    layer_shown: Callable[[str, str | None], str | None]
    epochs: Callable[[str], list[int]]


PLAYED = {
    esd.TAB_ID: Played(esd.ESD_LAYER, esd.ESD_PLAYER, lambda run_id, wanted: esd.layer_options(run_id, None, wanted)[1],
                       data.analysed_epochs),
    weights.TAB_ID: Played(weights.WEIGHTS_LAYER, weights.WEIGHTS_PLAYER,
                           lambda run_id, wanted: weights.layer_options(run_id, None, "weight", wanted)[1],
                           weights.stat_epochs),
}

# The query into the address bar, replacing its entry: no reload, and no history entry per epoch played. Not
# through PAGE_URL's search, which would push one each time, and set off open_link, with it a request per frame.
_INTO_ADDRESS_BAR = """
function (query) {
    if (typeof query === "string" && query !== window.location.search) {
        window.history.replaceState(window.history.state, "", window.location.pathname + query);
    }
}
"""


def _linked_player(played: Played, run_id: str | None, link: links.View) -> tuple[list, list[str | None]]:
    """(layer, epoch, slider max) to set on a tab's controls for the layer and epoch a link names (no_update where
    it names none), and the lines on what the run lacks of them. The max is the run's newest epoch: the player
    keeps a chosen epoch unless it was on the newest (following a live run), so it must not take the link's
    epoch for the newest of the run shown before."""
    if not run_id:
        return [no_update] * 3, []
    layer = played.layer_shown(run_id, link.layer) if link.layer else no_update
    notes = [links.layer_note(run_id, link.layer, layer)] if link.layer else []
    if link.epoch is None:
        return [layer, no_update, no_update], notes
    epochs = played.epochs(run_id)
    epoch, note = links.epoch_shown(run_id, link.epoch, epochs, data.unit(run_id))
    return [layer, epoch, epochs[-1] if epochs else no_update], [*notes, note]


def open_link(search, opened, shown_run, compared, *settled):
    """The page opened on a link: its run, tab, layer and epoch (or Compare's runs) shown, and what it names that
    is not here said in one line; once, then the address bar follows the page (follow_view). `settled`, the
    tabs' layer options and slider ends, are inputs only so that Dash runs this after the run picker's and the
    tabs' own callbacks, which would otherwise overwrite what it sets."""
    if search is None or opened:  # the address bar not read yet, or the link already applied
        return (no_update,) * (5 + 3 * len(PLAYED))
    link = links.view_in(search)
    run_id, run_note = links.run_shown(link.run, [record.id for record in data.runs()], shown_run)
    chosen, compare_tab, compare_note = compare.url_to_choice(search, compared)
    tab, tab_note = links.tab_shown(link.tab, [module.TAB_ID for module in TABS], compare_tab)
    settings, notes = [], [run_note, compare_note, tab_note]
    for tab_id, played in PLAYED.items():  # a missing run's layer and epoch are not looked for in another
        values, lacking = _linked_player(played, run_id, link if tab_id == tab and not run_note else links.View())
        settings, notes = settings + values, notes + lacking
    said = " ".join(note for note in notes if note)
    return (run_id if run_id != shown_run else no_update, tab, chosen,
            dbc.Alert(said, color="warning", dismissable=True, className="py-2") if said else None, True, *settings)


def follow_view(run_id, tab, compared, opened, shown, *played):
    """The query of what the page shows, from when the link it opened on was applied (before, it would overwrite
    that link): the run and tab, and the layer and epoch of a tab showing one (`played`: each such tab's layer
    and epoch); on Compare, once it compares runs, its own ?compare=a,b."""
    if not opened:
        return no_update
    if tab == compare.TAB_ID and compared:  # what Compare shows is its runs, not the picker's
        return compare.choice_to_url(compared, shown)
    layer, epoch = dict(zip(PLAYED, zip(played[::2], played[1::2]))).get(tab, (None, None))
    fresh = links.query(links.View(run_id, tab, layer, epoch))
    return fresh if fresh != shown else no_update


def _register_link(app) -> None:
    controls = [(component, prop) for played in PLAYED.values()
                for component, prop in ((played.layer, "value"), (played.player.epoch, "value"),
                                        (played.player.epoch, "max"))]
    app.callback(Output(RUN_PICKER, "value", allow_duplicate=True),
                 Output(TAB_STRIP, "active_tab", allow_duplicate=True), Output(compare.COMPARE_RUNS, "value"),
                 Output(LINK_NOTE, "children"), Output(LINK_OPENED, "data"),
                 *(Output(component, prop, allow_duplicate=True) for component, prop in controls),
                 Input(PAGE_URL, "search"), State(LINK_OPENED, "data"), State(RUN_PICKER, "value"),
                 State(compare.COMPARE_RUNS, "value"),
                 *(Input(played.layer, "options") for played in PLAYED.values()),
                 *(Input(played.player.epoch, "max") for played in PLAYED.values()),
                 prevent_initial_call="initial_duplicate")(open_link)
    app.callback(Output(VIEW_QUERY, "data"), Input(RUN_PICKER, "value"), Input(TAB_STRIP, "active_tab"),
                 Input(compare.COMPARE_RUNS, "value"), Input(LINK_OPENED, "data"), State(VIEW_QUERY, "data"),
                 *(Input(component, "value") for played in PLAYED.values()
                   for component in (played.layer, played.player.epoch)),
                 prevent_initial_call=True)(follow_view)
    app.clientside_callback(_INTO_ADDRESS_BAR, Input(VIEW_QUERY, "data"), prevent_initial_call=True)


def register(app) -> None:
    app.callback(Output(RUN_PICKER, "options"), Output(RUN_PICKER, "value"), Output(RUN_PROBLEMS, "children"),
                 Input(LIVE_INTERVAL, "n_intervals"), Input(RUN_STATUS_FILTER, "value"), Input(RUN_SORT, "value"),
                 State(RUN_PICKER, "value"), State(RUN_PICKER, "options"),
                 State(RUN_PROBLEMS, "children"))(refresh_runs)
    app.callback(Output(RUN_VERSION, "data"), Input(LIVE_INTERVAL, "n_intervals"), Input(RUN_PICKER, "value"),
                 State(RUN_VERSION, "data"))(refresh_version)
    app.callback(Output(RUN_STATUS, "children"),
                 Input(RUN_PICKER, "value"), Input(RUN_VERSION, "data"))(run_status)
    for tab in TABS:
        tab.register(app)
    _register_link(app)
    jobs_panel.register(app)
    delete_run.register(app)
    exports.register(app)
