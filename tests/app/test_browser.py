"""The dashboard in a real headless Chromium against a real `gunicorn -w 2 app:server`.

One analysed demo run (the real CLI), one server and one browser per module. Chromium and chromedriver
come from Debian (`chromium`, `chromium-driver`); the tests fail, not skip, where they are missing.
"""
from __future__ import annotations

import base64
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_helpers import (
    CLICK_MISSED, JOB_WAIT, WAIT, By, WebDriverWait, active_tab, choose, dashboard_env, form_is_open, load_dashboard,
    metrics_layer_cells, open_new_run_form, open_tab, page_text, plot_state, set_input, show_run, start_demo_from_form,
    start_gunicorn, start_process, stop_processes, wait_for_plot,
)
from helpers import REPO, free_port, listens, read_run_json, run_dir, spectrascope, wait_for

from spectrascope.runs import job_is_active, run_paths
from spectrascope.users import add_user

REDIS_SERVER = Path("/usr/bin/redis-server")
DEMO = "demo"
DEMO_EPOCHS = 3
PASSWORD = "correct horse"

pytestmark = pytest.mark.slow


# --- the run, the server and the browser ----------------------------------------------------------


@pytest.fixture(scope="module")
def browser_data(tmp_path_factory) -> Path:
    """A data dir holding run `demo`: the demo preset trained for 3 epochs, then analysed."""
    browser_data = tmp_path_factory.mktemp("browser") / "data"
    for args in (("train", "--preset", "demo", "--epochs", DEMO_EPOCHS, "--run-id", DEMO),
                 ("analyze", "--run-id", DEMO)):
        process = spectrascope(*args, "--data-dir", browser_data, cwd=REPO, timeout=300)
        assert process.returncode == 0, f"spectrascope {args[0]} failed:\n{process.stderr}"
    return browser_data


@pytest.fixture(scope="module")
def server(browser_data, tmp_path_factory):
    """The dashboard with background callbacks on a shared diskcache; yields its base URL."""
    process, url = start_gunicorn(dashboard_env(browser_data), tmp_path_factory.mktemp("gunicorn"))
    yield url
    stop_processes(process)


