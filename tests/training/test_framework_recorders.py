"""Recording a run from the frameworks users train with: a Lightning callback and a Hugging Face TrainerCallback,
each on a tiny model trained by the real library. The run gets its untrained model as epoch 0, a checkpoint and
a metrics row per epoch, ends `completed` (or `failed`, saying why), and analyses like any other."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from analysis.runner import analyze_run
from helpers import TinyMLP
from spectrascope import LightningRecorder, TrainerRecorder, metrics_frame
from spectrascope.runs import checkpoint_epochs, read_run, run_paths

EPOCHS = 3


def data(samples: int = 64) -> torch.utils.data.TensorDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 16, generator=generator)
    return torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())


def lightning_fit(data_dir, fail_at_epoch: int | None = None):
    import lightning

    class Module(lightning.LightningModule):
        def __init__(self, lr: float = 0.2):
            super().__init__()
            self.save_hyperparameters()
            self.model = TinyMLP()

        def training_step(self, batch, index):
            if self.current_epoch == fail_at_epoch:
                raise RuntimeError("the loader broke")
            x, y = batch
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch, index):
            x, y = batch
            logits = self.model(x)
            self.log("val_loss", nn.functional.cross_entropy(logits, y))
            self.log("val_acc", (logits.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(data(), batch_size=16)
    trainer = lightning.Trainer(max_epochs=EPOCHS, callbacks=[LightningRecorder(data_dir, "lit")], logger=False,
                                enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                                accelerator="cpu", num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Module(), loader, loader)


def test_a_lightning_run_is_recorded_epoch_by_epoch_and_analyses(tmp_path):
    lightning_fit(tmp_path)
    paths = run_paths(tmp_path, "lit")
    record = read_run(paths)
    assert (record.status, record.kind, record.config["lr"]) == ("completed", "trained", 0.2)
    assert checkpoint_epochs(paths) == list(range(EPOCHS + 1))
    metrics = metrics_frame(paths).set_index("epoch").loc[1:]  # (epoch 0: the untrained model, no metrics)
    assert list(metrics.index) == list(range(1, EPOCHS + 1))
    assert metrics[["train_loss", "test_loss", "test_acc"]].notna().all().all()
    assert metrics["test_loss"].iloc[-1] < metrics["test_loss"].iloc[0]  # it learned
    assert analyze_run(tmp_path, "lit", progress=False).analysed == list(range(EPOCHS + 1))


def test_a_lightning_run_that_raises_is_recorded_failed_with_why(tmp_path):
    with pytest.raises(RuntimeError, match="the loader broke"):
        lightning_fit(tmp_path, fail_at_epoch=1)
    record = read_run(run_paths(tmp_path, "lit"))
    assert record.status == "failed" and "the loader broke" in record.error
    assert checkpoint_epochs(run_paths(tmp_path, "lit")) == [0, 1]  # the epoch done is kept


class Classifier(TinyMLP):
    """TinyMLP as the Trainer calls a model: keyword inputs, a dict with the loss out."""

    def forward(self, x, labels=None):
        logits = super().forward(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def test_a_hugging_face_trainer_run_is_recorded_with_its_evaluations(tmp_path):
    import transformers

    dataset = [{"x": x, "labels": y} for x, y in data()]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=EPOCHS, per_device_train_batch_size=16,
        learning_rate=0.2, eval_strategy="epoch", logging_strategy="epoch", save_strategy="no", report_to=[],
        use_cpu=True, disable_tqdm=True, seed=0)
    accuracy = lambda prediction: {"accuracy": float((prediction.predictions.argmax(1) == prediction.label_ids)
                                                     .mean())}
    torch.manual_seed(0)
    trainer = transformers.Trainer(model=Classifier(), args=args, train_dataset=dataset, eval_dataset=dataset,
                                   compute_metrics=accuracy, callbacks=[TrainerRecorder(tmp_path / "data", "hf")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    paths = run_paths(tmp_path / "data", "hf")
    record = read_run(paths)
    assert (record.status, record.config["lr"], record.config["epochs"]) == ("completed", 0.2, EPOCHS)
    assert checkpoint_epochs(paths) == list(range(EPOCHS + 1))
    metrics = metrics_frame(paths).set_index("epoch").loc[1:]
    assert list(metrics.index) == list(range(1, EPOCHS + 1))
    assert metrics[["train_loss", "test_loss", "test_acc", "lr"]].notna().all().all()
    evaluated = [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]
    assert list(metrics["test_loss"]) == pytest.approx(evaluated)  # each epoch's own evaluation
