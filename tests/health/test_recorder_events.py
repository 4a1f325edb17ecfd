"""RunRecorder(on_event=...): the events of each checkpoint reach the training loop, once each, from the real
analysis run beside it; a callback that raises stops the loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import wait_for
from test_alerts import PLANTED, planted_weight
from spectrascope.health.monitor import recorded_events
from spectrascope.runs import read_run, run_paths


def _train(data_dir, on_event, between=lambda epoch: None) -> None:
    from training.recorder import RunRecorder

    rng, model = np.random.default_rng(0), nn.Sequential(nn.Linear(128, 256, bias=False))
    with RunRecorder(data_dir, "watched", total_epochs=len(PLANTED) - 1, on_event=on_event) as run:
        for epoch, kind in enumerate(PLANTED):
            with torch.no_grad():
                model[0].weight.copy_(torch.tensor(planted_weight(kind, rng), dtype=torch.float32))
            run.log_epoch(epoch, model)
            between(epoch)


def test_every_event_of_the_run_reaches_the_callback_once(tmp_path):
    received = []
    _train(tmp_path, received.append)
    paths = run_paths(tmp_path, "watched")
    recorded = recorded_events(paths)
    assert [event.event_id for event in received] == [event.event_id for event in recorded]  # once, in order
    kinds = {(event.epoch, event.kind) for event in received}
    assert {(1, "over-trained"), (2, "trap")} <= kinds, kinds
    assert paths.randomized_esd(2).exists()  # the last checkpoint, randomized once training had ended
    assert read_run(paths).status == "completed"


class Stop(Exception):
    pass


def test_a_callback_that_raises_stops_the_training_loop_at_the_next_epoch(tmp_path):
    paths = run_paths(tmp_path, "watched")

    def stop_on_over_training(event):
        if event.kind == "over-trained":
            raise Stop(f"{event.layer} over-trained at epoch {event.epoch}")

    logged = []

    def analysed(epoch):  # a real epoch takes longer than its analysis; here, wait for it
        logged.append(epoch)
        if epoch == 1:
            wait_for(lambda: any(e.kind == "over-trained" for e in recorded_events(paths)), 120,
                     "epoch 1's analysis")

    with pytest.raises(Stop, match="over-trained at epoch 1") as stopped:
        _train(tmp_path, stop_on_over_training, analysed)
    assert "log_epoch" in {frame.name for frame in stopped.traceback}  # raised in the loop, not at its end
    assert logged == [0, 1] and read_run(paths).status == "failed"  # log_epoch(2) raised
