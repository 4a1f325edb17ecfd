"""The page's link (?run=…&tab=…&layer=…&epoch=…): its query read and written (app.links), the callbacks that
open a link's view and keep the address bar on the view shown (app.shell), and, in a real Chromium against a
real gunicorn, a link opening its ESD view and the address bar following the slider."""
from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from browser_helpers import (
    WAIT, By, WebDriverWait, active_tab, dashboard_env, page_text, start_gunicorn, stop_processes, wait_for_plot,
)
from dash import no_update

from app import components, data, links, shell
from app.links import View
from app.tabs import compare, esd, weights
from spectrascope import settings
from spectrascope.health.alerts import view_link
from spectrascope.runs import run_paths, update_run

OUTPUTS = ("run", "tab", "compared", "note", "opened", "esd_layer", "esd_epoch", "esd_max", "weights_layer",
           "weights_epoch", "weights_max")  # open_link's, in order


def add_newer_run(data_dir, epochs: int = 2) -> None:
    """`newer`: a copy of `demo`, created later (so the picker shows it first), analysed up to epoch `epochs`
    only (so its newest epoch is one `demo` has, and not demo's newest)."""
    shutil.copytree(data_dir / "runs" / "demo", data_dir / "runs" / "newer")
    layers_csv = data_dir / "runs" / "newer" / "analysis" / "layers.csv"
    table = pd.read_csv(layers_csv, keep_default_na=False)
    table[table["epoch"] <= epochs].to_csv(layers_csv, index=False)
    update_run(run_paths(data_dir, "newer"), created="2099-01-01T00:00:00+00:00")


def other_layer(run_id: str) -> str:
    """A layer of the run that its ESD tab does not open on by itself."""
    return next(layer for layer in data.layer_names(run_id) if layer != data.layer_worth_seeing(run_id))


def opened(search, shown_run="newer", compared=None) -> dict:
    """open_link's outputs, by name, for a page showing `shown_run` opened on `search`."""
    return dict(zip(OUTPUTS, shell.open_link(search, None, shown_run, compared), strict=True))


def note_of(outputs: dict) -> str:
    return outputs["note"].children if outputs["note"] is not None else ""


@pytest.fixture
def two_runs(dashboard_data):
    add_newer_run(dashboard_data)
    return dashboard_data


# --- the query ---------------------------------------------------------------------------------------


def test_a_query_names_a_view_and_the_view_its_query():
    view = View("demo", "esd", "layer1.0.conv2", 2)
    assert links.query(view) == "?run=demo&tab=esd&layer=layer1.0.conv2&epoch=2"
    assert links.view_in(links.query(view)) == view and links.view_in(links.query(view)[1:]) == view
    assert links.query(View("demo", "training")) == "?run=demo&tab=training"  # what a view leaves out, the link does
    assert links.query(View()) == "" and links.view_in("") == links.view_in(None) == View()
    assert links.view_in("?run=a%20b&epoch=x&tab=&compare=a,b") == View(run="a b")  # not a whole number: no epoch
    assert links.view_in("?epoch=3&epoch=4&layer=fc") == View(layer="fc", epoch=3)  # any order, first value


def test_an_alerts_link_is_the_query_of_the_view_it_opens(monkeypatch):
    monkeypatch.setenv(settings.PUBLIC_URL_ENV, "https://spectrascope.example/")
    link = view_link("demo", "layer1.0.conv2", 7)
    assert link == "https://spectrascope.example/" + links.query(View("demo", "esd", "layer1.0.conv2", 7))
    assert links.view_in(link.partition("?")[2]) == View("demo", "esd", "layer1.0.conv2", 7)


def test_what_a_link_names_that_is_not_here_is_said_and_something_else_shown():
    assert links.run_shown("demo", ["demo", "newer"], "newer") == ("demo", None)
    assert links.run_shown(None, ["demo"], "demo") == ("demo", None)  # a link naming no run: the page's own
    run_id, note = links.run_shown("gone", ["demo"], "demo")
    assert run_id == "demo" and note == ("The link names run 'gone', which is not here (deleted, or on another "
                                         "server); showing demo.")
    assert links.run_shown("gone", [], None)[1].endswith("; there is no run to show.")
    assert links.tab_shown("esd", ["esd"], None) == ("esd", None) and links.tab_shown(None, ["esd"], "x") == ("x", None)
    assert links.tab_shown("nope", ["esd"], None) == (
        None, "The link names tab 'nope', which this page does not have; showing its first tab (esd).")
    assert links.layer_note("demo", "fc", "fc") is None and links.layer_note("demo", None, "fc") is None
    assert links.layer_note("demo", "fc9", "fc") == "Run demo has no layer 'fc9'; showing fc."
    assert links.epoch_shown("demo", 1, [0, 1, 2], "epoch") == (1, None)
    assert links.epoch_shown("demo", None, [0, 1, 2], "epoch") == (None, None)
    assert links.epoch_shown("demo", 9, [0, 1, 2], "step") == (2, "Run demo has no step 9; showing step 2, "
                                                                  "the nearest.")
    assert links.epoch_shown("gpt2", 25, [10, 20, 30, 40], "step")[0] == 30  # the nearest, not the newest
    assert links.epoch_shown("gpt2", 14, [10, 20, 30, 40], "step")[0] == 10
    assert links.epoch_shown("demo", 9, [], "epoch")[1] == "Run demo has no epoch 9; it has none to show yet."


