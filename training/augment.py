"""Per-image augmentation and mixup on whole batches, on the training device.

torchvision's transforms draw one random setting per call, so applied to a batch every image gets the
same crop; here every image draws its own crop offset, flip and jitter factors, with no host sync.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from training.config import TrainConfig

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale


@lru_cache(maxsize=32)
def _constant(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """A small per-channel constant, made once per device: a fresh host-to-GPU copy every step would sync."""
    return torch.tensor(values, device=device, dtype=dtype)[:, None, None]


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Zero-pad by `padding` and cut an HxW window at a random offset per image (RandomCrop(H, padding))."""
    if padding == 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4).permute(0, 2, 3, 1)  # N, H', W', C
    offsets = torch.randint(0, 2 * padding + 1, (2, n), device=images.device, generator=generator)
    rows = offsets[0, :, None] + torch.arange(height, device=images.device)
    cols = offsets[1, :, None] + torch.arange(width, device=images.device)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # stays channels_last in memory


def random_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def _factors(n: int, spread: float, like: Tensor, generator: torch.Generator) -> Tensor:
    """Per-image factors uniform in [1 - spread, 1 + spread], shaped to broadcast over (C, H, W)."""
    uniform = torch.rand(n, device=like.device, generator=generator, dtype=like.dtype)
    return (1 + spread * (2 * uniform - 1))[:, None, None, None]


def _blend(images: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    return (factor * images + (1 - factor) * other).clamp_(0, 1)


def _grayscale(images: Tensor) -> Tensor:
    if images.shape[1] == 1:
        return images
    return (images * _constant(GRAY_WEIGHTS, images.device, images.dtype)).sum(1, keepdim=True)


def color_jitter(images: Tensor, brightness: float, contrast: float, saturation: float,
                 generator: torch.Generator) -> Tensor:
    """torchvision ColorJitter's brightness, contrast and saturation, each factor drawn per image.

    Images are floats in [0, 1]. The order is fixed (brightness, contrast, saturation) where torchvision
    shuffles it per call; the factors and formulas are the same.
    """
    n = images.shape[0]
    if brightness:
        images = _blend(images, torch.zeros_like(images), _factors(n, brightness, images, generator))
    if contrast:
        mean = _grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
        images = _blend(images, mean, _factors(n, contrast, images, generator))
    if saturation and images.shape[1] == 3:
        images = _blend(images, _grayscale(images), _factors(n, saturation, images, generator))
    return images


def normalize(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    return (images - _constant(tuple(mean), images.device, images.dtype)) / _constant(tuple(std), images.device, images.dtype)


def to_float(images: Tensor) -> Tensor:
    return images.float().div_(255)


def augment_batch(images: Tensor, config: TrainConfig, generator: torch.Generator) -> Tensor:
    """uint8 batch -> augmented float batch in [0, 1] (crop, flip, jitter as configured)."""
    images = random_crop(images, config.crop_padding, generator)
    if config.flip:
        images = random_flip(images, generator)
    return color_jitter(to_float(images), config.brightness, config.contrast, config.saturation, generator)


def mixup(images: Tensor, labels: Tensor, alpha: float, rng: np.random.Generator,
          generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, float]:
    """Mix each image with a random partner: lam*x + (1-lam)*x[perm], lam ~ Beta(alpha, alpha) per batch.

    Returns the mixed images, both label sets and lam; alpha == 0 returns the batch unmixed (lam = 1).
    lam is drawn on the host so the device never has to sync.
    """
    if alpha == 0:
        return images, labels, labels, 1.0
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(images.shape[0], device=images.device, generator=generator)
    return lam * images + (1 - lam) * images[perm], labels, labels[perm], lam


def mixup_loss(logits: Tensor, labels_a: Tensor, labels_b: Tensor, lam: float) -> Tensor:
    return lam * F.cross_entropy(logits, labels_a) + (1 - lam) * F.cross_entropy(logits, labels_b)
