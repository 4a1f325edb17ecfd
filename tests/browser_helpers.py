"""What the browser tests share: a real `gunicorn app:server`, a headless Chromium (the dashboard's `browser`
fixture is in tests/app/conftest.py; the exported pages are opened in one too), and reading and driving the
dashboard page.

Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); the tests fail, not skip, where
they are missing.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, dashboard_healthy, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GUNICORN = (sys.executable, "-m", "gunicorn")  # the gunicorn of the interpreter running the tests
WAIT = 20  # seconds for one page interaction to show its result
JOB_WAIT = 120  # seconds for a 2-epoch demo job to train and be analysed

try:  # a missing selenium is a broken test environment, not a reason to skip
    from selenium import webdriver
    from selenium.common import exceptions
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    CLICK_MISSED = (exceptions.NoSuchElementException, exceptions.StaleElementReferenceException,
                    exceptions.ElementClickInterceptedException)
except ImportError as exc:  # pragma: no cover - only in a broken environment
    webdriver = None
    SELENIUM_IMPORT_ERROR = exc


# --- the server and the browser ----------------------------------------------------------------------


def start_process(command: list[str], env: dict, logs: Path, name: str) -> subprocess.Popen:
    with open(logs / f"{name}-stdout.txt", "w") as stdout, open(logs / f"{name}-stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    process.stderr_path = logs / f"{name}-stderr.txt"
    return process


def stop_processes(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_gunicorn(env: dict, logs: Path) -> tuple[subprocess.Popen, str]:
    """`gunicorn -w 2 app:server` on a free local port; returns it and its base URL once it answers."""
    assert importlib.util.find_spec("gunicorn"), f"gunicorn is not installed for {sys.executable}"
    port = free_port()
    command = [*GUNICORN, "-w", "2", "--bind", f"127.0.0.1:{port}", "app:server"]
    usage = subprocess.run([*GUNICORN, "--help"], check=False, capture_output=True, text=True).stdout
    if "--no-control-socket" in usage:  # newer gunicorns would otherwise all share ~/.gunicorn/gunicorn.ctl
        command.insert(len(GUNICORN), "--no-control-socket")
    process = start_process(command, env, logs, "gunicorn")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: dashboard_healthy(url), 60, "gunicorn to answer /health", interval=0.2, process=process)
    except BaseException:
        stop_processes(process)
        raise
    return process, url


def dashboard_env(data_dir: Path) -> dict:
    """The dashboard's environment: its data dir, one job at a time, background callbacks on diskcache."""
    env = {**os.environ, "SPECTRASCOPE_DATA_DIR": str(data_dir), "SPECTRASCOPE_MAX_JOBS": "1"}
    env.pop("REDIS_URL", None)
    return env


def require_browser() -> None:
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

    def requests(self) -> list[dict]:
        """Each request the page sent (Chrome's Network.requestWillBeSent `request`: url, method, postData)."""
        sent = [json.loads(entry["message"])["message"] for entry in self.performance]
        return [message["params"]["request"] for message in sent if message["method"] == "Network.requestWillBeSent"]

    def request_urls(self) -> list[str]:
        return [request["url"] for request in self.requests()]

    def callback_outputs(self) -> list[str]:
        """The outputs ("id.property", several joined by "...") of every callback the page asked the server for."""
        return [json.loads(request["postData"])["output"] for request in self.requests()
                if request["url"].endswith("/_dash-update-component") and request.get("postData")]


def start_chromium():
    """A headless Chromium logging its console and network requests."""
    require_browser()
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
    return driver


def load_dashboard(driver, url: str) -> None:
    """Open the dashboard and wait until its run picker filled in."""
    driver.get(url)
    WebDriverWait(driver, WAIT).until(lambda d: page_text(d, "run-picker-value").strip(),
                                      "the run picker never filled in")


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

_ANNOTATIONS = """
const outer = document.getElementById(arguments[0]);
const plot = outer && (outer.classList.contains('js-plotly-plot') ? outer : outer.querySelector('.js-plotly-plot'));
if (!plot || !plot._fullLayout) return null;
return Array.from(plot.querySelectorAll('.annotation-text')).map(text => {
    const lines = Array.from(text.querySelectorAll('.line'));
    return (lines.length ? lines.map(line => line.textContent).join(' ') : text.textContent).trim();
});
"""


