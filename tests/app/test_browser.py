"""The dashboard in a real headless Chromium against a real `gunicorn -w 2 app:server`.

One analysed demo run (the real CLI), one server and one browser per module. Chromium and chromedriver
come from Debian (`chromium`, `chromium-driver`); the tests fail, not skip, where they are missing.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import REPO, dashboard_healthy, free_port, listens, read_run_json, run_dir, spectrascope, wait_for

from spectrascope.runs import job_is_active, run_paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GUNICORN = (sys.executable, "-m", "gunicorn")  # the gunicorn of the interpreter running the tests
REDIS_SERVER = Path("/usr/bin/redis-server")
DEMO = "demo"
DEMO_EPOCHS = 3
WAIT = 20  # seconds for one page interaction to show its result
JOB_WAIT = 120  # seconds for a 2-epoch demo job to train and be analysed

pytestmark = pytest.mark.slow

try:  # a missing selenium is a broken test environment, not a reason to skip
    from selenium import webdriver
    from selenium.common import exceptions
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    CLICK_MISSED = (exceptions.NoSuchElementException, exceptions.StaleElementReferenceException,
                    exceptions.ElementClickInterceptedException)
except ImportError as exc:  # pragma: no cover - only in a broken environment
    webdriver = None
    SELENIUM_IMPORT_ERROR = exc


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



def _start(command: list[str], env: dict, logs: Path, name: str) -> subprocess.Popen:
    with open(logs / f"{name}-stdout.txt", "w") as stdout, open(logs / f"{name}-stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    process.stderr_path = logs / f"{name}-stderr.txt"
    return process


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _gunicorn(env: dict, logs: Path) -> tuple[subprocess.Popen, str]:
    """`gunicorn -w 2 app:server` on a free local port; returns it and its base URL once it answers."""
    assert importlib.util.find_spec("gunicorn"), f"gunicorn is not installed for {sys.executable}"
    port = free_port()
    command = [*GUNICORN, "-w", "2", "--bind", f"127.0.0.1:{port}", "app:server"]
    usage = subprocess.run([*GUNICORN, "--help"], check=False, capture_output=True, text=True).stdout
    if "--no-control-socket" in usage:  # newer gunicorns would otherwise all share ~/.gunicorn/gunicorn.ctl
        command.insert(len(GUNICORN), "--no-control-socket")
    process = _start(command, env, logs, "gunicorn")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: dashboard_healthy(url), 60, "gunicorn to answer /health", interval=0.2, process=process)
    except BaseException:
        _stop(process)
        raise
    return process, url


def _dashboard_env(browser_data: Path) -> dict:
    env = {**os.environ, "SPECTRASCOPE_DATA_DIR": str(browser_data), "SPECTRASCOPE_MAX_JOBS": "1"}
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(scope="module")
def server(browser_data, tmp_path_factory):
    """The dashboard with background callbacks on a shared diskcache; yields its base URL."""
    process, url = _gunicorn(_dashboard_env(browser_data), tmp_path_factory.mktemp("gunicorn"))
    yield url
    _stop(process)


@pytest.fixture(scope="module")
def celery_server(browser_data, tmp_path_factory):
    """The dashboard with background callbacks on Celery: a real redis-server and celery worker."""
    assert REDIS_SERVER.exists(), "the Celery test needs redis-server (Debian package redis-server)"
    logs = tmp_path_factory.mktemp("celery")
    redis_port = free_port()
    env = {**_dashboard_env(browser_data), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    redis = _start([str(REDIS_SERVER), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no"], env, logs, "redis")
    try:
        wait_for(lambda: listens(redis_port), 20, "redis-server to listen", interval=0.1, process=redis)
    except BaseException:
        _stop(redis)
        raise
    worker = _start([sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool", "solo",
                     "--loglevel", "info"], env, logs, "worker")
    try:
        wait_for(lambda: "ready" in (logs / "worker-stderr.txt").read_text(), 60, "the celery worker to be ready",
                 interval=0.2, process=worker)
        web, url = _gunicorn(env, logs)
    except BaseException:
        _stop(worker, redis)
        raise
    yield url
    _stop(web, worker, redis)


def _require_browser() -> None:
    missing = [f"{path} (Debian package {package})" for path, package in
               ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")) if not path.exists()]
    if webdriver is None:
        missing.append(f"the selenium package ({SELENIUM_IMPORT_ERROR})")
    if missing:
        pytest.fail("the browser tests need " + " and ".join(missing) + "; install them (CI does: "
                    "apt-get install chromium chromium-driver; pip install -e '.[test]')", pytrace=False)


class Logs:
    """Everything the browser logged this session (chromedriver hands each entry out only once)."""

    def __init__(self, driver):
        self.driver = driver
        self.console: list[dict] = []
        self.performance: list[dict] = []

    def drain(self) -> None:
        self.console += self.driver.get_log("browser")
        self.performance += self.driver.get_log("performance")

    def severe(self) -> list[dict]:
        return [entry for entry in self.console if entry["level"] == "SEVERE"]

    def request_urls(self) -> list[str]:
        urls = []
        for entry in self.performance:
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; yields (driver, logs)."""
    _require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     "--disable-default-apps", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    logs = Logs(driver)
    try:
        yield driver, logs
    finally:
        driver.quit()


