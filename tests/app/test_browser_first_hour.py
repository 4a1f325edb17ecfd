"""What a user meets in their first hour, in a real headless Chromium against a real `gunicorn app:server`:
a model of their own whose layers are numbers (nn.Sequential), a run whose training went NaN, the job list
with one job running and one waiting, and deleting a run.

The runs are built once for the module with the real CLI: an `nn.Sequential`'s checkpoints imported
(`spectrascope import`), a demo training whose learning rate makes it diverge, and copies of the imported
run to delete.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from browser_helpers import (
    CLICK_MISSED, JOB_WAIT, WAIT, By, Keys, WebDriverWait, active_tab, choose, dashboard_env,
    metrics_layer_cells, open_tab, page_text, plot_annotations, show_run, start_demo_from_form, start_gunicorn,
    stop_processes, wait_for_annotation, wait_for_plot,
)
from helpers import SPECTRASCOPE, cli_env, read_run_json, run_dir, wait_for
from torch import nn

from spectrascope.runs import job_is_active, job_lock, run_paths

pytestmark = pytest.mark.slow

SEQUENTIAL = "sequential"  # the imported nn.Sequential
LAYERS = ["0", "2", "4", "6.0"]  # its layers in network order: every name reads as a number
EPOCHS = 3  # checkpoints 0-2
DIVERGED = "diverged"  # the demo at a learning rate it cannot survive
DOOMED, HELD = "doomed", "held"  # copies of the imported run, to delete


# --- the runs, the server, the page -----------------------------------------------------------------


def write_sequential_checkpoints(folder: Path) -> None:
    """One state_dict per epoch of an nn.Sequential (a nested one gives the dotted-numeric "6.0")."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 48), nn.ReLU(),
                          nn.Sequential(nn.Linear(48, 40)))
    folder.mkdir(parents=True)
    for epoch in range(EPOCHS):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
        torch.save(model.state_dict(), folder / f"epoch_{epoch}.pt")


def cli(*args, data_dir: Path) -> subprocess.Popen:
    """`spectrascope ARGS --data-dir DATA_DIR` started; finish() waits for it."""
    return subprocess.Popen([*SPECTRASCOPE, *map(str, args), "--data-dir", str(data_dir)], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    """Wait for the command to end; returns what it wrote to stderr."""
    return process.communicate(timeout=300)[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("first-hour")
    data_dir = root / "data"
    write_sequential_checkpoints(root / "checkpoints")
    # at a peak lr of 9 the demo's loss and weights are NaN/Inf by epoch 1, where it stops; beside the import
    training = cli("train", "--preset", "demo", "--epochs", 2, "--lr", 9, "--weight-decay", 0.5,
                   "--run-id", DIVERGED, data_dir=data_dir)
    imported = cli("import", root / "checkpoints", "--run-id", SEQUENTIAL, data_dir=data_dir)
    errors = finish(imported)
    assert imported.returncode == 0, f"spectrascope import failed:\n{errors}"
    errors = finish(training)
    assert "training diverged at epoch" in errors, f"the demo did not diverge:\n{errors}"
    errors = finish(cli("analyze", "--run-id", DIVERGED, data_dir=data_dir))  # epoch 0 analysed, the NaN one not
    assert (run_dir(data_dir, DIVERGED) / "analysis" / "weight_stats.csv").exists(), errors
    for copy in (DOOMED, HELD):
        shutil.copytree(run_dir(data_dir, SEQUENTIAL), run_dir(data_dir, copy))
    return data_dir


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    """The dashboard on the module's runs (one job at a time); yields its base URL."""
    process, url = start_gunicorn(dashboard_env(data_dir), tmp_path_factory.mktemp("gunicorn"))
    yield url
    stop_processes(process)


_AXIS = """
const outer = document.getElementById(arguments[0]);
const plot = outer && (outer.classList.contains('js-plotly-plot') ? outer : outer.querySelector('.js-plotly-plot'));
if (!plot || !plot._fullLayout) return null;
return {type: plot._fullLayout.yaxis.type,
        ticks: Array.from(plot.querySelectorAll('.ytick text')).map(text => text.textContent)};
"""


def y_axis(driver, graph_id: str) -> dict | None:
    """The y axis plotly drew: its type and the tick labels shown."""
    return driver.execute_script(_AXIS, graph_id)


def wait_for_text(driver, element_id: str, needle: str, timeout: float = WAIT) -> str:
    try:
        return WebDriverWait(driver, timeout).until(lambda d: needle in page_text(d, element_id)
                                                    and page_text(d, element_id))
    except Exception as exc:
        raise AssertionError(f"#{element_id} never said {needle!r}; it says {page_text(driver, element_id)!r}") from exc


def table_column(driver, table_id: str, column: str) -> list[str]:
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll('#{table_id} td.dash-cell[data-dash-column=\"{column}\"]'))"
        ".map(td => td.innerText.trim()).filter(text => text);")