@pytest.fixture(scope="module")
def celery_server(browser_data, tmp_path_factory):
    """The dashboard as a team deploys it: login (runner `rita`), background callbacks and jobs on Celery
    (a real redis-server and celery worker)."""
    assert REDIS_SERVER.exists(), "the Celery test needs redis-server (Debian package redis-server)"
    logs = tmp_path_factory.mktemp("celery")
    redis_port = free_port()
    add_user(logs / "users", "rita", PASSWORD, "runner")
    env = {**dashboard_env(browser_data), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "SPECTRASCOPE_USERS": str(logs / "users")}
    redis = start_process([str(REDIS_SERVER), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no"], env, logs, "redis")
    try:
        wait_for(lambda: listens(redis_port), 20, "redis-server to listen", interval=0.1, process=redis)
    except BaseException:
        stop_processes(redis)
        raise
    worker = start_process([sys.executable, "-m", "celery", "-A", "app.worker", "worker", "-Q", "train,analysis,celery",
                            "--concurrency", "2", "--loglevel", "info"], env, logs, "worker")
    try:
        wait_for(lambda: "ready" in (logs / "worker-stderr.txt").read_text(), 60, "the celery worker to be ready",
                 interval=0.2, process=worker)
        web, url = start_gunicorn(env, logs)
    except BaseException:
        stop_processes(worker, redis)
        raise
    yield url
    stop_processes(web, worker, redis)


# --- reading the page --------------------------------------------------------------------------------


def heatmap_cell_position(driver, layer: str, epoch: int, graph_id: str = "alpha-heatmap") -> tuple[float, float]:
    """Viewport coordinates of the centre of the heatmap cell (layer, epoch)."""
    return tuple(driver.execute_script("""
        const outer = document.getElementById(arguments[2]);
        const plot = outer.classList.contains('js-plotly-plot') ? outer : outer.querySelector('.js-plotly-plot');
        plot.scrollIntoView({block: 'center', behavior: 'instant'});  // the theme scrolls smoothly
        const layout = plot._fullLayout, size = layout._size;
        const box = plot.querySelector('.main-svg').getBoundingClientRect();
        return [box.left + size.l + layout.xaxis.d2p(arguments[1]),
                box.top + size.t + layout.yaxis.d2p(arguments[0])];
    """, layer, epoch, graph_id))


def click_at(driver, x: float, y: float) -> None:
    """A real mouse click, so plotly itself turns it into clickData."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder  # selenium: checked by `browser`

    click = ActionBuilder(driver)
    click.pointer_action.move_to_location(round(x), round(y)).pause(0.2).click()
    click.perform()


def legend_names(driver, graph_id: str) -> list[str]:
    """The names of the traces listed in the graph's legend, in order (an empty list until it drew)."""
    return driver.execute_script("""
        const outer = document.getElementById(arguments[0]);
        const plot = outer && (outer.classList.contains('js-plotly-plot') ? outer
                                                                           : outer.querySelector('.js-plotly-plot'));
        return plot && plot._fullData ? plot._fullData.filter(t => t.showlegend).map(t => t.name) : [];
    """, graph_id)


# --- the tests ---------------------------------------------------------------------------------------


def test_every_tab_shows_the_analysed_run(page, browser_data):
    driver = page
    show_run(driver, DEMO)
    assert page_text(driver, "run-picker-value").startswith(f"{DEMO} — completed")
    # the status badge comes from its own callback, which may land after the picker's
    WebDriverWait(driver, WAIT).until(lambda d: "completed" in page_text(d, "run-status"),
                                      "the run status never said completed")
    layers = sorted({row.split(",")[1] for row in
                     (run_dir(browser_data, DEMO) / "analysis" / "layers.csv").read_text().splitlines()[1:]})
    assert len(layers) > 5

    assert active_tab(driver) == "Training"
    curves = wait_for_plot(driver, "training-curves")
    # train/test accuracy and loss, and the learning rate; epoch 0 has test metrics only
    assert curves["traces"] == 5 and DEMO_EPOCHS + 1 in curves["points"], curves
    assert all(n >= DEMO_EPOCHS for n in curves["points"]), curves

    open_tab(driver, "Weights & biases")
    histogram = wait_for_plot(driver, "weights-histogram", lambda s: "epoch" in s["title"])
    assert re.search(rf"^\S+\.weight · epoch {DEMO_EPOCHS}$", histogram["title"]), histogram  # the latest
    WebDriverWait(driver, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#weights-stats td.dash-cell")) > 0,
        "the weight statistics table stayed empty")

    open_tab(driver, "ESD")
    esd = wait_for_plot(driver, "esd-graph", lambda s: "epoch" in s["title"])
    layer = page_text(driver, "esd-layer-value").strip()
    assert layer in layers, (layer, layers)
    assert re.match(rf"{re.escape(layer)} · epoch {DEMO_EPOCHS}(?!\d)", esd["title"]), (layer, esd)

    open_tab(driver, "Alpha")
    heatmap = wait_for_plot(driver, "alpha-heatmap")
    assert heatmap["x"] == list(range(DEMO_EPOCHS + 1)) and sorted(heatmap["y"]) == layers, heatmap
    wait_for_plot(driver, "alpha-summary")

    open_tab(driver, "Metrics")
    WebDriverWait(driver, WAIT).until(lambda d: len(metrics_layer_cells(d)) == len(layers),
                                      f"the Metrics table never had one row per layer ({len(layers)})")
    assert sorted(metrics_layer_cells(driver)) == layers
    assert re.match(rf"{len(layers)} layers at epoch {DEMO_EPOCHS};", page_text(driver, "metrics-note"))
    assert driver.find_element(By.ID, "metrics-export").text == "Export CSV"


def test_a_click_on_an_alpha_cell_opens_that_layer_and_epoch_in_the_esd_tab(page):
    driver = page
    show_run(driver, DEMO)
    open_tab(driver, "Alpha")
    heatmap = wait_for_plot(driver, "alpha-heatmap")
    assert heatmap["x"] == list(range(DEMO_EPOCHS + 1)), heatmap
    layer, epoch = heatmap["y"][2], 1  # neither the ESD tab's default layer (the first) nor epoch (the last)
    click_at(driver, *heatmap_cell_position(driver, layer, epoch))

    WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "ESD", "the click did not switch to the ESD tab")
    WebDriverWait(driver, WAIT).until(lambda d: page_text(d, "esd-layer-value").strip() == layer,
                                      f"the ESD layer picker never showed {layer}")
    title = re.compile(rf"{re.escape(layer)} · epoch {epoch}(?!\d)")
    esd = wait_for_plot(driver, "esd-graph", lambda s: title.match(s["title"]),
                        what=f"the ESD of {layer} at epoch {epoch}")
    assert esd["traces"] >= 1
    assert page_text(driver, "esd-fit").strip(), "the fit summary below the ESD is empty"


def test_compare_follows_its_link_overlays_two_runs_and_a_difference_click_moves_the_esds(page, server, browser_data):
    driver, copy = page, "demo-copy"
    shutil.copytree(run_dir(browser_data, DEMO), run_dir(browser_data, copy))
    try:
        open_tab(driver, "Compare")
        assert page_text(driver, "compare-note") == "Pick two or more runs to compare."
        for run_id in (DEMO, copy):
            choose(driver, "compare-runs", run_id)
        link = f"{server}/?compare={DEMO},{copy}"
        WebDriverWait(driver, WAIT).until(lambda d: d.current_url == link, "the URL never took the chosen runs")

        driver.get(link)  # the shared link, opened afresh: the same view
        WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "Compare", "the link did not open Compare")
        for graph in ("compare-curves", "compare-mean-alpha", "compare-esd", "compare-histogram"):
            wait_for_plot(driver, graph)
            WebDriverWait(driver, WAIT).until(lambda d: {DEMO, copy} <= set(legend_names(d, graph)),
                                              f"{graph} never listed both runs in its legend")
        heatmap = wait_for_plot(driver, "compare-difference")
        assert heatmap["x"] == list(range(DEMO_EPOCHS + 1)), heatmap
        layer = next(name for name in heatmap["y"] if name != page_text(driver, "compare-layer").strip())
        click_at(driver, *heatmap_cell_position(driver, layer, 1, "compare-difference"))
        title = re.compile(rf"{re.escape(layer)} · epoch 1(?!\d)")
        wait_for_plot(driver, "compare-esd", lambda s: title.match(s["title"]), what=f"the ESDs of {layer} at epoch 1")
        assert page_text(driver, "compare-layer").strip() == layer

        driver.refresh()
        WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "Compare", "a reload lost the Compare tab")
        WebDriverWait(driver, WAIT).until(lambda d: {DEMO, copy} <= set(legend_names(d, "compare-curves")),
                                          "a reload lost the chosen runs")
        assert driver.current_url == link
    finally:
        driver.get("about:blank")  # nothing polls the copy while it goes: a request failing then is no page error
        shutil.rmtree(run_dir(browser_data, copy))