@pytest.fixture
def page(browser, server):
    """The dashboard freshly loaded, the run picker filled in; the browser's logs are kept after the test."""
    driver, logs = browser
    driver.get(server)
    WebDriverWait(driver, WAIT).until(lambda d: _text(d, "run-picker-value").strip(), "the run picker never filled in")
    yield driver
    logs.drain()


# --- reading and driving the page ------------------------------------------------------------------

_PLOT = """
const outer = document.getElementById(arguments[0]);
if (!outer) return null;
const plot = outer.classList.contains('js-plotly-plot') ? outer : outer.querySelector('.js-plotly-plot');
if (!plot || !plot._fullData) return null;
const traces = plot._fullData.filter(t => t.visible !== false);  // decoded: the figure's arrays may be base64
const title = plot.querySelector('.gtitle');
return {traces: traces.length,
        points: traces.map(t => (t.z || t.y || []).length),
        x: traces.length ? Array.from(traces[0].x || []) : [],
        y: traces.length ? Array.from(traces[0].y || []) : [],
        title: title ? title.textContent : '',
        visible: plot.getBoundingClientRect().height > 0};
"""


def _text(driver, element_id: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                 element_id) or ""


def plot_state(driver, graph_id: str) -> dict | None:
    """The traces plotly drew into dcc.Graph `graph_id` (None until it drew)."""
    return driver.execute_script(_PLOT, graph_id)


def wait_for_plot(driver, graph_id: str, condition=lambda state: True, timeout: float = WAIT, what: str = "") -> dict:
    """Wait until the graph is drawn, visible, has traces with points, and `condition` holds."""
    def ready(d):
        state = plot_state(d, graph_id)
        ok = bool(state and state["visible"] and state["traces"] > 0 and max(state["points"]) > 0 and condition(state))
        return state if ok else False
    try:
        return WebDriverWait(driver, timeout).until(ready)
    except Exception as exc:
        state = plot_state(driver, graph_id)
        raise AssertionError(f"{graph_id} never showed {what or 'data'}; it shows {state}") from exc


def tab_link(driver, label: str):
    links = [link for link in driver.find_elements(By.CSS_SELECTOR, "#tabs a.nav-link") if link.text.strip() == label]
    assert len(links) == 1, f"expected one tab labelled {label!r}, found {[link.text for link in links]}"
    return links[0]


def active_tab(driver) -> str:
    return driver.execute_script("const a = document.querySelector('#tabs a.nav-link.active'); "
                                 "return a ? a.textContent.trim() : null;")


def open_tab(driver, label: str) -> None:
    tab_link(driver, label).click()
    WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == label, f"the {label} tab never became active")


def show_run(driver, run_id: str) -> None:
    """Pick `run_id` in the run picker (a newer run is shown by default)."""
    if not _text(driver, "run-picker-value").startswith(f"{run_id} — "):
        driver.find_element(By.ID, "run-picker").click()
        WebDriverWait(driver, WAIT).until(
            lambda d: d.find_element(By.CSS_SELECTOR, f"[role=option]:has(input[value='{run_id}'])")).click()
    WebDriverWait(driver, WAIT).until(lambda d: _text(d, "run-picker-value").startswith(f"{run_id} — "),
                                      f"the run picker never showed {run_id}")


