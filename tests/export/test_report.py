"""`spectrascope report`: one standalone page holding every section, drawn offline, a layer's animations drawn
when it is opened; an imported run without metrics.csv still reports; bad input is refused whole."""
from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_helpers import WAIT
from export_runs import EPOCHS, LAYERS
from spectrascope.health.bands import counts_at_last_epoch
from spectrascope.health.monitor import run_events
from helpers import spectrascope
from refusals import refused
from spectrascope.runs import run_paths, update_run, write_metrics

SECTIONS = ["summary", "configuration", "training", "alpha", "layers", "last-epoch"]
CONFIG = {"lr": 0.25, "mixup_alpha": 0.2}


def write_report(data_dir, out) -> str:
    done = spectrascope("report", "--data-dir", data_dir, "--run", "exp", "--out", out, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}: {len(LAYERS)} layers" in done.stdout
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def trained_data(export_data, tmp_path_factory):
    """The analysed run as if spectrascope had trained it: metrics.csv, a config and provenance."""
    data_dir = tmp_path_factory.mktemp("trained") / "data"
    shutil.copytree(export_data, data_dir)
    paths = run_paths(data_dir, "exp")
    write_metrics(paths, [{"epoch": epoch, "train_loss": 2.0 / (1 + epoch) if epoch else None,
                           "train_acc": 0.2 * epoch if epoch else None, "test_loss": 2.5 / (1 + epoch),
                           "test_acc": 0.1 + 0.2 * epoch, "lr": 0.1 if epoch else None, "seconds": 1.5}
                          for epoch in EPOCHS])
    update_run(paths, kind="trained", preset="demo", config=CONFIG, provenance={"torch": "2.x", "seed": 7})
    return data_dir