def test_the_esd_plays_in_the_page_without_asking_the_server_for_a_frame(page, browser):
    """The run's epochs of a layer come in one window of frames; playing through them draws each epoch's ESD
    and fit from it, and asks the server for nothing but the run list's polls."""
    driver, logs = page, browser[1]
    show_run(driver, DEMO)
    open_tab(driver, "ESD")
    wait_for_plot(driver, "esd-graph", lambda s: f"epoch {DEMO_EPOCHS}" in s["title"])
    logs.drain()
    asked_before = len(logs.callback_outputs())
    driver.find_element(By.ID, "esd-play").click()
    seen = set()

    def played_through(d) -> bool:
        seen.update(re.findall(r"epoch (\d+)", plot_state(d, "esd-graph")["title"]))
        return len(seen) == DEMO_EPOCHS + 1

    WebDriverWait(driver, WAIT).until(played_through, f"playing showed only epochs {sorted(seen)}")
    driver.find_element(By.ID, "esd-play").click()  # pause
    logs.drain()
    asked = logs.callback_outputs()[asked_before:]
    assert not [output for output in asked if "esd-" in output], f"played through the server: {asked}"
    title, fit = plot_state(driver, "esd-graph")["title"], page_text(driver, "esd-fit")
    alpha = re.search(r"α = ([0-9.]+)", title).group(1)
    assert alpha[:5] in fit  # the fit table is the same epoch's as the figure