def metrics_layer_cells(driver) -> list[str]:
    """The layer names the table shows. The layer column is frozen: DataTable draws its cells twice, filled
    in the frozen fragment and empty in the scrolling one."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#metrics-table td.dash-cell[data-dash-column=\"layer\"]'))"
        ".map(td => td.innerText.trim()).filter(name => name);")


def set_input(driver, element_id: str, text: str) -> None:
    """Replace a (React-controlled) input's text by typing, so Dash sees every change."""
    element = driver.find_element(By.ID, element_id)
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    element.send_keys(text)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, element_id).get_attribute("value") == text,
                                      f"#{element_id} never read {text!r}")


def form_is_open(driver) -> bool:
    """Whether the New run form shows (a closed dbc.Modal leaves nothing in the page). A button that leaves
    the page between being found and being asked (the closing modal removing it) is looked for again."""
    for attempt in range(10):
        try:
            return any(button.is_displayed() for button in driver.find_elements(By.ID, "new-run-submit"))
        except exceptions.StaleElementReferenceException:
            if attempt == 9:
                raise


def open_new_run_form(driver) -> None:
    driver.find_element(By.ID, "new-run-open").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "new-run-submit").is_displayed(),
                                      "the New run form never opened")
    # the preset's defaults arrive from a callback: typing before they land would be overwritten
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "new-run-epochs").get_attribute("value"),
                                      "the New run form never got the preset's defaults")
    assert _text(driver, "new-run-preset").strip() == "demo", "the preset does not default to demo"


def heatmap_cell_position(driver, layer: str, epoch: int) -> tuple[float, float]:
    """Viewport coordinates of the centre of the heatmap cell (layer, epoch)."""
    return tuple(driver.execute_script("""
        const outer = document.getElementById('alpha-heatmap');
        const plot = outer.classList.contains('js-plotly-plot') ? outer : outer.querySelector('.js-plotly-plot');
        plot.scrollIntoView({block: 'center', behavior: 'instant'});  // the theme scrolls smoothly
        const layout = plot._fullLayout, size = layout._size;
        const box = plot.querySelector('.main-svg').getBoundingClientRect();
        return [box.left + size.l + layout.xaxis.d2p(arguments[1]),
                box.top + size.t + layout.yaxis.d2p(arguments[0])];
    """, layer, epoch))


# --- the tests ---------------------------------------------------------------------------------------


