"""Progress inside a checkpoint: which layer of how many, told from this process and the workers, shown and
written to run.json at most twice a second; and one layer's float64 matrices in memory at a time."""
import tracemalloc

import numpy as np
import pytest

import analysis.progress
import analysis.runner
from analysis.backends import analyze_state_dict
from analysis.pool import _relayed, _telling_layers, worker_pool
from analysis.progress import LayerProgress
from analysis_helpers import EPOCHS, RUN_ID, TinyNet, single_threaded
from spectrascope.runs import read_run, run_paths


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Told:
    """Every layer a LayerProgress would be told of, in order."""

    def __init__(self):
        self.layers = []

    def layer_done(self, epoch: int, done: int, total: int) -> None:
        self.layers.append((epoch, done, total))


def three_layers(on_layer) -> str:
    """A task for the worker: tells of three layers, as analyze_state_dict does."""
    for done in range(4):
        on_layer(done, 3)
    return "done"


def test_each_layer_is_told_after_the_count_of_layers():
    state_dict = TinyNet().state_dict()  # three analysable layers
    for backend in ("fast", "weightwatcher"):
        told = []
        analyze_state_dict(state_dict, backend, on_layer=lambda done, total: told.append((done, total)))
        assert told == [(0, 3), (1, 3), (2, 3), (3, 3)], backend


def test_layers_are_shown_at_most_every_half_second_summed_over_the_checkpoints_under_way():
    clock, recorded = Clock(), []
    layers = LayerProgress(lambda done, total: recorded.append((done, total)), show=False, clock=clock)
    layers.layer_done(0, 0, 49)  # shown: the first word
    clock.now = 0.2
    layers.layer_done(0, 1, 49)  # too soon
    layers.layer_done(1, 0, 10)  # a second process starts another checkpoint: too soon
    clock.now = 0.5
    layers.layer_done(0, 2, 49)  # shown, with everything told since
    assert recorded == [(0, 49), (2, 59)] and layers.totals() == (2, 59)
    layers.epoch_done(0)
    clock.now = 1.0
    layers.layer_done(0, 49, 49)  # late word from a checkpoint already finished: dropped
    assert layers.totals() == (0, 10) and recorded == [(0, 49), (2, 59)]
    layers.epoch_done(1)
    assert layers.totals() == (None, None)
    layers.close()


def test_run_json_follows_the_layers_of_the_checkpoint_under_way(data_dir, monkeypatch):
    paths = run_paths(data_dir, RUN_ID)
    monkeypatch.setattr(analysis.progress, "SHOW_EVERY_SECONDS", 0)  # every layer, to see them all
    seen, record_layers = [], analysis.runner.record_layers

    def record_and_read(plan, done, total):
        record_layers(plan, done, total)
        state = read_run(paths).analysis
        seen.append((state.epochs_done, state.layers_done, state.layers_total))

    monkeypatch.setattr(analysis.runner, "record_layers", record_and_read)
    analysis.runner.analyze_run(data_dir, RUN_ID, workers=1, progress=False)
    assert seen == [(epoch, done, 3) for epoch in range(len(EPOCHS)) for done in range(4)]
    state = read_run(paths).analysis
    assert state.status == "completed" and (state.layers_done, state.layers_total) == (None, None)


def test_a_workers_layers_reach_this_process_all_of_them_by_the_end():
    told = Told()
    with worker_pool(2, False) as workers:
        with _relayed(workers, told):
            results = [workers.executor.submit(_telling_layers, three_layers, epoch, ()).result() for epoch in (5, 7)]
    assert results == ["done", "done"]
    assert told.layers == [(epoch, done, 3) for epoch in (5, 7) for done in range(4)]


def test_one_layers_float64_matrices_are_in_memory_at_a_time():
    rng = np.random.default_rng(0)
    state_dict = {f"fc{i}.weight": rng.standard_normal((4096, 64), dtype=np.float32) for i in range(6)}
    one_layer = 4096 * 64 * 8
    tracemalloc.start()
    try:
        rows, _, _ = analyze_state_dict(state_dict)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rows) == 6
    assert one_layer <= peak < 1.5 * one_layer
