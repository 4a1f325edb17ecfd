"""What a training framework's callback does to record a run (training.lightning, training.huggingface): open
the run when training starts, record the untrained model as epoch 0, then each finished epoch with the
metrics the framework logged (found under its own names), and close the run saying how training ended."""
from __future__ import annotations

from torch import nn

from spectrascope.runs.framework_metrics import MetricNames, picked
from training.recorder import RunRecorder


class EpochRecording:
    def __init__(self, data_dir, run_id: str, metric_names: MetricNames):
        self.data_dir, self.run_id, self.metric_names = data_dir, run_id, metric_names
        self.recorder: RunRecorder | None = None

    def start(self, model: nn.Module, total_epochs: int | None, config: dict) -> None:
        self.recorder = RunRecorder(self.data_dir, self.run_id, config=config, total_epochs=total_epochs).__enter__()
        self.recorder.log_epoch(0, model)

    def epoch(self, number: int, model: nn.Module, logged: dict) -> None:
        """Record epoch `number` with what the framework logged (tensors or numbers)."""
        self.recorder.log_epoch(number, model, **picked(logged, self.metric_names))

    def end(self, error: BaseException | None) -> None:
        """Close the run: completed, or cancelled / failed with the error that stopped training."""
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            recorder.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)
