"""Dashboard data access: lazy reads of the run files, memoised in DATA_DIR/cache until a file changes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from app import data
from helpers import REPO
from spectrascope.health.bands import layer_to_open
from spectrascope.runs import RunPaths, job_lock, update_run
from spectrascope.runs.files import read_csv, write_csv


def test_tables_are_read_from_the_run_files(dashboard_data):
    layers = data.layers("demo")
    assert sorted(layers["epoch"].unique()) == [0, 1, 2, 3]
    assert len(layers) == len(read_csv(data.paths("demo").layers_csv))
    assert data.layer_names("demo")[0] == "conv1" and data.analysed_epochs("demo") == [0, 1, 2, 3]
    assert list(data.metrics("demo")["epoch"]) == [0, 1, 2, 3]
    assert (layers["warning"] == "").any()  # empty warnings are '' rather than NaN


def test_reads_are_cached_on_disk_and_invalidated_when_the_file_changes(dashboard_data):
    first = data.layers("demo")
    assert (dashboard_data / "cache").is_dir() and len(data.cache()) > 0
    path = data.paths("demo").layers_csv
    rows = read_csv(path)
    rows[0]["alpha"] = "42.0"
    time.sleep(0.01)
    write_csv(path, tuple(rows[0]), rows)
    again = data.layers("demo")
    assert again.loc[0, "alpha"] == 42.0 and first.loc[0, "alpha"] != 42.0


def test_the_cache_is_shared_between_processes(dashboard_data):
    """A second web worker finds what the first one read: the cached value, not a fresh read of the file."""
    data.layers("demo")
    key = next(key for key in data.cache() if key[0] == "layers_frame" and key[1].endswith("layers.csv"))
    data.cache().set(key, data.layers("demo").assign(alpha=-7.0))  # mark the cached copy
    script = "from app import data; print(data.layers('demo')['alpha'].iloc[0])"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "SPECTRASCOPE_DATA_DIR": str(dashboard_data)})
    assert result.stdout.strip() == "-7.0", result.stderr


def test_histograms_and_eigenvalues_of_one_tensor(dashboard_data):
    tensors = data.histogram_tensors("demo")
    assert ("conv1", "weight") in tensors and ("fc", "bias") in tensors
    epochs, edges, densities = data.tensor_histogram("demo", "fc", "bias")
    assert epochs == [0, 1, 2, 3] and densities.shape == (4, len(edges) - 1)
    assert np.allclose((densities * np.diff(edges)).sum(axis=1), 1.0)
    assert data.tensor_histogram("demo", "no.such.layer", "weight") is None
    eigenvalues = data.eigenvalues("demo", 2, "fc")
    assert eigenvalues.ndim == 1 and np.all(np.diff(eigenvalues) >= 0)
    assert data.eigenvalues("demo", 2, "no.such.layer") is None and data.eigenvalues("demo", 99, "fc") is None


def test_a_missing_file_reads_as_empty(dashboard_data):
    (data.paths("demo").layers_csv).unlink()
    assert data.layers("demo").empty and data.layer_names("demo") == [] and data.analysed_epochs("demo") == []


def test_a_running_status_without_its_job_lock_reads_as_interrupted(dashboard_data):
    paths = data.paths("demo")
    update_run(paths, status="running")
    assert data.run("demo").status == "interrupted"
    with job_lock(RunPaths(paths.root), "training"):
        assert data.run("demo").status == "running"
    assert [record.status for record in data.runs()] == ["interrupted"]


def test_an_unreadable_run_is_none_not_an_exception(dashboard_data):
    (data.paths("demo").run_json).write_text("{broken")
    assert data.run("demo") is None and data.runs() == []
    assert data.run("../etc") is None


def test_version_changes_when_a_run_file_changes(dashboard_data):
    before = data.version("demo")
    time.sleep(0.01)
    update_run(data.paths("demo"), progress={"phase": "done"})
    assert data.version("demo") != before


def test_the_web_process_never_imports_torch(dashboard_data):
    script = ("import sys; from app.factory import create_app; app = create_app(); "
              "client = app.server.test_client(); assert client.get('/').status_code == 200; "
              "from app import data; data.layers('demo'); data.tensor_histogram('demo', 'fc', 'weight'); "
              "print('torch' in sys.modules, 'weightwatcher' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "SPECTRASCOPE_DATA_DIR": str(dashboard_data)})
    assert result.stdout.strip() == "False False", result.stderr


def test_an_unreadable_file_is_named_by_its_place_in_the_run_with_a_fix_that_works(dashboard_data):
    paths = data.paths("demo")
    paths.metrics_csv.write_text("")
    with pytest.raises(data.RunDataError) as training_file:
        data.metrics("demo")
    assert str(training_file.value).startswith("runs/demo/metrics.csv cannot be read (EmptyDataError")
    assert "restore it from a backup" in str(training_file.value) and "re-run" not in str(training_file.value)

    for damaged in (b"not a zip file", b""):  # np.load raises ValueError, then EOFError
        paths.esd(2).write_bytes(damaged)
        with pytest.raises(data.RunDataError) as analysis_file:
            data.eigenvalues("demo", 2, "fc")
        assert str(analysis_file.value).startswith("runs/demo/analysis/esd/epoch_0002.npz cannot be read")
        assert str(analysis_file.value).endswith("delete that file, then press “Analyse” (or run "
                                                 "`spectrascope analyze --run-id demo`) to rebuild them from the checkpoints")


def test_run_folders_the_picker_cannot_list_are_named_with_the_reason(dashboard_data):
    runs = dashboard_data / "runs"
    for name, text in (("bad-json", "{"), ("a-list", "[1, 2]"), ("my run", None)):
        shutil.copytree(runs / "demo", runs / name)
        if text:
            (runs / name / "run.json").write_text(text)
    (runs / "no-run-json").mkdir()  # a folder without run.json is not a run: nothing to report
    assert [record.id for record in data.runs()] == ["demo"]  # "my run" reads, but is no valid id
    problems = dict(data.runs_and_problems()[1])
    assert sorted(problems) == ["a-list", "bad-json", "my run"]
    assert problems["bad-json"].startswith("run.json is not valid JSON: Expecting")
    assert problems["a-list"] == "run.json is not a JSON object"
    assert problems["my run"].startswith("invalid run id 'my run'")
    assert str(dashboard_data) not in str(problems)  # the page is not shown server paths


def test_the_first_layer_shown_is_the_one_furthest_out_of_band_else_the_largest():
    def table(alphas: dict) -> pd.DataFrame:
        rows = [{"epoch": epoch, "layer": layer, "alpha": alpha, "num_evals": evals}
                for epoch in (0, 3) for layer, (alpha, evals) in alphas.items()]
        return pd.DataFrame(rows)

    healthy = {"conv1": (3.0, 9), "layer1.conv": (4.0, 144), "layer4.conv": (2.5, 1152), "fc": (3.5, 10)}
    assert data.most_telling_layer(table(healthy)) == "layer4.conv"
    # 7.5 is 1.5 out, 1.2 is 0.8 out
    assert data.most_telling_layer(table({**healthy, "fc": (1.2, 10), "layer1.conv": (7.5, 144)})) == "layer1.conv"
    assert data.most_telling_layer(table({**healthy, "fc": (0.2, 10), "layer1.conv": (7.5, 144)})) == "fc"  # 1.8 out
    assert data.most_telling_layer(pd.DataFrame()) is None
    # a view that lacks it (the Weights tab: no histogram of that layer) opens on its first
    assert layer_to_open(table(healthy), ["fc", "conv1"]) == "fc" and layer_to_open(table(healthy), []) is None
    assert layer_to_open(table(healthy), ["conv1", "layer4.conv"]) == "layer4.conv"