@pytest.fixture(scope="module")
def trained_report(trained_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "exp.html"
    return out, write_report(trained_data, out)


def specs(page: str) -> dict[str, dict]:
    return {spec_id: json.loads(text) for spec_id, text in
            re.findall(r"<script type='application/json' id='(spec-\d+)'>(.*?)</script>", page, re.S)}


def section(page: str, name: str) -> str:
    return re.search(rf"<section id='{name}'>(.*?)</section>", page, re.S).group(1)


def layer_blocks(page: str) -> dict[str, list[str]]:
    """Each layer's <details> and the ids of the figure specs in it."""
    return {layer: re.findall(r"data-spec='(spec-\d+)'", body)
            for layer, body in re.findall(r"<details data-layer='([^']+)'>(.*?)</details>", page, re.S)}


def trace_names(spec: dict) -> set[str]:
    return {trace.get("name") for trace in spec["data"]}


def test_the_report_holds_every_section(trained_report, trained_data):
    _, page = trained_report
    assert re.findall(r"<section id='([^']+)'", page) == SECTIONS
    assert page.count("<script>") == 2  # plotly.js once, then the page's own script
    figures = specs(page)
    configuration = section(page, "configuration")
    for key, value in {**CONFIG, "seed": 7, "preset": "demo", "kind": "trained"}.items():
        assert re.search(rf"<th>{key}</th><td>{value}</td>", configuration), key
    assert not re.search(r"<td></td>", configuration)  # empty values (error, a finished run's phase) left out
    assert "<h3>export</h3>" not in configuration  # the dashboard's latest export, not the run's configuration
    curves = [figures[spec_id] for spec_id in re.findall(r"data-spec='(spec-\d+)'", section(page, "training"))]
    assert len(curves) == 1 and {"train", "test", "lr"} <= trace_names(curves[0])

    summary, alpha = section(page, "summary"), section(page, "alpha")
    assert f"<th>layers</th><td>{len(LAYERS)} analysed ({len(LAYERS)} dense)</td>" in summary
    assert f"<th>epochs</th><td>{len(EPOCHS)} analysed, epoch 0 to {max(EPOCHS)}; trained" in summary
    assert "<th>model</th><td>ResNet-18 (CIFAR variant), preset demo</td>" in summary
    heatmap = figures[re.search(r"id='alpha-heatmap' data-spec='(spec-\d+)'", alpha).group(1)]
    assert heatmap["data"][0]["type"] == "heatmap" and heatmap["data"][0]["y"] == list(LAYERS)
    table = pd.read_csv(run_paths(trained_data, "exp").layers_csv)
    last = table[table["epoch"] == max(EPOCHS)]["alpha"]
    assert f"<th>mean alpha at epoch {max(EPOCHS)}</th><td>{last[last > 0].mean():.3f} over" in summary
    expected = {"over-trained": (last < 2).sum(), "healthy": last.between(2, 6).sum(),
                "under-trained": (last > 6).sum()}
    for band, count in expected.items():
        assert re.search(rf"{band} \([^)]*\)</td><td class='num'>{count}</td>", summary), band
    out = table[(table["epoch"] == max(EPOCHS)) & ~table["alpha"].between(2, 6)]["layer"]
    assert sorted(re.findall(r"<li>(\w+): ", summary)) == sorted(out)  # those out of the band at the last epoch
    warned = [e for e in run_events(run_paths(trained_data, "exp")) if e.severity != "info"]
    listed = re.findall(r"<tr><td class='num'>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>(?:warning|critical)</td>",
                        alpha)
    assert warned and "<h3>Health events</h3>" in alpha
    assert listed == [(str(e.epoch), e.layer, e.kind) for e in warned]

    blocks = layer_blocks(page)
    assert list(blocks) == list(LAYERS)
    for layer, (esd, histogram) in blocks.items():
        for spec in (figures[esd], figures[histogram]):
            assert [frame["name"] for frame in spec["frames"]] == [str(epoch) for epoch in EPOCHS]
            assert spec["layout"]["sliders"][0]["steps"][-1]["label"] == str(max(EPOCHS))
        assert "ESD" in trace_names(figures[esd])
        assert figures[esd]["frames"][-1]["layout"]["title"]["text"].startswith(f"{layer} · epoch {max(EPOCHS)}")
        assert figures[histogram]["data"][0]["type"] == "bar"
        assert all(set(frame["data"][0]) == {"y"} for frame in figures[histogram]["frames"])  # one x grid

    rows = re.findall(r"<tr><td class='num'>3</td><td>(\w+)</td>(.*?)</tr>", section(page, "last-epoch"))
    assert [layer for layer, _ in rows] == list(LAYERS)
    for (layer, cells), alpha_value in zip(rows, last):
        assert f">{alpha_value:.5g}</td>" in cells


def test_an_imported_run_without_metrics_still_reports(export_data, tmp_path):
    page = write_report(export_data, tmp_path / "imported.html")
    assert re.findall(r"<section id='([^']+)'", page) == SECTIONS
    training = section(page, "training")
    assert "no training log was imported with its checkpoints" in training and "data-spec" not in training
    assert list(layer_blocks(page)) == list(LAYERS)


def test_a_run_numbered_by_step_is_reported_by_step(tmp_path):
    """Lightning's files make a run numbered by step: the report's words and figures say step, never epoch."""
    import torch

    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    folder = tmp_path / "ckpts"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for epoch, step in enumerate((100, 200, 300)):
        weights = {"model.fc.weight": torch.randn(48, 32, generator=generator) * (1 + epoch)}
        torch.save({"state_dict": weights}, folder / f"epoch={epoch}-step={step}.ckpt")
    import_checkpoints(folder, tmp_path / "data", "exp")
    analyze_run(tmp_path / "data", "exp", progress=False, workers=1)
    done = spectrascope("report", "--data-dir", tmp_path / "data", "--run", "exp", "--out", tmp_path / "steps.html")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "steps.html").read_text()
    assert "Every layer at step 300" in page and "Layers per band at step 300" in page and "Last step" in page
    assert "<th>steps</th><td>3 analysed, step 100 to 300</td>" in section(page, "summary")
    assert "epoch" not in section(page, "configuration")  # progress.epoch, analysis.epochs_done: not for steps
    words = re.findall(r"<(?:h2|h3|nav|summary|p class='muted')>(.*?)</", page, flags=re.S)  # (not run.json's keys)
    assert len(words) > 5 and not [text for text in words if re.search(r"\bepochs?\b", text)]
    heatmap = specs(page)[re.search(r"id='alpha-heatmap' data-spec='(spec-\d+)'", page).group(1)]
    assert heatmap["layout"]["xaxis"]["title"]["text"] == "step"


