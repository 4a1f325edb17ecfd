"""What a training framework's callback does to record a run (training.lightning, training.huggingface): open
the run when training starts, record the untrained model as epoch 0, then each finished epoch with the
metrics the framework logged (found under its own names), and close the run saying how training ended."""
from __future__ import annotations

import math

from torch import nn

from training.recorder import RunRecorder


class EpochRecording:
    def __init__(self, data_dir, run_id: str, metric_names: dict[str, tuple[str, ...]]):
        """metric_names: our metric (train_loss, test_loss, test_acc, lr, ...) -> the names the framework may
        log it under, first found wins."""
        self.data_dir, self.run_id, self.metric_names = data_dir, run_id, metric_names
        self.recorder: RunRecorder | None = None

    def start(self, model: nn.Module, total_epochs: int | None, config: dict) -> None:
        self.recorder = RunRecorder(self.data_dir, self.run_id, config=config, total_epochs=total_epochs).__enter__()
        self.recorder.log_epoch(0, model)

    def epoch(self, number: int, model: nn.Module, logged: dict) -> None:
        """Record epoch `number` with what the framework logged (tensors or numbers)."""
        metrics = {}
        for ours, theirs in self.metric_names.items():
            value = next((float(logged[name]) for name in theirs if name in logged), None)
            if value is not None and not math.isnan(value):
                metrics[ours] = value
        self.recorder.log_epoch(number, model, **metrics)

    def end(self, error: BaseException | None) -> None:
        """Close the run: completed, or cancelled / failed with the error that stopped training."""
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            recorder.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)