def test_every_tab_shows_the_analysed_run(page, browser_data):
    driver = page
    show_run(driver, DEMO)
    assert _text(driver, "run-picker-value").startswith(f"{DEMO} — completed")
    # the status badge comes from its own callback, which may land after the picker's
    WebDriverWait(driver, WAIT).until(lambda d: "completed" in _text(d, "run-status"),
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
    layer = _text(driver, "esd-layer-value").strip()
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
    assert re.match(rf"{len(layers)} layers at epoch {DEMO_EPOCHS};", _text(driver, "metrics-note"))
    assert driver.find_element(By.ID, "metrics-export").text == "Export CSV"


def test_a_click_on_an_alpha_cell_opens_that_layer_and_epoch_in_the_esd_tab(page):
    driver = page
    show_run(driver, DEMO)
    open_tab(driver, "Alpha")
    heatmap = wait_for_plot(driver, "alpha-heatmap")
    assert heatmap["x"] == list(range(DEMO_EPOCHS + 1)), heatmap
    layer, epoch = heatmap["y"][2], 1  # neither the ESD tab's default layer (the first) nor epoch (the last)
    x, y = heatmap_cell_position(driver, layer, epoch)
    click = ActionBuilder(driver)  # a real mouse click, so plotly itself turns it into clickData
    click.pointer_action.move_to_location(round(x), round(y)).pause(0.2).click()
    click.perform()

    WebDriverWait(driver, WAIT).until(lambda d: active_tab(d) == "ESD", "the click did not switch to the ESD tab")
    WebDriverWait(driver, WAIT).until(lambda d: _text(d, "esd-layer-value").strip() == layer,
                                      f"the ESD layer picker never showed {layer}")
    title = re.compile(rf"{re.escape(layer)} · epoch {epoch}(?!\d)")
    esd = wait_for_plot(driver, "esd-graph", lambda s: title.match(s["title"]),
                        what=f"the ESD of {layer} at epoch {epoch}")
    assert esd["traces"] >= 1
    assert _text(driver, "esd-fit").strip(), "the fit summary below the ESD is empty"


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
    driver.find_element(By.ID, "weights-log-y").click()
    driver.find_element(By.XPATH, "//*[@id='weights-view']//label[contains(., 'one epoch')]").click()
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


def start_demo_from_form(driver, run_id: str, epochs: int) -> None:
    open_new_run_form(driver)
    set_input(driver, "new-run-epochs", str(epochs))
    set_input(driver, "new-run-id", run_id)
    shown_before = _text(driver, "run-picker-value")
    driver.find_element(By.ID, "new-run-submit").click()
    try:
        WebDriverWait(driver, WAIT).until(lambda d: not form_is_open(d))
    except Exception as exc:
        raise AssertionError(f"the form stayed open: {_text(driver, 'new-run-error')!r}") from exc
    assert _text(driver, "run-picker-value") == shown_before  # Start leaves the user where they were

    def open_from_job_list(d) -> bool:  # the job list is redrawn as progress changes: a redraw may eat a click
        if _text(d, "run-picker-value").startswith(run_id):
            return True
        d.find_element(By.CSS_SELECTOR, f"#job-list button[id*='show-run'][id*='{run_id}']").click()
        return False

    WebDriverWait(driver, WAIT, poll_frequency=1, ignored_exceptions=CLICK_MISSED).until(
        open_from_job_list, "the new run's link in the job list did not open it")


def wait_for_job_report(driver, run_id: str) -> None:
    """The background callback that follows the page's job reports how it ended."""
    expected = f"train of {run_id} — completed"
    try:
        WebDriverWait(driver, JOB_WAIT).until(lambda d: expected in _text(d, "job-outcome"))
    except Exception as exc:
        raise AssertionError(f"the page never reported {expected!r}; it says {_text(driver, 'job-outcome')!r}") from exc


def test_a_demo_run_started_from_the_form_trains_and_shows_its_heatmap(page, browser_data):
    driver = page
    run_id = f"browser-{time.monotonic_ns()}"
    paths, finished = run_paths(browser_data, run_id), False
    start_demo_from_form(driver, run_id, epochs=2)
    try:
        open_tab(driver, "Alpha")
        try:
            WebDriverWait(driver, JOB_WAIT).until(
                lambda d: _text(d, "run-picker-value").startswith(f"{run_id} — completed")
                and "completed" in _text(d, "run-status"))
        except Exception as exc:
            raise AssertionError(f"the job never completed; page says {_text(driver, 'run-status')!r}; "
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
            lambda d: _text(d, "run-picker-value").startswith(f"{run_id} — cancelled"), "never shown as cancelled")
        record = read_run_json(browser_data, run_id)
        assert record["status"] == "cancelled" and record["progress"]["epoch"] < epochs
        wait_for(lambda: not job_is_active(paths, "job"), 30, "the cancelled job to exit", interval=0.2)
        WebDriverWait(driver, WAIT).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, "#job-list button[id*='cancel-job']"),
            "the job list still offers a Cancel button")
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
    assert _text(driver, "analyse-target") == f"Run: {DEMO}"
    driver.find_element(By.ID, "analyse-submit").click()
    wait_for(lambda: paths.layers_csv.stat().st_mtime_ns != before
             and read_run_json(browser_data, DEMO)["analysis"]["status"] == "completed"
             and not job_is_active(paths, "job"), JOB_WAIT, "the analysis job to finish", interval=0.2)
    WebDriverWait(driver, JOB_WAIT).until(lambda d: f"analyze of {DEMO} — completed" in _text(d, "job-outcome"))


def test_with_celery_the_page_follows_its_job_through_the_worker(browser, celery_server, browser_data):
    driver, logs = browser
    driver.get(celery_server)
    WebDriverWait(driver, WAIT).until(lambda d: _text(d, "run-picker-value").strip(), "the run picker never filled in")
    run_id = f"celery-{time.monotonic_ns()}"
    paths = run_paths(browser_data, run_id)
    start_demo_from_form(driver, run_id, epochs=1)
    try:
        wait_for_job_report(driver, run_id)  # only the Celery worker running the background callback says so
        assert read_run_json(browser_data, run_id)["status"] == "completed"
    finally:
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