def test_the_bands_at_the_last_epoch():
    table = pd.DataFrame([(epoch, layer, alpha) for layer, alphas in {
        "steady": [3.0, 4.0, 5.0], "drifts-up": [3.0, 7.0, 4.0], "collapses": [6.5, 3.0, 1.5],
        "fails": [3.0, -1.0, -1.0], "gap": [3.0, None, 9.0]}.items()
        for epoch, alpha in enumerate(alphas) if alpha is not None], columns=["epoch", "layer", "alpha"])
    assert counts_at_last_epoch(table) == {"over-trained": 1, "healthy": 2, "under-trained": 1, "fit failed": 1}


_DRAWN = "return [...document.querySelectorAll('.plot')].filter(p => p.dataset.drawn).map(p => p.dataset.spec)"
_LAYER = """
const plots = [...document.querySelector(`details[data-layer="${arguments[0]}"]`).querySelectorAll('.plot')];
if (!plots.every(p => p.dataset.drawn)) return null;
return plots.map(p => ({title: p.querySelector('.gtitle').textContent, frames: p._transitionData._frames.length,
                        y: Array.from(p._fullData[0].y)}));
"""


def test_the_report_opens_offline_and_draws_a_layer_when_it_is_opened(trained_report, offline_browser):
    out, page = trained_report
    overview = [spec_id for name in ("training", "alpha") for spec_id in
                re.findall(r"data-spec='(spec-\d+)'", section(page, name))]
    driver, logs = offline_browser
    driver.get(out.as_uri())
    WebDriverWait(driver, WAIT).until(lambda d: set(d.execute_script(_DRAWN)) >= set(overview),
                                      "the overview was never drawn")
    assert set(driver.execute_script(_DRAWN)) == set(overview)  # no layer drawn before it is opened

    driver.find_element(By.CSS_SELECTOR, "details[data-layer='fc1'] summary").click()
    first = WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(_LAYER, "fc1"), "fc1 was never drawn")
    assert [plot["frames"] for plot in first] == [len(EPOCHS)] * 2
    assert first[0]["title"].startswith("fc1 · epoch 0") and first[1]["title"] == "fc1.weight · epoch 0"

    # a click on the heatmap's (epoch 2, fc1) cell shows fc1 at epoch 2: the frames' own numbers are drawn
    driver.execute_script("document.getElementById('alpha-heatmap').emit('plotly_click', "
                          "{points: [{x: 2, y: 'fc1'}]})")
    moved = WebDriverWait(driver, WAIT).until(
        lambda d: (state := d.execute_script(_LAYER, "fc1")) and state[1]["title"].endswith("epoch 2") and state,
        "the heatmap click never showed epoch 2")
    assert moved[0]["title"].startswith("fc1 · epoch 2")
    for before, after in zip(first, moved):
        assert after["y"] != before["y"] and all(isinstance(value, (int, float)) for value in after["y"])
    assert len(moved[1]["y"]) == len(first[1]["y"])  # the histogram's bars stay on their bins
    logs.drain()
    assert logs.severe() == []
    assert [url for url in logs.request_urls() if not url.startswith(("file:", "data:"))] == []


@pytest.mark.parametrize("run, out, problem", [
    ("nope", "r.html", "no run 'nope' in"),
    ("raw", "r.html", "run raw has not been analysed yet; run `spectrascope analyze --run-id raw` first"),
    ("exp", "a-file/r.html", "folder {tmp}/a-file is a file, not a folder; choose another --out"),
    ("exp", "a-folder", "--out {tmp}/a-folder is a folder; name the file to write"),
])
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(export_data, tmp_path, run, out, problem):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-folder").mkdir()
    message = refused(export_data, tmp_path, "report", "--run", run, "--out", tmp_path / out)
    assert problem.format(tmp=tmp_path) in message