def test_weights_tab_plays_over_epochs_and_switches_to_the_ridge_and_log_views(page):
    driver = page
    show_run(driver, DEMO)
    open_tab(driver, "Weights & biases")
    first = wait_for_plot(driver, "weights-histogram", lambda s: "epoch" in s["title"])["title"]
    driver.find_element(By.ID, "weights-play").click()
    seen = {first}

    def played_on(d) -> bool:
        seen.add(plot_state(d, "weights-histogram")["title"])
        return len(seen) >= 3

    WebDriverWait(driver, WAIT).until(played_on, "playing never moved through the epochs")
    driver.find_element(By.ID, "weights-play").click()  # pause

    driver.find_element(By.XPATH, "//*[@id='weights-view']//label[contains(., 'ridge')]").click()
    wait_for_plot(driver, "weights-histogram", lambda s: s["traces"] == DEMO_EPOCHS + 1, what="one ridge per epoch")
    highlighted = ("return document.querySelector('#weights-histogram .js-plotly-plot')._fullData"
                   ".findIndex(trace => trace.line.width > 1);")  # the ridge of the slider's epoch
    before = driver.execute_script(highlighted)
    driver.find_element(By.ID, "weights-play").click()  # the ridge stays; its highlight moves (a Patch)
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(highlighted) not in (before, -1),
                                      "the ridge's highlight never followed the playing epoch")
    driver.find_element(By.ID, "weights-play").click()  # pause
    driver.find_element(By.ID, "weights-log-y").click()
    driver.find_element(By.XPATH, "//*[@id='weights-view']//label[contains(., 'one checkpoint')]").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(
        "return document.querySelector('#weights-histogram .js-plotly-plot')._fullLayout.yaxis.type") == "log",
        "log y did not make the histogram's y axis logarithmic")


def test_a_bad_form_value_is_reported_in_the_form_and_creates_no_run(page, browser_data):
    driver = page
    before = sorted(p.name for p in (browser_data / "runs").iterdir())
    open_new_run_form(driver)
    set_input(driver, "new-run-id", "never-created")
    set_input(driver, "new-run-epochs", "-1")
    driver.find_element(By.ID, "new-run-submit").click()

    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "new-run-error").is_displayed(),
                                      "no error was shown in the form")
    assert "epochs must be positive" in driver.find_element(By.ID, "new-run-error").text
    assert form_is_open(driver), "the form closed on an error"
    assert sorted(p.name for p in (browser_data / "runs").iterdir()) == before
    assert not run_dir(browser_data, "never-created").exists()


def wait_for_job_report(driver, run_id: str) -> None:
    """The background callback that follows the page's job reports how it ended."""
    expected = f"train of {run_id} — completed"
    try:
        WebDriverWait(driver, JOB_WAIT).until(lambda d: expected in page_text(d, "job-outcome"))
    except Exception as exc:
        raise AssertionError(f"the page never reported {expected!r}; "
                             f"it says {page_text(driver, 'job-outcome')!r}") from exc


