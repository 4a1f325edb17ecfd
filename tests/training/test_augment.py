"""Per-image augmentation and mixup (training/augment.py), checked against independent computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from training.augment import augment_batch, color_jitter, mixup, mixup_loss, random_crop, random_flip
from training.config import TrainConfig


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def distinct_image(channels: int = 3, size: int = 8) -> torch.Tensor:
    """uint8 image whose pixels are all different and non-zero (so zero padding is recognisable)."""
    values = torch.randperm(channels * size * size, generator=generator(123)) + 1
    return values.reshape(channels, size, size).to(torch.uint8)


# --- mixup ---------------------------------------------------------------------------------------


def mixup_inputs(n: int = 16):
    images = torch.randn(n, 3, 4, 4, generator=generator(1))
    labels = torch.arange(n)  # unique labels: labels_b reveals the permutation
    return images, labels


def test_mixup_mixes_each_image_with_the_partner_its_second_label_names():
    images, labels = mixup_inputs()
    mixed, labels_a, labels_b, lam = mixup(images, labels, 0.4, np.random.default_rng(5), generator(5))

    perm = labels_b  # labels are 0..n-1, so labels[perm] == perm
    assert sorted(perm.tolist()) == list(range(len(labels)))
    assert torch.equal(labels_a, labels)
    expected = lam * images + (1 - lam) * images[perm]
    torch.testing.assert_close(mixed, expected, rtol=0, atol=1e-6)


def test_mixup_partner_found_by_comparing_images_matches_the_second_label():
    images, labels = mixup_inputs()
    mixed, _, labels_b, lam = mixup(images, labels, 1.0, np.random.default_rng(2), generator(2))
    # for each mixed image, the partner j is the one with lam*x_i + (1-lam)*x_j closest to it
    for i in range(len(images)):
        errors = [(mixed[i] - (lam * images[i] + (1 - lam) * images[j])).abs().max().item() for j in range(len(images))]
        assert int(np.argmin(errors)) == labels_b[i].item()
        assert min(errors) < 1e-6


def test_mixup_draws_lam_from_beta_alpha_alpha_with_the_given_rng():
    images, labels = mixup_inputs()
    alpha = 0.7
    *_, lam = mixup(images, labels, alpha, np.random.default_rng(11), generator(11))
    assert lam == np.random.default_rng(11).beta(alpha, alpha)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_mixup_lam_stays_in_unit_interval_and_is_symmetric_about_a_half(alpha):
    images, labels = mixup_inputs(4)
    rng, gen = np.random.default_rng(0), generator(0)
    lams = np.array([mixup(images, labels, alpha, rng, gen)[3] for _ in range(600)])
    assert ((lams >= 0) & (lams <= 1)).all()
    assert abs(lams.mean() - 0.5) < 0.05  # Beta(a, a) has mean 1/2
    assert lams.std() > 0.05  # and is not a constant


def test_mixup_with_alpha_zero_returns_the_batch_unchanged_with_lam_one():
    images, labels = mixup_inputs()
    mixed, labels_a, labels_b, lam = mixup(images, labels, 0.0, np.random.default_rng(0), generator(0))
    assert lam == 1.0
    assert torch.equal(mixed, images)
    assert torch.equal(labels_a, labels) and torch.equal(labels_b, labels)


def test_mixup_loss_is_the_lam_weighted_sum_of_both_cross_entropies():
    logits = torch.randn(8, 5, generator=generator(3))
    labels_a = torch.randint(0, 5, (8,), generator=generator(4))
    labels_b = torch.randint(0, 5, (8,), generator=generator(5))
    lam = 0.3
    expected = lam * F.cross_entropy(logits, labels_a) + (1 - lam) * F.cross_entropy(logits, labels_b)
    torch.testing.assert_close(mixup_loss(logits, labels_a, labels_b, lam), expected)


def test_mixup_loss_equals_cross_entropy_against_the_mixed_soft_targets():
    logits = torch.randn(8, 5, generator=generator(6))
    labels_a = torch.randint(0, 5, (8,), generator=generator(7))
    labels_b = torch.randint(0, 5, (8,), generator=generator(8))
    lam = 0.8
    soft = lam * F.one_hot(labels_a, 5).float() + (1 - lam) * F.one_hot(labels_b, 5).float()
    torch.testing.assert_close(mixup_loss(logits, labels_a, labels_b, lam), F.cross_entropy(logits, soft))


# --- random crop ---------------------------------------------------------------------------------


def window_offset(output: torch.Tensor, padded: torch.Tensor, size: int) -> tuple[int, int] | None:
    """The (row, col) offset of the window of `padded` equal to `output`, or None if there is none."""
    span = padded.shape[-1] - size + 1
    for row in range(span):
        for col in range(span):
            if torch.equal(padded[:, row:row + size, col:col + size], output):
                return row, col
    return None


def test_random_crop_gives_each_image_its_own_window_of_the_zero_padded_original():
    image, padding = distinct_image(), 2
    batch = image.expand(64, -1, -1, -1).contiguous()
    out = random_crop(batch, padding, generator(0))
    assert out.shape == batch.shape and out.dtype == torch.uint8

    padded = F.pad(image, (padding,) * 4)
    offsets = [window_offset(out[i], padded, 8) for i in range(64)]
    assert None not in offsets, "some output is not a window of the padded image"
    assert len(set(offsets)) > 10  # 25 possible offsets, drawn per image (not one crop for the batch)


def test_random_crop_reaches_every_offset_from_zero_to_twice_the_padding():
    image, padding = distinct_image(1, 4), 2
    out = random_crop(image.expand(1000, -1, -1, -1).contiguous(), padding, generator(1))
    padded = F.pad(image, (padding,) * 4)
    offsets = {window_offset(out[i], padded, 4) for i in range(1000)}
    assert offsets == {(r, c) for r in range(2 * padding + 1) for c in range(2 * padding + 1)}


def test_random_crop_with_zero_padding_is_the_identity():
    batch = distinct_image().expand(4, -1, -1, -1)
    assert torch.equal(random_crop(batch, 0, generator()), batch)


# --- random flip ---------------------------------------------------------------------------------


def test_random_flip_mirrors_some_but_not_all_images_of_a_batch():
    batch = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=generator(2))
    out = random_flip(batch, generator(3))
    flipped = 0
    for i in range(64):
        is_same, is_mirror = torch.equal(out[i], batch[i]), torch.equal(out[i], batch[i].flip(-1))
        assert is_same or is_mirror
        flipped += is_mirror
    assert 0 < flipped < 64
    assert 16 < flipped < 48  # probability 1/2 per image


# --- colour jitter -------------------------------------------------------------------------------


def smooth_image() -> torch.Tensor:
    """A 3x8x8 float image in [0.05, 0.99] with distinct pixels, some close to 1 (so they clamp)."""
    values = torch.linspace(0.05, 0.99, 3 * 8 * 8)
    return values[torch.randperm(len(values), generator=generator(9))].reshape(3, 8, 8)


def test_color_jitter_draws_its_factors_per_image():
    batch = smooth_image().expand(64, -1, -1, -1).contiguous()
    out = color_jitter(batch, 0.4, 0.4, 0.4, generator(0))
    distinct = {tuple(out[i].flatten()[:5].tolist()) for i in range(64)}
    assert len(distinct) == 64


def test_color_jitter_keeps_values_in_the_unit_interval():
    batch = torch.rand(64, 3, 8, 8, generator=generator(1))
    out = color_jitter(batch, 0.9, 0.9, 0.9, generator(2))
    assert out.min() >= 0 and out.max() <= 1
    assert (out == 1).any()  # strong brightening does reach the clamp


def recovered_factor(out: torch.Tensor, image: torch.Tensor, other: torch.Tensor) -> float:
    """f such that out = f*image + (1-f)*other, from the pixels that were not clamped."""
    unclamped = (out > 1e-6) & (out < 1 - 1e-6) & ((image - other).abs() > 0.05)
    ratios = (out - other)[unclamped] / (image - other)[unclamped]
    assert ratios.numel() > 20
    assert (ratios.max() - ratios.min()).item() < 1e-4, "not one factor for the whole image"
    return ratios.mean().item()


def test_brightness_jitter_scales_each_image_by_one_factor_and_clamps():
    image, spread = smooth_image(), 0.3
    out = color_jitter(image.expand(64, -1, -1, -1).contiguous(), spread, 0, 0, generator(4))
    factors = []
    for i in range(64):
        factor = recovered_factor(out[i], image, torch.zeros_like(image))
        assert 1 - spread <= factor <= 1 + spread
        torch.testing.assert_close(out[i], (image * factor).clamp(0, 1), rtol=0, atol=1e-5)
        torch.testing.assert_close(out[i], TF.adjust_brightness(image, factor), rtol=0, atol=1e-5)
        factors.append(factor)
    assert len({round(f, 4) for f in factors}) > 48  # one draw per image, not one per batch
    assert min(factors) < 1 < max(factors)


def test_contrast_jitter_matches_torchvision_adjust_contrast_with_a_per_image_factor():
    image, spread = smooth_image(), 0.4
    out = color_jitter(image.expand(16, -1, -1, -1).contiguous(), 0, spread, 0, generator(5))
    grey_mean = TF.rgb_to_grayscale(image).mean()
    for i in range(16):
        factor = recovered_factor(out[i], image, grey_mean.expand_as(image))
        assert 1 - spread <= factor <= 1 + spread
        torch.testing.assert_close(out[i], TF.adjust_contrast(image, factor), rtol=0, atol=1e-5)


def test_saturation_jitter_matches_torchvision_adjust_saturation_with_a_per_image_factor():
    image, spread = smooth_image(), 0.4
    out = color_jitter(image.expand(16, -1, -1, -1).contiguous(), 0, 0, spread, generator(6))
    grey = TF.rgb_to_grayscale(image).expand_as(image)
    for i in range(16):
        factor = recovered_factor(out[i], image, grey)
        assert 1 - spread <= factor <= 1 + spread
        torch.testing.assert_close(out[i], TF.adjust_saturation(image, factor), rtol=0, atol=1e-5)


# --- the whole pipeline --------------------------------------------------------------------------


def test_augment_batch_is_reproducible_from_the_generator_seed():
    config = TrainConfig(crop_padding=4, flip=True, brightness=0.2, contrast=0.2, saturation=0.2)
    batch = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=generator(7))
    first = augment_batch(batch, config, generator(42))
    again = augment_batch(batch, config, generator(42))
    other = augment_batch(batch, config, generator(43))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.dtype == torch.float32 and 0 <= first.min() and first.max() <= 1
