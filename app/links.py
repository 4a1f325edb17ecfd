"""The page's link, `?run=…&tab=…&layer=…&epoch=…`: the page opens on the view a link names, and from then on
the query follows what the page shows, so the address bar, copied, shares that view, and an alert's link
(spectrascope.health.alerts.view_link) opens the layer's ESD at the epoch it is about. What a link names that is
not here is said in one line, never silently replaced by something else. Here the parts that need no page (read
a query, write one, decide what to show); the callbacks that apply them are in app.shell."""
from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs, urlencode


class View(NamedTuple):
    """What the page shows, as a link names it, in the order alerts write the keys. None where a link says
    nothing: the page keeps its own choice there. `layer` and `epoch` only on a tab that shows one layer at one
    epoch (ESD, Weights & biases)."""
    run: str | None = None
    tab: str | None = None
    layer: str | None = None
    epoch: int | None = None


def _whole(text: str | None) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def view_in(search: str | None) -> View:
    """The view a query names (the first value of each key; an epoch that is not a whole number names none)."""
    named = {key: values[0] for key, values in parse_qs((search or "").lstrip("?")).items()}
    return View(named.get("run"), named.get("tab"), named.get("layer"), _whole(named.get("epoch")))


def query(view: View) -> str:
    """The query naming `view`, '' for nothing (the keys a view leaves None are left out)."""
    named = {key: value for key, value in view._asdict().items() if value is not None}
    return "?" + urlencode(named) if named else ""


def run_shown(wanted: str | None, runs: list[str], shown: str | None) -> tuple[str | None, str | None]:
    """(the run to show, the line saying why it is not the link's): the link's run where it is here; else the
    page's own choice, said so, since a link to a deleted run silently showing another would mislead."""
    if wanted is None or wanted in runs:
        return wanted or shown, None
    instead = f"showing {shown}" if shown else "there is no run to show"
    return shown, f"The link names run '{wanted}', which is not here (deleted, or on another server); {instead}."


def tab_shown(wanted: str | None, tabs: list[str], fallback: str | None) -> tuple[str | None, str | None]:
    """(the tab to show, the line saying the link's is not a tab of this page, and which is shown instead):
    `fallback` where it names none or one the page has not (None or no_update: the tab open stays, the first
    on opening)."""
    if wanted is None or wanted in tabs:
        return wanted or fallback, None
    instead = f"the {fallback} tab" if isinstance(fallback, str) else f"its first tab ({tabs[0]})"  # or no_update
    return fallback, f"The link names tab '{wanted}', which this page does not have; showing {instead}."


def layer_note(run_id: str, wanted: str | None, shown: str | None) -> str | None:
    """The line where the run lacks the link's layer (the tab then shows another, named here)."""
    if wanted is None or wanted == shown:
        return None
    instead = f"showing {shown}" if shown else "it has no layer to show yet"
    return f"Run {run_id} has no layer '{wanted}'; {instead}."


def epoch_shown(run_id: str, wanted: int | None, epochs: list[int], unit: str) -> tuple[int | None, str | None]:
    """(the epoch to show, the line where the run has not that one): the link's where the slider has it, else
    the nearest it has (the later of two as near: step 25 of 10, 20, 30 shows 30)."""
    if wanted is None or wanted in epochs:
        return wanted, None
    nearest = min(epochs, key=lambda epoch: (abs(epoch - wanted), -epoch)) if epochs else None
    instead = f"showing {unit} {nearest}, the nearest" if epochs else "it has none to show yet"
    return nearest, f"Run {run_id} has no {unit} {wanted}; {instead}."