# --- the callbacks -----------------------------------------------------------------------------------


def test_a_link_opens_its_run_tab_layer_and_epoch_and_the_tabs_own_callbacks_keep_them(two_runs):
    layer = other_layer("demo")
    shown = opened(f"?run=demo&tab=esd&layer={layer}&epoch=2")
    assert shown == {"run": "demo", "tab": esd.TAB_ID, "compared": no_update, "note": None, "opened": True,
                     "esd_layer": layer, "esd_epoch": 2, "esd_max": 3,
                     "weights_layer": no_update, "weights_epoch": no_update, "weights_max": no_update}
    # then the picker's change reaches the ESD tab's own callbacks, which read the layer and epoch just set
    assert esd.layer_options("demo", None, shown["esd_layer"])[1] == layer
    epochs = data.analysed_epochs("demo")
    assert components.slider_settings(epochs, 2, shown["esd_max"])[3] == 2
    assert components.slider_settings(epochs, 2, 2)[3] == 3  # had the slider kept newer's end (2), 2 would read
    # as "on the newest epoch" and move on to demo's newest: the reason open_link sets the end too


def test_a_link_to_the_weights_tab_sets_its_layer_and_epoch(two_runs):
    shown = opened("?run=demo&tab=weights&layer=fc&epoch=1", shown_run="demo")
    assert shown["run"] is no_update and shown["tab"] == weights.TAB_ID and shown["note"] is None  # already shown
    assert (shown["weights_layer"], shown["weights_epoch"], shown["weights_max"]) == ("fc", 1, 3)
    assert shown["esd_layer"] is shown["esd_epoch"] is no_update


def test_a_link_to_a_run_not_here_says_so_and_leaves_the_page_on_its_own_run(two_runs):
    shown = opened(f"?run=gone&tab=esd&layer={other_layer('demo')}&epoch=1")
    assert note_of(shown) == ("The link names run 'gone', which is not here (deleted, or on another server); "
                              "showing newer.")
    assert shown["run"] is no_update and shown["tab"] == esd.TAB_ID  # the tab it names, of the run shown
    assert shown["esd_layer"] is shown["esd_epoch"] is no_update  # the missing run's layer is not looked for


def test_a_layer_and_epoch_the_run_lacks_are_said_and_its_own_shown(two_runs):
    shown = opened("?run=demo&tab=esd&layer=nope&epoch=9")
    worth = data.layer_worth_seeing("demo")
    assert (shown["run"], shown["esd_layer"], shown["esd_epoch"]) == ("demo", worth, 3)
    assert note_of(shown) == (f"Run demo has no layer 'nope'; showing {worth}. Run demo has no epoch 9; showing "
                              "epoch 3, the nearest.")
    assert note_of(opened("?tab=nope")) == ("The link names tab 'nope', which this page does not have; showing its "
                                            "first tab (training).")
    assert opened("?tab=nope")["tab"] is no_update


def test_a_plain_page_an_unread_address_bar_and_an_applied_link_change_nothing(two_runs):
    assert opened("") == {**dict.fromkeys(OUTPUTS, no_update), "note": None, "opened": True}
    assert shell.open_link(None, None, "newer", None) == (no_update,) * len(OUTPUTS)  # not read yet: wait for it
    assert shell.open_link("?run=demo", True, "newer", None) == (no_update,) * len(OUTPUTS)  # opened once only


def test_a_compare_link_opens_compare_on_its_runs(two_runs):
    shown = opened("?compare=demo,newer,gone")
    assert (shown["compared"], shown["tab"], shown["run"]) == (["demo", "newer"], compare.TAB_ID, no_update)
    assert note_of(shown) == "The link compares 'gone', not here (deleted, or on another server)."  # not quietly