def test_a_demo_run_started_from_the_form_trains_and_shows_its_heatmap(page, browser_data):
    driver = page
    run_id = f"browser-{time.monotonic_ns()}"
    paths, finished = run_paths(browser_data, run_id), False
    start_demo_from_form(driver, run_id, epochs=2)
    try:
        open_tab(driver, "Alpha")
        try:
            WebDriverWait(driver, JOB_WAIT).until(
                lambda d: page_text(d, "run-picker-value").startswith(f"{run_id} — completed")
                and "completed" in page_text(d, "run-status"))
        except Exception as exc:
            raise AssertionError(f"the job never completed; page says {page_text(driver, 'run-status')!r}; "
                                 f"run.json: {read_run_json(browser_data, run_id)}") from exc
        record = read_run_json(browser_data, run_id)
        assert record["status"] == "completed" and record["preset"] == "demo"
        assert record["config"]["epochs"] == 2 and record["progress"]["epoch"] == 2
        # the job analyses each checkpoint as it lands: epochs 0, 1 and 2 end up in the heatmap
        heatmap = wait_for_plot(driver, "alpha-heatmap", lambda s: s["x"] == [0, 1, 2], timeout=JOB_WAIT,
                                what="the new run's epochs 0-2")
        assert len(heatmap["y"]) > 5
        wait_for_job_report(driver, run_id)
        assert read_run_json(browser_data, run_id)["analysis"]["status"] == "completed"
        # the detached job (python -m spectrascope.jobs) lets go of the run once it is done
        wait_for(lambda: not job_is_active(paths, "job"), 30, "the detached job to exit", interval=0.2)
        finished = True
    finally:
        if not finished and job_is_active(paths, "job"):  # never leave a detached job training behind
            paths.cancel_request.touch()


def test_a_training_run_s_events_reach_the_health_tab_and_run_picker_live_and_open_their_esd(page, browser_data):
    """The documented recipe (too large a learning rate, no regularisation) trained from the form: its
    over-trained layers appear in the Health tab and under the run's name as the epochs are analysed, with
    no reload; a click on one in the table opens that layer's ESD at that epoch."""
    driver = page
    run_id = f"hot-{time.monotonic_ns()}"
    paths, finished = run_paths(browser_data, run_id), False
    driver.execute_script("window.stillTheSamePage = true;")
    start_demo_from_form(driver, run_id, epochs=3, lr="2", weight_decay="0", mixup_alpha="0", batch_size="16")
    try:
        open_tab(driver, "Health")
        try:
            WebDriverWait(driver, JOB_WAIT).until(
                lambda d: "over-trained since" in page_text(d, "health-summary")
                and "over-trained since" in page_text(d, "run-picker-value"))
        except Exception as exc:
            raise AssertionError(f"no event shown; Health says {page_text(driver, 'health-summary')!r}, the picker "
                                 f"{page_text(driver, 'run-picker-value')!r}") from exc
        assert driver.execute_script("return window.stillTheSamePage === true;")  # followed live, not reloaded
        row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#health-table tbody tr")
                   if "over-trained" in r.text)
        cells = row.find_elements(By.CSS_SELECTOR, "td.dash-cell")
        epoch, layer = cells[0].text.strip(), cells[1].text.strip()
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", cells[1])
        cells[1].click()
        WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "ESD", "the click did not open the ESD tab")
        title = re.compile(rf"{re.escape(layer)} · epoch {epoch}(?!\d)")
        wait_for_plot(driver, "esd-graph", lambda s: title.match(s["title"]), what=f"the ESD of {layer} at {epoch}")
        wait_for(lambda: not job_is_active(paths, "job"), JOB_WAIT, "the job to end", interval=0.2)
        finished = True
    finally:
        if not finished and job_is_active(paths, "job"):
            paths.cancel_request.touch()


