"""Training throughput: spectrascope's device-resident loop vs a plain torchvision DataLoader + fp32 loop.

Both train the same ResNet-18 with the same augmentation (random crop, flip, colour jitter) and mixup on
random CIFAR-shaped data, on the same device, in one run; prints images/s for each and the ratio.

    python benchmarks/train_throughput.py                 # CUDA if available, full-size model
    python benchmarks/train_throughput.py --device cpu    # small sizes, a couple of minutes on 2 cores
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from training.augment import mixup
from training.config import PRESETS
from training.data import CIFAR100_MEAN, CIFAR100_STD, ImageDataset
from training.loop import train_epoch
from training.trainer import build_training, resolve_device


def random_cifar(images: int, seed: int = 0) -> ImageDataset:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 100, (images,), generator=generator)
    return ImageDataset("random", pixels, labels, pixels[:64], labels[:64], [str(i) for i in range(100)],
                        CIFAR100_MEAN, CIFAR100_STD)


class PilImages(Dataset):
    """The textbook CIFAR pipeline: one PIL image at a time through torchvision transforms."""

    def __init__(self, dataset: ImageDataset, config):
        self.images = dataset.train_images.permute(0, 2, 3, 1).numpy()
        self.labels = dataset.train_labels.numpy()
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=config.crop_padding),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(config.brightness, config.contrast, config.saturation),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD),
        ])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def baseline_epoch(model, loader, optimizer, scheduler, config, device) -> int:
    """A plain fp32 loop: host-side augmentation, per-step loss.item() for logging."""
    model.train()
    rng = np.random.default_rng(0)
    generator = torch.Generator(device=device).manual_seed(0)
    seen, running_loss = 0, 0.0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images, labels_a, labels_b, lam = mixup(images, labels, config.mixup_alpha, rng, generator)
        logits = model(images)
        loss = lam * F.cross_entropy(logits, labels_a) + (1 - lam) * F.cross_entropy(logits, labels_b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running_loss += loss.item()
        seen += len(labels)
    return seen


def timed(fn) -> tuple[float, int]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    images = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, help="images per epoch (default 50000 on CUDA, 1024 on CPU)")
    parser.add_argument("--batch-size", type=int, help="default 512 on CUDA, 64 on CPU")
    parser.add_argument("--width", type=int, help="ResNet width (default 64 on CUDA, 16 on CPU)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="baseline DataLoader workers")
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    config = replace(PRESETS["cifar100-resnet18"], epochs=3, device=str(device),
                     batch_size=args.batch_size or (512 if cuda else 64), width=args.width or (64 if cuda else 16))
    dataset = random_cifar(args.images or (50_000 if cuda else 1024))
    print(f"device {torch.cuda.get_device_name(device) if cuda else 'cpu'}, {len(dataset.train_labels)} images/epoch, "
          f"batch {config.batch_size}, width {config.width}, torch {torch.__version__}")

    resident = dataset.to(device)
    model, optimizer, scheduler = build_training(config, resident, device)

    def run_ours() -> int:
        train_epoch(model, resident, config, optimizer, scheduler, epoch=1)
        return len(dataset.train_labels) // config.batch_size * config.batch_size

    timed(run_ours)  # warm-up: cuDNN autotuning, allocator
    ours_seconds, ours_images = timed(run_ours)

    model, optimizer, scheduler = build_training(config, resident, device)
    model = model.to(memory_format=torch.contiguous_format)  # the plain loop: fp32, NCHW
    loader = DataLoader(PilImages(dataset, config), batch_size=config.batch_size, shuffle=True, drop_last=True,
                        num_workers=args.workers, pin_memory=cuda, persistent_workers=args.workers > 0)

    def run_baseline() -> int:
        return baseline_epoch(model, loader, optimizer, scheduler, config, device)

    timed(run_baseline)
    base_seconds, base_images = timed(run_baseline)

    ours_rate, base_rate = ours_images / ours_seconds, base_images / base_seconds
    print(f"spectrascope loop (device-resident, per-image aug{', bf16, channels_last' if cuda else ''}): "
          f"{ours_rate:,.0f} images/s")
    print(f"baseline (torchvision DataLoader, {args.workers} workers, fp32): {base_rate:,.0f} images/s")
    print(f"ratio: {ours_rate / base_rate:.2f}x")


if __name__ == "__main__":
    main()