def test_the_address_bar_follows_the_view_shown_once_the_link_is_applied(two_runs):
    def follow(tab, compared=None, shown=None, esd_view=("fc", 1), weights_view=("conv1", 2), run_id="demo"):
        return shell.follow_view(run_id, tab, compared, True, shown, *esd_view, *weights_view)

    assert shell.follow_view("demo", esd.TAB_ID, None, None, None, "fc", 1, "conv1", 2) is no_update  # not opened
    assert follow(esd.TAB_ID) == "?run=demo&tab=esd&layer=fc&epoch=1"
    assert follow(weights.TAB_ID) == "?run=demo&tab=weights&layer=conv1&epoch=2"
    assert follow("training") == "?run=demo&tab=training"
    assert follow(esd.TAB_ID, esd_view=(None, None)) == "?run=demo&tab=esd"  # nothing analysed yet
    assert follow(compare.TAB_ID) == "?run=demo&tab=compare"
    assert follow(compare.TAB_ID, ["demo", "newer"]) == "?compare=demo,newer"  # Compare shows its runs
    assert follow(esd.TAB_ID, shown="?run=demo&tab=esd&layer=fc&epoch=1") is no_update  # unchanged: nothing sent
    link = follow(esd.TAB_ID, esd_view=(other_layer("demo"), 2))
    shown = opened(link)  # the link copied from the address bar opens the same view
    assert (shown["run"], shown["tab"], shown["esd_layer"], shown["esd_epoch"]) == ("demo", esd.TAB_ID,
                                                                                   other_layer("demo"), 2)


# --- in the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(analysed_demo_run, tmp_path_factory):
    """The dashboard on `demo` and `newer` (see add_newer_run); yields its base URL."""
    data_dir = tmp_path_factory.mktemp("links") / "data"
    shutil.copytree(analysed_demo_run, data_dir)
    add_newer_run(data_dir)
    process, url = start_gunicorn(dashboard_env(data_dir), tmp_path_factory.mktemp("gunicorn"))
    yield url
    stop_processes(process)


def _query(driver) -> str:
    return driver.execute_script("return window.location.search;")


def _click_mark(driver, slider_id: str, label: str) -> None:
    """A real click on the slider where its mark `label` is (the slider's track takes it there)."""
    from selenium.webdriver.common.action_chains import ActionChains  # selenium: checked by `browser`

    mark = next(mark for mark in driver.find_elements(By.CSS_SELECTOR, f"#{slider_id} .dash-slider-mark")
                if mark.text.strip() == label)
    ActionChains(driver).move_to_element(mark).click().perform()


@pytest.mark.slow
def test_a_link_opens_the_esd_at_its_layer_and_epoch_and_the_address_bar_follows_the_slider(browser, server,
                                                                                          analysed_demo_run):
    driver, logs = browser
    table = pd.read_csv(analysed_demo_run / "runs" / "demo" / "analysis" / "layers.csv", keep_default_na=False)
    layer = next(name for name in table["layer"].unique() if name != data.most_telling_layer(table))
    link = f"?run=demo&tab=esd&layer={layer}&epoch=2"  # not the picker's run (newer), whose newest epoch is 2
    driver.get(f"{server}/{link}")

    WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "ESD", "the link did not open the ESD tab")
    WebDriverWait(driver, WAIT).until(lambda d: page_text(d, "run-picker-value").startswith("demo — "),
                                      "the run picker never showed the link's run")
    title = re.compile(rf"{re.escape(layer)} · epoch 2(?!\d)")
    wait_for_plot(driver, "esd-graph", lambda s: title.match(s["title"]), what=f"the ESD of {layer} at epoch 2")
    assert page_text(driver, "esd-layer-value").strip() == layer
    assert _query(driver) == link and not page_text(driver, shell.LINK_NOTE).strip()

    _click_mark(driver, esd.ESD_PLAYER.epoch, "0")
    moved = f"?run=demo&tab=esd&layer={layer}&epoch=0"
    WebDriverWait(driver, WAIT).until(lambda d: _query(d) == moved,
                                      f"the address bar never followed the slider: {_query(driver)!r}")
    wait_for_plot(driver, "esd-graph", lambda s: re.match(rf"{re.escape(layer)} · epoch 0(?!\d)", s["title"]),
                  what=f"the ESD of {layer} at epoch 0")
    logs.drain()
    assert logs.severe() == [], "the browser console logged errors:\n" + "\n".join(
        entry["message"] for entry in logs.severe())