def picker_choices(driver) -> list[str]:
    """The run ids the run picker offers (its menu opened, read, and closed again)."""
    driver.find_element(By.ID, "run-picker").click()
    choices = WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('[role=option] input')).map(i => i.value);"))
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, WAIT).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=option]"),
                                      "the run picker's menu did not close")
    return choices


# --- numeric layer names -------------------------------------------------------------------------------


def test_every_tab_shows_the_layers_of_an_nn_sequential_by_their_names(page):
    driver = page
    show_run(driver, SEQUENTIAL)
    wait_for_text(driver, "run-status", "imported")

    open_tab(driver, "Weights & biases")
    choose(driver, "weights-layer", "0")
    wait_for_plot(driver, "weights-histogram", lambda s: s["title"] == f"0.weight · epoch {EPOCHS - 1}",
                  what="layer 0's weights at the last epoch")
    WebDriverWait(driver, WAIT).until(lambda d: table_column(d, "weights-stats", "epoch") == ["0", "1", "2"],
                                      "the statistics table never had a row per epoch")
    assert table_column(driver, "weights-stats", "count") == [str(64 * 32)] * EPOCHS

    open_tab(driver, "ESD")
    choose(driver, "esd-layer", "0")
    WebDriverWait(driver, WAIT).until(lambda d: page_text(d, "esd-layer-value").strip() == "0",
                                      "the ESD layer picker never showed layer 0")
    esd = wait_for_plot(driver, "esd-graph", lambda s: s["title"].startswith(f"0 · epoch {EPOCHS - 1}"),
                        what="layer 0's eigenvalues")
    assert esd["traces"] >= 2, esd  # the eigenvalue histogram and the fitted power law
    assert plot_annotations(driver, "esd-graph") == [], "the ESD says why it draws nothing"
    assert page_text(driver, "esd-fit").strip(), "the fit summary below the ESD is empty"

    open_tab(driver, "Alpha")
    heatmap = wait_for_plot(driver, "alpha-heatmap")
    assert heatmap["y"] == LAYERS and heatmap["x"] == list(range(EPOCHS)), heatmap  # text, in network order
    axis = y_axis(driver, "alpha-heatmap")
    assert axis["type"] == "category" and sorted(axis["ticks"]) == LAYERS, axis  # "6.0", not 6

    open_tab(driver, "Metrics")
    WebDriverWait(driver, WAIT).until(lambda d: metrics_layer_cells(d) == LAYERS,
                                      f"the Metrics table never listed {LAYERS}")


def read_weight_stats(data_dir: Path, run_id: str, epoch: int, layer: str) -> dict[str, int]:
    """The counts analysis/weight_stats.csv has for a layer's weight at an epoch."""
    with (run_dir(data_dir, run_id) / "analysis" / "weight_stats.csv").open(newline="") as handle:
        row = next(row for row in csv.DictReader(handle)
                   if (row["epoch"], row["layer"], row["kind"]) == (str(epoch), layer, "weight"))
    return {name: int(row[name]) for name in ("count", "nan_count", "inf_count")}


# --- a run that went NaN ------------------------------------------------------------------------------


