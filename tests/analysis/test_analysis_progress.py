"""Progress inside a checkpoint: which layer of how many and how long is left (by matrix size), told from this
process and the workers, shown and written to run.json at most twice a second; and one layer's float64
matrices in memory at a time."""
import tracemalloc

import numpy as np
import pytest

import analysis.progress
import analysis.runner
from analysis.backends import analyze_state_dict
from analysis.pool import _relayed, _telling_layers, worker_pool
from analysis.progress import LayerCount, LayerProgress, LayerTotals, seconds_left
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

    def layer_done(self, epoch: int, count: LayerCount) -> None:
        self.layers.append((epoch, count.done, count.total))


def three_layers(on_layer) -> str:
    """A task for the worker: tells of three layers, as analyze_state_dict does."""
    for done in range(4):
        on_layer(LayerCount(done, 3, done, 3))
    return "done"


def test_each_layer_is_told_after_the_count_of_layers_with_its_size_and_the_next():
    state_dict = TinyNet().state_dict()  # three analysable layers
    for backend in ("fast", "weightwatcher"):
        told = []
        analyze_state_dict(state_dict, backend, on_layer=told.append)
        assert [(count.done, count.total) for count in told] == [(0, 3), (1, 3), (2, 3), (3, 3)], backend
        sizes = [count.size_done for count in told]
        assert sizes[0] == 0 < sizes[1] < sizes[2] < sizes[3] == told[0].size_total, backend
        assert told[0].current == "conv" and told[-1].current is None, backend  # TinyNet: conv, then two linears


def at(done: int, total: int) -> LayerCount:
    """A checkpoint of `total` layers of one size each, `done` of them done."""
    return LayerCount(done, total, done, total)


def test_layers_are_shown_at_most_every_half_second_summed_over_the_checkpoints_under_way():
    clock, recorded = Clock(), []
    layers = LayerProgress(lambda totals: recorded.append(totals[:2]), show=False, clock=clock)
    layers.layer_done(0, at(0, 49))  # shown: the first word
    clock.now = 0.2
    layers.layer_done(0, at(1, 49))  # too soon
    layers.layer_done(1, at(0, 10))  # a second process starts another checkpoint: too soon
    clock.now = 0.5
    layers.layer_done(0, at(2, 49))  # shown, with everything told since
    assert recorded == [(0, 49), (2, 59)] and layers.totals()[:2] == (2, 59)
    layers.epoch_done(0)
    clock.now = 1.0
    layers.layer_done(0, at(49, 49))  # late word from a checkpoint already finished: dropped
    assert layers.totals()[:2] == (0, 10) and recorded == [(0, 49), (2, 59)]
    layers.epoch_done(1)
    assert layers.totals() == LayerTotals()
    layers.close()


def test_time_left_goes_by_matrix_size_and_counts_the_checkpoints_still_waiting():
    # one 4096 x 4096 matrix done in 10 s, an 11008 x 4096 one (2.7 times its size) left: 27 s, not 10 s
    square, tall = 4096 * 4096, 11008 * 4096
    count = LayerCount(1, 2, square, square + tall, "model.layers.0.mlp.up_proj")
    assert seconds_left({3: count}, {3: 0.0}, 10.0, waiting=0) == pytest.approx(10 * tall / square)
    # and two more such checkpoints, one at a time: 37 s a checkpoint each
    assert seconds_left({3: count}, {3: 0.0}, 10.0, waiting=2) == pytest.approx(10 * tall / square + 2 * 10 * (
        square + tall) / square)
    assert seconds_left({3: LayerCount(0, 2, 0, square + tall)}, {3: 0.0}, 10.0, waiting=2) is None  # no rate yet
    clock = Clock()
    layers = LayerProgress(lambda totals: None, show=False, clock=clock, checkpoints=3)
    layers.layer_done(3, LayerCount(0, 2, 0, square + tall, "model.layers.0.self_attn.q_proj"))
    clock.now = 10.0
    layers.layer_done(3, count)
    totals = layers.totals()
    assert totals.current == "model.layers.0.mlp.up_proj" and totals.seconds_left == pytest.approx(
        seconds_left({3: count}, {3: 0.0}, 10.0, waiting=2))
    layers.close()


def test_run_json_follows_the_layers_of_the_checkpoint_under_way(data_dir, monkeypatch):
    paths = run_paths(data_dir, RUN_ID)
    monkeypatch.setattr(analysis.progress, "SHOW_EVERY_SECONDS", 0)  # every layer, to see them all
    seen, record_layers = [], analysis.runner.record_layers

    def record_and_read(plan, totals):
        record_layers(plan, totals)
        state = read_run(paths).analysis
        seen.append((state.epochs_done, state.layers_done, state.layers_total))
        assert state.layer == totals.current and (state.layer is None) == (state.layers_done == 3)

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