def page_text(driver, element_id: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
                                 element_id) or ""


def plot_state(driver, graph_id: str) -> dict | None:
    """The traces plotly drew into dcc.Graph `graph_id` (None until it drew)."""
    return driver.execute_script(_PLOT, graph_id)


def plot_annotations(driver, graph_id: str) -> list[str] | None:
    """The texts of the annotations drawn in dcc.Graph `graph_id`, a line break read as a space (None until
    it drew)."""
    return driver.execute_script(_ANNOTATIONS, graph_id)


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


def wait_for_annotation(driver, graph_id: str, needle: str, timeout: float = WAIT) -> str:
    """Wait until an annotation drawn in the graph contains `needle`; returns that annotation's text."""
    def found(d):
        return next((text for text in plot_annotations(d, graph_id) or [] if needle in text), False)
    try:
        return WebDriverWait(driver, timeout).until(found)
    except Exception as exc:
        raise AssertionError(f"{graph_id} never said {needle!r}; its annotations: "
                             f"{plot_annotations(driver, graph_id)}") from exc


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


def choose(driver, dropdown_id: str, value: str) -> None:
    """Pick the option whose value is `value` in the dcc.Dropdown `dropdown_id`. In a long list the option is
    scrolled to the middle first, out from under the menu's search box; a click that lands on something else
    (the menu still scrolling to the current choice) is tried again."""
    def picked(d) -> bool:
        if not d.find_elements(By.CSS_SELECTOR, "[role=option]"):
            d.find_element(By.ID, dropdown_id).click()  # open the menu
        option = d.find_element(By.CSS_SELECTOR, f"[role=option]:has(input[value='{value}'])")
        d.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", option)
        option.click()
        return True

    WebDriverWait(driver, WAIT, ignored_exceptions=CLICK_MISSED).until(picked, f"#{dropdown_id} never let {value!r} "
                                                                              "be picked")


def shown_run(driver) -> str:
    """The id of the run the picker shows (its label goes on with the run's status and progress)."""
    return page_text(driver, "run-picker-value").partition(" — ")[0]


def show_run(driver, run_id: str) -> None:
    """Pick `run_id` in the run picker (a newer run is shown by default)."""
    if not page_text(driver, "run-picker-value").startswith(f"{run_id} — "):
        choose(driver, "run-picker", run_id)
    WebDriverWait(driver, WAIT).until(lambda d: page_text(d, "run-picker-value").startswith(f"{run_id} — "),
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
    assert page_text(driver, "new-run-preset").strip() == "demo", "the preset does not default to demo"


def start_demo_from_form(driver, run_id: str, epochs: int, **fields: str) -> None:
    """Start a demo run from the New run form (with `fields`, other hyper-parameters typed in: lr="2"), then
    open it from its link in the job list."""
    open_new_run_form(driver)
    set_input(driver, "new-run-epochs", str(epochs))
    for name, value in fields.items():
        set_input(driver, f"new-run-{name}", value)
    set_input(driver, "new-run-id", run_id)
    shown_before = shown_run(driver)
    driver.find_element(By.ID, "new-run-submit").click()
    try:
        WebDriverWait(driver, WAIT).until(lambda d: not form_is_open(d))
    except Exception as exc:
        raise AssertionError(f"the form stayed open: {page_text(driver, 'new-run-error')!r}") from exc
    assert shown_run(driver) == shown_before  # Start leaves the user where they were

    def open_from_job_list(d) -> bool:  # the job list is redrawn as progress changes: a redraw may eat a click
        if page_text(d, "run-picker-value").startswith(run_id):
            return True
        d.find_element(By.CSS_SELECTOR, f"#job-list button[id*='show-run'][id*='{run_id}']").click()
        return False

    WebDriverWait(driver, WAIT, poll_frequency=1, ignored_exceptions=CLICK_MISSED).until(
        open_from_job_list, "the new run's link in the job list did not open it")
