"""--randomize: weightwatcher's randomized-ESD metrics, computed our faster way."""
import contextlib
import csv
import io
import logging

import numpy as np
import pytest
import torch

from analysis.backends import analyze_state_dict
from analysis.layers import analysable_layers
from analysis.plan import randomized_epochs
from analysis.randomize import mp_spikes, randomized_metrics, shuffled_eigenvalues
from analysis.runner import analyze_run
from analysis.spectrum import eigenvalues
from analysis_helpers import EPOCHS, RUN_ID, record_tiny_run, single_threaded, spectrascope, weightwatcher
from spectrascope.runs import layers_frame, read_randomized_eigenvalues, run_paths, update_run


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield


def _trained_like_layers():
    """Layers with structure beyond noise: a low-rank signal on top of random weights."""
    torch.manual_seed(3)
    signal = lambda n, m: 3 * torch.randn(n, 2) @ torch.randn(2, m) / np.sqrt(m)  # noqa: E731
    state_dict = {
        "dense.weight": torch.randn(120, 80) / np.sqrt(80) + signal(120, 80),
        "square.weight": torch.randn(64, 64) / 8 + signal(64, 64),
        "conv.weight": (torch.randn(48, 32, 3, 3) / 17
                        + signal(48 * 9, 32).reshape(48, 9, 32).permute(0, 2, 1).reshape(48, 32, 3, 3)),
        "small.weight": torch.randn(30, 10),
    }
    return [layer.float64() for layer in analysable_layers(state_dict)]


def test_mp_spike_count_matches_weightwatchers_mp_fit_on_the_same_shuffled_spectrum():
    watcher = weightwatcher().WeightWatcher(log_level=logging.ERROR)
    rng = np.random.default_rng(0)
    for layer in _trained_like_layers():
        rand = shuffled_eigenvalues(layer, 1, rng)[0]
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            expected = watcher.mp_fit(rand, layer.N, layer.M, layer.rf, layer.name, 0, 0, False, False, "", "b",
                                      0.5, True, rand, randomize=True)[0]
        spikes, edge = mp_spikes(rand, layer.N, layer.M)
        assert spikes == expected, layer.name
        assert np.count_nonzero(rand > edge) == spikes, layer.name  # the edge drawn is the one counted against


def test_shuffling_keeps_each_matrix_entries_and_frobenius_norm():
    layer = _trained_like_layers()[2]  # conv: 9 slices, each shuffled on its own
    shuffled = shuffled_eigenvalues(layer, 1, np.random.default_rng(1))[0]
    original = eigenvalues(layer)
    assert len(shuffled) == len(original)
    assert shuffled.sum() == pytest.approx(original.sum(), rel=1e-9)  # trace of W^T W = sum of squares
    assert not np.allclose(shuffled, original)


def test_randomized_metrics_separate_structure_from_noise():
    dense, square, conv, small = _trained_like_layers()
    rng = np.random.default_rng(2)
    structured, _ = randomized_metrics(dense, eigenvalues(dense), rng)
    assert structured["max_rand_eval"] < eigenvalues(dense).max() / 2  # the low-rank signal does not survive a shuffle
    assert 0 < structured["rand_distance"] <= 1
    small_metrics, rand_evals = randomized_metrics(small, eigenvalues(small), rng)  # 10 eigenvalues: 5 replicas
    assert small_metrics["rand_num_spikes"] >= 0
    assert len(rand_evals) == 50 and rand_evals.max() == small_metrics["max_rand_eval"]  # the ESD measured


def test_randomize_flag_fills_the_columns_and_a_plain_rerun_keeps_them(tmp_path):
    record_tiny_run(tmp_path)
    first = spectrascope("analyze", "--data-dir", str(tmp_path), "--run", "tiny", "--randomize")
    assert first.returncode == 0, first.stderr
    layers_csv = tmp_path / "runs" / "tiny" / "analysis" / "layers.csv"
    rows = list(csv.DictReader(layers_csv.open()))
    assert rows and all(row["rand_num_spikes"] != "" and row["max_rand_eval"] != "" for row in rows)
    again = spectrascope("analyze", "--data-dir", str(tmp_path), "--run", "tiny")
    assert again.returncode == 0 and "0 epoch(s)" in again.stdout, again.stdout
    assert list(csv.DictReader(layers_csv.open())) == rows


