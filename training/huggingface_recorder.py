"""Record a Hugging Face Trainer run in the spectrascope run format (`pip install "spectrascope[huggingface]"`):

    from spectrascope import TrainerRecorder

    trainer = transformers.Trainer(model=model, args=args, ..., callbacks=[TrainerRecorder("data", "my-run")])

The model's weights are checkpointed before training (epoch 0) and at the end of every epoch, with the
latest metrics the Trainer logged (its `loss`, `eval_loss`, `eval_accuracy`, `learning_rate`); with
evaluation every epoch (eval_strategy="epoch") an epoch is recorded once it has been evaluated. Only the
main process records. A run whose training raised stays `running` until its process ends, then reads
`interrupted`: the Trainer tells its callbacks of no exception."""
from __future__ import annotations

import math

import transformers

from spectrascope.runs.framework_metrics import HUGGING_FACE, MetricNames
from training.epoch_recording import EpochRecording


def _latest(log_history: list[dict]) -> dict:
    """Each name's most recent value over the Trainer's log entries."""
    latest = {}
    for entry in log_history:
        latest.update(entry)
    return latest


class TrainerRecorder(transformers.TrainerCallback):
    def __init__(self, data_dir, run_id: str, metric_names: MetricNames | None = None):
        self.recording = EpochRecording(data_dir, run_id, metric_names or HUGGING_FACE)
        self._waiting: int | None = None  # an epoch ended, recorded once it has been evaluated

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            epochs = math.ceil(args.num_train_epochs) if args.max_steps <= 0 else None
            config = {"lr": args.learning_rate, "epochs": epochs, "batch_size": args.per_device_train_batch_size,
                      "weight_decay": args.weight_decay, "seed": args.seed}
            self.recording.start(model, epochs, config)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        epoch = round(state.epoch)
        if str(args.eval_strategy) in ("epoch", "IntervalStrategy.EPOCH"):
            self._waiting = epoch
        else:
            self.recording.epoch(epoch, model, _latest(state.log_history))

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if self._waiting is not None and state.is_world_process_zero:
            self.recording.epoch(self._waiting, model, _latest(state.log_history))
            self._waiting = None

    def on_train_end(self, args, state, control, **kwargs):
        self.recording.end(None)
