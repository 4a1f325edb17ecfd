"""Train a preset end to end into a run directory: epoch 0 evaluated untrained, then one checkpoint per epoch."""
from __future__ import annotations

import sys
import time

import torch
from tqdm import tqdm

from training.config import ConfigError, TrainConfig, check_fits_in_memory, machine_memory_bytes
from training.data import ImageDataset, load_dataset
from training.loop import evaluate, memory_format, steps_per_epoch, train_epoch
from training.model import ResNet18
from training.recorder import RunRecorder


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
    return device


def build_training(config: TrainConfig, dataset: ImageDataset, device: torch.device):
    """Model, SGD and the OneCycle schedule, seeded so the same config gives the same initial weights."""
    steps = steps_per_epoch(dataset, config.batch_size)
    if steps == 0:
        raise ConfigError(f"batch-size {config.batch_size} is larger than the {len(dataset.train_labels)} "
                          "training images")
    check_fits_in_memory(config, _memory_bytes(device), "the GPU's" if device.type == "cuda" else "this machine's")
    torch.manual_seed(config.seed)
    model = ResNet18(len(dataset.classes), dataset.in_channels, config.width)
    model = model.to(device, memory_format=memory_format(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps, pct_start=config.pct_start,
        cycle_momentum=False,  # keep SGD's momentum as configured
    )
    return model, optimizer, scheduler


def _memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return machine_memory_bytes()


def train(config: TrainConfig, data_dir, run_id: str, *, preset: str | None = None, resume: bool = False) -> dict:
    """Train (or resume) a run; returns the last metrics row. The data set must already be in place."""
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, data_dir).to(device)
    model, optimizer, scheduler = build_training(config, dataset, device)
    steps = steps_per_epoch(dataset, config.batch_size)

    def state() -> dict:
        return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}

    def test_metrics() -> dict:
        loss, acc = evaluate(model, dataset.test_images, dataset.test_labels, dataset, config.eval_batch_size)
        return {"test_loss": loss, "test_acc": acc}

    provenance = {"device": str(device), "seed": config.seed, "device_name": _device_name(device)}
    with RunRecorder(data_dir, run_id, config=config.to_dict(), preset=preset, total_epochs=config.epochs,
                     resume=resume, provenance=provenance) as run:
        saved = run.resume_point() if resume else None
        if saved is None:
            started = time.perf_counter()
            row = {"epoch": 0, **test_metrics(), "seconds": time.perf_counter() - started}
            run.log_epoch(0, model, training_state=state(), **_metrics(row))
            first_epoch = 1
        else:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            first_epoch = saved["epoch"] + 1
            row = {"epoch": saved["epoch"]}
        _print_row(row, config.epochs)
        for epoch in range(first_epoch, config.epochs + 1):
            started = time.perf_counter()
            with tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", leave=False, disable=None) as bar:
                row = {"epoch": epoch, **train_epoch(model, dataset, config, optimizer, scheduler, epoch,
                                                     on_step=lambda: bar.update())}
            row.update(test_metrics(), seconds=time.perf_counter() - started)
            run.log_epoch(epoch, model, training_state=state(), **_metrics(row))
            _print_row(row, config.epochs)
    return row


def _metrics(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "epoch"}


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _print_row(row: dict, total: int) -> None:
    parts = [f"epoch {row['epoch']}/{total}"]
    parts += [f"{key} {row[key]:.4g}" for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
              if row.get(key) is not None]
    print("  ".join(parts), file=sys.stderr, flush=True)
