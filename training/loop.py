"""One training epoch and one evaluation pass over device-resident data.

The loop never waits for the device: losses and correct counts accumulate in device tensors and are read
once per epoch; mixup's lam is drawn on the host. On CUDA it runs under bf16 autocast, channels_last.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.augment import augment_batch, mixup, mixup_loss, normalize, to_float
from training.config import TrainConfig
from training.data import ImageDataset


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def memory_format(device: torch.device) -> torch.memory_format:
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def epoch_generators(seed: int, epoch: int, device: torch.device) -> tuple[torch.Generator, np.random.Generator]:
    """The random streams of one epoch, derived from (seed, epoch) so a resumed run replays them exactly."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 1_000_003 + epoch)
    return generator, np.random.default_rng([seed, epoch])


def steps_per_epoch(dataset: ImageDataset, batch_size: int) -> int:
    """Incomplete last batches are dropped: fixed shapes, and BatchNorm never sees a batch of one."""
    return len(dataset.train_labels) // batch_size


def train_epoch(model: nn.Module, dataset: ImageDataset, config: TrainConfig, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, epoch: int,
                on_step: Callable[[], None] = lambda: None) -> dict:
    """Train one epoch; returns train_loss, train_acc (mixup-weighted) and the lr of its last step."""
    device = dataset.train_labels.device
    generator, rng = epoch_generators(config.seed, epoch, device)
    model.train()
    batch_size = config.batch_size
    steps = steps_per_epoch(dataset, batch_size)
    order = torch.randperm(len(dataset.train_labels), device=device, generator=generator)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    lr = optimizer.param_groups[0]["lr"]
    for step in range(steps):
        index = order[step * batch_size:(step + 1) * batch_size]
        images = augment_batch(dataset.train_images[index], config, generator)
        images = normalize(images, dataset.mean, dataset.std).contiguous(memory_format=memory_format(device))
        images, labels_a, labels_b, lam = mixup(images, dataset.train_labels[index], config.mixup_alpha, rng, generator)
        with autocast(device):
            logits = model(images)
        loss = mixup_loss(logits.float(), labels_a, labels_b, lam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        predicted = logits.detach().argmax(1)
        loss_sum += loss.detach()
        correct += lam * (predicted == labels_a).sum() + (1 - lam) * (predicted == labels_b).sum()
        on_step()
    seen = steps * batch_size
    return {"train_loss": loss_sum.item() / steps, "train_acc": correct.item() / seen, "lr": lr}


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dataset: ImageDataset,
             batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy, without augmentation."""
    device = labels.device
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    for start in range(0, len(labels), batch_size):
        batch = normalize(to_float(images[start:start + batch_size]), dataset.mean, dataset.std)
        with autocast(device):
            logits = model(batch.contiguous(memory_format=memory_format(device))).float()
        target = labels[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    return loss_sum.item() / len(labels), correct.item() / len(labels)
