"""Record a PyTorch Lightning run in the spectrascope run format (`pip install "spectrascope[lightning]"`):

    from spectrascope import LightningRecorder

    trainer = lightning.Trainer(max_epochs=10, callbacks=[LightningRecorder("data", "my-run")])

The LightningModule's weights are checkpointed before training (epoch 0) and after every epoch, with the
metrics it logged (`self.log("val_loss", ...)`) under the names below; the run is then analysed and shown
like any other. Only the main process records under DDP."""
from __future__ import annotations

import lightning

from spectrascope.runs.framework_metrics import LIGHTNING, MetricNames
from training.epoch_recording import EpochRecording


class LightningRecorder(lightning.pytorch.Callback):
    def __init__(self, data_dir, run_id: str, metric_names: MetricNames | None = None):
        self.recording = EpochRecording(data_dir, run_id, metric_names or LIGHTNING)

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.recording.start(pl_module, trainer.max_epochs if trainer.max_epochs > 0 else None,
                                 dict(pl_module.hparams))

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after the epoch's validation
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.recording.epoch(trainer.current_epoch + 1, pl_module, dict(trainer.callback_metrics))

    def on_fit_end(self, trainer, pl_module) -> None:
        self.recording.end(None)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.recording.end(exception)