@pytest.mark.parametrize("backend", ["fast", "weightwatcher"])
def test_a_randomized_analysis_returns_the_shuffled_eigenvalues_it_measured(backend):
    torch.manual_seed(4)
    state_dict = {"fc.weight": torch.randn(120, 110), "small.weight": torch.randn(40, 20),
                  "conv.weight": torch.randn(8, 4, 3, 3)}
    rows, esd, randomized = analyze_state_dict(state_dict, backend, randomize=True)
    assert list(randomized) == list(esd) == ["fc", "small", "conv"]
    for row in rows:
        evals, shuffled = esd[row["layer"]], randomized[row["layer"]]
        replicas = 5 if len(evals) < 100 else 1  # weightwatcher pools 5 shuffles of a small layer
        assert len(shuffled) == replicas * len(evals) and np.all(np.diff(shuffled) >= 0), row["layer"]
        assert shuffled.sum() == pytest.approx(replicas * evals.sum(), rel=1e-9)  # a shuffle keeps every entry
        assert shuffled.max() == row["max_rand_eval"]
    assert analyze_state_dict(state_dict, backend)[2] == {}


def test_a_randomized_analysis_saves_the_shuffled_eigenvalues_of_every_epoch(data_dir):
    analyze_run(data_dir, RUN_ID, randomize=True, progress=False)
    paths = run_paths(data_dir, RUN_ID)
    rows = layers_frame(paths)
    for epoch in EPOCHS:
        with np.load(paths.esd(epoch)) as esd, np.load(paths.randomized_esd(epoch)) as shuffled:
            assert shuffled.files == esd.files
        for row in rows[rows["epoch"] == epoch].itertuples():
            assert read_randomized_eigenvalues(paths, epoch, row.layer).max() == row.max_rand_eval
    # a randomized run without the file (analysed before it was kept, or deleted) gets it back, and only it
    paths.randomized_esd(EPOCHS[-1]).unlink()
    report = analyze_run(data_dir, RUN_ID, randomize=True, progress=False)
    assert report.analysed == [EPOCHS[-1]] and paths.randomized_esd(EPOCHS[-1]).exists()


@pytest.mark.parametrize("backend", ["fast", "weightwatcher"])
def test_bulk_edge_is_the_threshold_the_traps_were_counted_against(backend):
    """rand_bulk_edge, drawn on the ESD tab, has exactly rand_num_spikes shuffled eigenvalues above it."""
    torch.manual_seed(5)
    trapped = torch.randn(90, 60) / np.sqrt(60)
    trapped[:2, :2] = 8.0  # a few huge entries: a shuffle moves them but keeps the spike they make
    state_dict = {"trapped.weight": trapped, "plain.weight": torch.randn(70, 50)}
    with np.errstate(all="ignore"):
        rows, _, randomized = analyze_state_dict(state_dict, backend, randomize=True)
    assert {row["layer"] for row in rows} == set(randomized)
    for row in rows:
        above = np.count_nonzero(randomized[row["layer"]] > row["rand_bulk_edge"])
        assert above == row["rand_num_spikes"], (backend, row)
        assert 0 < row["rand_bulk_edge"] < randomized[row["layer"]].max() * 10
    assert [row["rand_num_spikes"] > 0 for row in rows] == [True, False], rows


def test_the_default_policy_randomizes_every_kth_checkpoint_and_the_last_once_training_ended():
    steps = [100 * i for i in range(12)]
    assert randomized_epochs(steps, 5, finished=False) == {0, 500, 1000}  # while training: the last changes
    assert randomized_epochs(steps, 5, finished=True) == {0, 500, 1000, 1100}
    assert randomized_epochs(steps, 1, finished=False) == set(steps)  # --randomize
    assert randomized_epochs(steps, 0, finished=True) == set() == randomized_epochs([], 5, finished=True)


def test_a_plain_analysis_randomizes_by_the_policy_and_adds_the_last_when_training_ends(tmp_path):
    record_tiny_run(tmp_path, epochs=range(6))
    paths = run_paths(tmp_path, RUN_ID)
    update_run(paths, status="running")  # as a follow-up analysis sees a run still training
    analyze_run(tmp_path, RUN_ID, randomize_every=3, progress=False)
    randomized = lambda: set(layers_frame(paths).dropna(subset=["rand_num_spikes"])["epoch"])  # noqa: E731
    assert randomized() == {0, 3} and paths.randomized_esd(3).exists() and not paths.randomized_esd(5).exists()
    update_run(paths, status="completed")
    again = analyze_run(tmp_path, RUN_ID, randomize_every=3, progress=False)
    assert again.analysed == [5] and randomized() == {0, 3, 5}  # only the last is redone, now with its traps
    assert analyze_run(tmp_path, RUN_ID, randomize_every=0, progress=False).analysed == []  # kept, not undone
