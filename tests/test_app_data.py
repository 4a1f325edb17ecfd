"""Dashboard data access: lazy reads of the run files, memoised in DATA_DIR/cache until a file changes."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from analysis.run_format import RunPaths, job_lock, read_csv, update_run, write_csv
from app import data
from helpers import REPO


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
    key = next(key for key in data.cache() if key[0] == "_read_table" and key[1].endswith("layers.csv"))
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
    assert data.run("demo")["status"] == "interrupted"
    with job_lock(RunPaths(paths.root), "training"):
        assert data.run("demo")["status"] == "running"
    assert [record["status"] for record in data.runs()] == ["interrupted"]


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