def test_a_diverged_run_says_from_which_epoch_on_the_status_line_and_tabs(page, data_dir):
    driver = page
    epoch = read_run_json(data_dir, DIVERGED)["non_finite_from"]
    assert epoch >= 1, "the demo diverged at once: no finite epoch left to draw"
    show_run(driver, DIVERGED)
    assert page_text(driver, "run-picker-value").startswith(f"{DIVERGED} — failed")
    status = wait_for_text(driver, "run-status", f"Training failed: training diverged at epoch {epoch}:")
    assert "learning rate" in status, status

    assert active_tab(driver) == "Training"
    wait_for_plot(driver, "training-curves")
    assert wait_for_annotation(driver, "training-curves", "NaN/Inf") == f"NaN/Inf from epoch {epoch}"

    # the stem's weights are all NaN/Inf by then (a deeper layer's may be so only in part)
    stats = read_weight_stats(data_dir, DIVERGED, epoch, "conv1")
    assert stats["nan_count"] + stats["inf_count"] == stats["count"], stats
    open_tab(driver, "Weights & biases")
    choose(driver, "weights-layer", "conv1")
    message = wait_for_annotation(driver, "weights-histogram", "values are NaN/Inf")
    assert message.startswith(f"conv1.weight at epoch {epoch}: all {stats['count']} values are NaN/Inf. "
                              f"Values are NaN/Inf from epoch {epoch}: training diverged there"), message


# --- delete ---------------------------------------------------------------------------------------------


def open_delete_dialog(driver, run_id: str) -> None:
    show_run(driver, run_id)
    driver.find_element(By.ID, "delete-open").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "delete-confirm").is_displayed(),
                                      "the Delete dialog never opened")
    assert page_text(driver, "delete-target") == (f"Run {run_id}: its checkpoints, metrics and analysis are "
                                                  "removed from disk. This cannot be undone.")


def dialog_is_open(driver) -> bool:
    try:
        return any(button.is_displayed() for button in driver.find_elements(By.ID, "delete-confirm"))
    except CLICK_MISSED:  # the closing dialog took the button away while it was asked
        return dialog_is_open(driver)


def test_delete_asks_first_then_the_run_leaves_the_picker_and_the_disk(page, data_dir):
    driver = page
    folder = run_dir(data_dir, DOOMED)
    open_delete_dialog(driver, DOOMED)
    assert folder.is_dir(), "asking deleted the run"
    driver.find_element(By.ID, "delete-confirm").click()
    WebDriverWait(driver, WAIT).until(lambda d: not dialog_is_open(d), "the dialog stayed open: "
                                      f"{page_text(driver, 'delete-error')!r}")
    wait_for(lambda: not folder.exists(), WAIT, "the run's folder to go", interval=0.1)
    WebDriverWait(driver, WAIT).until(lambda d: re.match(r"\S+ — ", page_text(d, "run-picker-value"))
                                      and not page_text(d, "run-picker-value").startswith(f"{DOOMED} — "),
                                      "the picker did not move on to another run")
    choices = picker_choices(driver)
    assert DOOMED not in choices and SEQUENTIAL in choices, choices
    assert not any(path.name.startswith(f".deleting-{DOOMED}") for path in data_dir.iterdir())


def test_delete_is_refused_while_a_job_holds_the_run(page, data_dir):
    driver = page
    folder = run_dir(data_dir, HELD)
    with job_lock(run_paths(data_dir, HELD), "job"):  # what the dashboard's job runner holds
        open_delete_dialog(driver, HELD)
        driver.find_element(By.ID, "delete-confirm").click()
        error = wait_for_text(driver, "delete-error", "is busy")
        assert error == (f"run {HELD!r} is busy: another dashboard job (pid {os.getpid()}) is working on it; stop "
                         "that job (Cancel, or Ctrl-C where it runs) before deleting the run"), error
        assert driver.find_element(By.ID, "delete-error").is_displayed() and dialog_is_open(driver)
        assert folder.is_dir() and (folder / "run.json").exists()
        assert page_text(driver, "run-picker-value").startswith(f"{HELD} — ")
    driver.find_element(By.ID, "delete-confirm").click()  # the job is gone: now it goes
    WebDriverWait(driver, WAIT).until(lambda d: not dialog_is_open(d), "the dialog stayed open: "
                                      f"{page_text(driver, 'delete-error')!r}")
    wait_for(lambda: not folder.exists(), WAIT, "the run's folder to go", interval=0.1)


# --- the job list --------------------------------------------------------------------------------------

