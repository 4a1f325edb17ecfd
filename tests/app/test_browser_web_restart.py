"""The web workers restarted while a page follows a job (docs/faults.md): `kill -9` of every gunicorn worker,
then a rolling restart (SIGHUP to the master), in the middle of a training job. The page open in a real
headless Chromium is never reloaded and goes on following the job to its end: the page holds no state a
worker keeps, each poll is answered from the data dir by whichever worker is up."""
from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from browser_helpers import JOB_WAIT, WAIT, WebDriverWait, dashboard_env, load_dashboard, page_text, start_gunicorn, \
    stop_processes, wait_for_plot
from helpers import dashboard_healthy, spectrascope, wait_for

from spectrascope.runs import job_is_active, run_paths

pytestmark = pytest.mark.slow

RUN, EPOCHS = "live", 16


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("web-restart") / "data"


@pytest.fixture(scope="module")
def web(data_dir, tmp_path_factory):
    """gunicorn with two workers on the module's data dir; yields (its master process, base URL)."""
    data_dir.mkdir(parents=True)
    process, url = start_gunicorn(dashboard_env(data_dir), tmp_path_factory.mktemp("gunicorn"))
    yield process, url
    stop_processes(process)


def workers(master) -> set[int]:
    return {child.pid for child in psutil.Process(master.pid).children()}


def replaced(master, old: set[int], what: str) -> None:
    """Wait until the master runs two workers, none of them one of `old`, and the page is answered again."""
    wait_for(lambda: len(workers(master)) == 2 and not workers(master) & old, 60, what, interval=0.1, process=master)


def status_changes(driver, before: str, what: str) -> str:
    """Wait until the page's status line (training k/n, analysed m of n checkpoints) says something new."""
    try:
        return WebDriverWait(driver, JOB_WAIT).until(lambda d: page_text(d, "run-status") not in ("", before)
                                                     and page_text(d, "run-status"))
    except Exception as exc:
        raise AssertionError(f"the page stopped following the job {what}: it still says {before!r}") from exc


def test_a_page_follows_a_job_through_killed_and_restarted_web_workers(browser, web, data_dir):
    driver, _ = browser
    master, url = web
    submitted = spectrascope("submit", "train", "--preset", "demo", "--epochs", str(EPOCHS), "--width", "8",
                             "--run-id", RUN, "--data-dir", data_dir, env=dashboard_env(data_dir))
    assert submitted.returncode == 0, submitted.stderr
    paths, finished = run_paths(data_dir, RUN), False
    try:
        load_dashboard(driver, f"{url}/?run={RUN}&tab=alpha")
        driver.execute_script("window.stillTheSamePage = true;")
        shown = status_changes(driver, "", "before any restart")

        old = workers(master)
        killed_at = time.monotonic()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        replaced(master, old, "gunicorn to start new workers for the killed ones")
        wait_for(lambda: dashboard_healthy(url), 60, "the page to be answered again", interval=0.1)
        answered_at = time.monotonic()
        shown = status_changes(driver, shown, "after its web workers were killed")
        print(f"both web workers killed: answered again after {answered_at - killed_at:.1f} s, the page showed new "
              f"progress after {time.monotonic() - killed_at:.1f} s")

        old = workers(master)
        master.send_signal(signal.SIGHUP)  # gunicorn's rolling restart: new workers, then the old ones stop
        replaced(master, old, "gunicorn's rolling restart")
        status_changes(driver, shown, "after a rolling restart of the web workers")

        WebDriverWait(driver, JOB_WAIT).until(
            lambda d: page_text(d, "run-picker-value").startswith(f"{RUN} — completed"), "the job never completed")
        wait_for_plot(driver, "alpha-heatmap", lambda s: s["x"] == list(range(EPOCHS + 1)), timeout=JOB_WAIT,
                      what=f"all {EPOCHS + 1} epochs analysed")
        assert driver.execute_script("return window.stillTheSamePage === true;")  # followed, never reloaded
        wait_for(lambda: not job_is_active(paths, "job"), WAIT, "the job to exit", interval=0.2)
        finished = True
    finally:
        if not finished and job_is_active(paths, "job"):
            paths.cancel_request.touch()