def test_cancel_stops_a_running_job_and_the_run_says_cancelled(page, browser_data):
    driver = page
    run_id = f"cancel-{time.monotonic_ns()}"
    paths = run_paths(browser_data, run_id)
    epochs = 200  # far more than the test needs: a cancel that never arrives cannot pass for a finished run
    start_demo_from_form(driver, run_id, epochs=epochs)
    try:
        wait_for(lambda: ((read_run_json(browser_data, run_id) or {}).get("progress") or {}).get("epoch") or 0,
                 JOB_WAIT, "the job's first epoch", interval=0.2)

        def cancel_requested(d) -> bool:  # the job list is redrawn as progress changes: a redraw may eat a click
            if paths.cancel_request.exists() or not job_is_active(paths, "job"):
                return True
            d.find_element(By.CSS_SELECTOR, f"#job-list button[id*='cancel-job'][id*='{run_id}']").click()
            return False

        WebDriverWait(driver, WAIT, poll_frequency=1, ignored_exceptions=CLICK_MISSED).until(
            cancel_requested, "Cancel never reached the job")
        WebDriverWait(driver, JOB_WAIT).until(
            lambda d: page_text(d, "run-picker-value").startswith(f"{run_id} — cancelled"),
            "never shown as cancelled")
        record = read_run_json(browser_data, run_id)
        assert record["status"] == "cancelled" and record["progress"]["epoch"] < epochs
        wait_for(lambda: not job_is_active(paths, "job"), 30, "the cancelled job to exit", interval=0.2)
        WebDriverWait(driver, WAIT).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, "#job-list button[id*='cancel-job']"),
            "the job list still offers a Cancel button")
    finally:
        if job_is_active(paths, "job"):
            paths.cancel_request.touch()


def test_resume_continues_a_cancelled_run_from_the_page_to_its_end(page, browser_data):
    driver = page
    run_id = f"resume-{time.monotonic_ns()}"
    paths, epochs = run_paths(browser_data, run_id), 8
    start_demo_from_form(driver, run_id, epochs=epochs)
    try:
        wait_for(lambda: ((read_run_json(browser_data, run_id) or {}).get("progress") or {}).get("epoch") or 0,
                 JOB_WAIT, "the job's first epoch", interval=0.2)
        paths.cancel_request.touch()  # as the job list's Cancel does (its own test clicks it)
        WebDriverWait(driver, JOB_WAIT).until(
            lambda d: page_text(d, "run-picker-value").startswith(f"{run_id} — cancelled"), "never shown as cancelled")
        wait_for(lambda: not job_is_active(paths, "job"), 30, "the cancelled job to exit", interval=0.2)
        stopped_at = read_run_json(browser_data, run_id)["progress"]["epoch"]
        assert stopped_at < epochs, "the run finished before the cancel: make it longer"
        assert "Resume it from its last complete epoch" in page_text(driver, "run-status")

        def resumed(d) -> bool:  # the status line is redrawn as the run changes: a redraw may eat a click
            if read_run_json(browser_data, run_id)["status"] != "cancelled":
                return True
            d.find_element(By.CSS_SELECTOR, "#run-status button[id*='resume-run']").click()
            return False

        WebDriverWait(driver, WAIT, poll_frequency=1, ignored_exceptions=CLICK_MISSED).until(
            resumed, "Resume never reached the job runner")
        WebDriverWait(driver, JOB_WAIT).until(
            lambda d: page_text(d, "run-picker-value").startswith(f"{run_id} — completed"), "the resumed run never completed")
        wait_for(lambda: not job_is_active(paths, "job"), JOB_WAIT, "the resumed job to end", interval=0.2)
        record = read_run_json(browser_data, run_id)
        assert record["progress"]["epoch"] == epochs and record["analysis"]["status"] == "completed"
        assert f"spectrascope train --run-id {run_id} --resume" in paths.job_log.read_text()
        assert not driver.find_elements(By.CSS_SELECTOR, "#run-status button[id*='resume-run']")
    finally:
        if job_is_active(paths, "job"):
            paths.cancel_request.touch()