_JOB_ROW = """
const [runId, prefix] = arguments;
const link = Array.from(document.querySelectorAll('#job-list button')).find(b => b.textContent.trim() === runId);
const row = link && link.closest('.list-group-item');
if (!row) return null;
const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
let node = null;
while (walker.nextNode()) {
    if (walker.currentNode.data.startsWith(prefix)) { node = walker.currentNode; break; }
}
const badge = row.querySelector('.badge');
const state = {badge: badge ? badge.innerText.trim() : null, label: null};
if (!node) return state;
const range = document.createRange();
range.selectNodeContents(node);
const text = range.getBoundingClientRect();
const holder = node.parentElement;
state.label = holder.innerText.trim();
state.clipped_by = [];  // every box between the text and the row that hides what overflows it, and cuts the text
for (let box = holder; box && box !== row.parentElement; box = box.parentElement) {
    const style = getComputedStyle(box), edge = box.getBoundingClientRect();
    const hides = style.overflowX !== 'visible' || style.overflowY !== 'visible';
    if (hides && (text.left < edge.left - 1 || text.right > edge.right + 1 || text.top < edge.top - 1
                  || text.bottom > edge.bottom + 1)) state.clipped_by.push(box.className);
}
state.overflows = holder.scrollWidth > holder.clientWidth;
state.shown = text.width > 0 && text.height > 0 && holder.checkVisibility() && text.left >= 0
              && text.right <= window.innerWidth;
return state;
"""


def job_row(driver, run_id: str, label_prefix: str) -> dict | None:
    """The job list's row for the run: its state badge and the progress line starting `label_prefix`, with
    whether that line shows whole (drawn, not overflowing its box, cut by no box that hides overflow)."""
    return driver.execute_script(_JOB_ROW, run_id, label_prefix)


def wait_for_job_row(driver, run_id: str, label_prefix: str, expected, what: str) -> dict:
    def matches(d):
        row = job_row(d, run_id, label_prefix)
        return row if row and expected(row) else False
    try:
        return WebDriverWait(driver, JOB_WAIT).until(matches)
    except Exception as exc:
        raise AssertionError(f"the job list never showed {what}; its row for {run_id}: "
                             f"{job_row(driver, run_id, label_prefix)}") from exc


def test_the_job_list_says_queued_with_its_place_and_shows_a_running_jobs_whole_progress_line(page, server, data_dir):
    driver = page
    running, waiting = "first-job", "second-job"  # neither a prefix of the other (the picker is read by prefix)
    epochs = 500  # more than the test lasts: it is cancelled, never finishes
    try:
        start_demo_from_form(driver, running, epochs=epochs)
        # the second job is started once the first trains, so the first surely has the one slot
        wait_for(lambda: ((read_run_json(data_dir, running) or {}).get("progress") or {}).get("epoch"),
                 JOB_WAIT, "the first job's first epoch", interval=0.2)
        start_demo_from_form(driver, waiting, epochs=2)

        queued = wait_for_job_row(driver, waiting, "queued: waiting",
                                  lambda row: row["badge"] == "queued: next in line",
                                  "the second job queued with its place in line")
        assert queued["label"] == "queued: waiting for a free job slot", queued
        assert queued["shown"] and not queued["overflows"] and not queued["clipped_by"], queued
        show_run(driver, waiting)  # the status line follows the place in line (part of the run's version)
        wait_for_text(driver, "run-status", "Queued (next in line): this run starts when a job slot is free")

        progress = re.compile(rf"training: epoch [1-9]\d* of {epochs}")
        row = wait_for_job_row(driver, running, "training:", lambda row: row["badge"] == "running"
                               and progress.fullmatch(row["label"] or ""), "the first job running")
        assert row["shown"] and not row["overflows"] and not row["clipped_by"], row
    finally:
        for run_id in (running, waiting):
            paths = run_paths(data_dir, run_id)
            if paths.root.is_dir():
                paths.cancel_request.touch()
        for run_id in (running, waiting):  # no job left training behind
            wait_for(lambda: not job_is_active(run_paths(data_dir, run_id), "job"), 60,
                     f"the job of {run_id} to stop", interval=0.2)