def test_the_analyse_form_reanalyses_the_run(page, browser_data):
    driver = page
    show_run(driver, DEMO)
    paths = run_paths(browser_data, DEMO)
    before = paths.layers_csv.stat().st_mtime_ns
    paths.analysis_manifest.unlink()  # so every epoch is redone
    driver.find_element(By.ID, "analyse-open").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "analyse-submit").is_displayed())
    assert page_text(driver, "analyse-target") == f"Run: {DEMO}"
    driver.find_element(By.ID, "analyse-submit").click()
    wait_for(lambda: paths.layers_csv.stat().st_mtime_ns != before
             and read_run_json(browser_data, DEMO)["analysis"]["status"] == "completed"
             and not job_is_active(paths, "job"), JOB_WAIT, "the analysis job to finish", interval=0.2)
    WebDriverWait(driver, JOB_WAIT).until(lambda d: f"analyze of {DEMO} — completed" in page_text(d, "job-outcome"))


def _trained_and_analysed(record: dict) -> bool:
    return record.get("status") == "completed" and (record.get("analysis") or {}).get("status") == "completed"


def test_download_this_view_offers_the_file_the_export_command_writes(page, server, browser_data, tmp_path):
    driver = page
    show_run(driver, DEMO)
    open_tab(driver, "ESD")
    layer = wait_for_plot(driver, "esd-graph", lambda state: "·" in state["title"])["title"].split(" · ")[0]
    driver.find_element(By.CSS_SELECTOR, "#export-bar .dropdown-toggle").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "export-gif").is_displayed())
    driver.find_element(By.ID, "export-gif").click()
    WebDriverWait(driver, JOB_WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#export-offer a"),
                                          "the finished export was never offered")
    link = driver.find_element(By.CSS_SELECTOR, "#export-offer a")
    assert link.text.startswith(f"esd-{layer}.gif (") and link.is_displayed()
    with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
        offered = response.read()
    by_hand = spectrascope("export", "--run", DEMO, "--view", "esd", "--layer", layer, "--format", "gif",
                           "--out", tmp_path / "by-hand.gif", "--data-dir", browser_data, cwd=REPO, timeout=300)
    assert by_hand.returncode == 0, by_hand.stderr
    assert offered == (tmp_path / "by-hand.gif").read_bytes()


def status_without(url: str, login: dict) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=login), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_with_login_and_celery_the_page_s_job_runs_on_the_worker(browser, celery_server, browser_data):
    wrong = {"Authorization": "Basic " + base64.b64encode(b"rita:guess").decode()}
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        assert status_without(celery_server + path, {}) == 401 and status_without(celery_server + path, wrong) == 401
    driver, logs = browser
    login = base64.b64encode(f"rita:{PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {login}"}})
    run_id = f"celery-{time.monotonic_ns()}"
    paths = run_paths(browser_data, run_id)
    try:  # only the Celery worker running the background callback says so
        load_dashboard(driver, celery_server)
        assert "rita · runner" in driver.find_element(By.TAG_NAME, "nav").text
        start_demo_from_form(driver, run_id, epochs=1)
        WebDriverWait(driver, WAIT).until(lambda d: f"train of {run_id} — sent to the team's workers"
                                          in page_text(d, "job-outcome"))
        wait_for(lambda: _trained_and_analysed(read_run_json(browser_data, run_id) or {}), JOB_WAIT,
                 "the worker to train the run and analyse it")
    finally:
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        logs.drain()
        if job_is_active(paths, "job"):
            paths.cancel_request.touch()


def test_the_page_logs_no_errors_and_asks_nothing_of_other_hosts(browser, page):
    driver, logs = browser
    open_tab(driver, "Alpha")
    wait_for_plot(driver, "alpha-heatmap")
    logs.drain()
    urls = [url for url in logs.request_urls() if not url.startswith("data:")]
    assert urls, "the performance log recorded no requests at all"
    foreign = sorted({url for url in urls if urlsplit(url).scheme not in ("http", "https")
                      or urlsplit(url).hostname not in ("127.0.0.1", "localhost")})
    assert foreign == [], f"the page asked other hosts for: {foreign}"
    assert any(urlsplit(url).path == "/_dash-update-component" for url in urls)
    assert logs.severe() == [], "the browser console logged errors:\n" + "\n".join(
        entry["message"] for entry in logs.severe())
