"""Model, SGD and the OneCycle schedule built by training.trainer.build_training, stepped in-process."""
from __future__ import annotations

import math

import pytest
import torch

from helpers import one_cycle_lr, random_image_dataset
from training.config import ConfigError, TrainConfig
from training.loop import steps_per_epoch, train_epoch
from training.trainer import build_training

CPU = torch.device("cpu")


def small_config(**changes) -> TrainConfig:
    base = dict(dataset="digits", width=2, epochs=5, batch_size=8, lr=0.2, pct_start=0.3, momentum=0.85,
                mixup_alpha=0.2, crop_padding=1, flip=False, saturation=0.0, eval_batch_size=64)
    return TrainConfig(**{**base, **changes}).validated()


def lrs_and_momenta(config: TrainConfig, dataset) -> tuple[list[float], list[float]]:
    """The lr and momentum each optimizer step uses, over the whole run."""
    _, optimizer, scheduler = build_training(config, dataset, CPU)
    total = config.epochs * steps_per_epoch(dataset, config.batch_size)
    lrs, momenta = [], []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()  # no gradients: parameters stay, only the schedule advances
        scheduler.step()
    return lrs, momenta


def test_lr_starts_at_a_25th_of_the_peak(small_dataset):
    config = small_config()
    lrs, _ = lrs_and_momenta(config, small_dataset)
    assert lrs[0] == pytest.approx(config.lr / 25, rel=1e-12)


def test_lr_peaks_at_the_configured_lr_after_pct_start_of_the_steps(small_dataset):
    config = small_config()
    lrs, _ = lrs_and_momenta(config, small_dataset)
    total = len(lrs)
    assert total == config.epochs * (64 // config.batch_size)
    assert max(lrs) == pytest.approx(config.lr, rel=1e-6)
    assert abs(lrs.index(max(lrs)) - (config.pct_start * total - 1)) <= 1
    peak = lrs.index(max(lrs))
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))  # warm-up rises
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))  # then anneals


def test_lr_ends_near_the_peak_over_25_times_1e4(small_dataset):
    config = small_config()
    lrs, _ = lrs_and_momenta(config, small_dataset)
    assert lrs[-1] == pytest.approx(config.lr / (25 * 1e4), rel=1e-6)


def test_every_step_follows_the_one_cycle_cosine_formula(small_dataset):
    config = small_config(epochs=4, pct_start=0.25)
    lrs, _ = lrs_and_momenta(config, small_dataset)
    expected = [one_cycle_lr(step, len(lrs), config.lr, config.pct_start) for step in range(len(lrs))]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_momentum_stays_at_the_configured_value_for_every_step(small_dataset):
    config = small_config(momentum=0.85)
    _, momenta = lrs_and_momenta(config, small_dataset)
    assert set(momenta) == {0.85}


def test_optimizer_is_sgd_with_the_configured_nesterov_and_weight_decay(small_dataset):
    _, optimizer, _ = build_training(small_config(weight_decay=1e-3), small_dataset, CPU)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD)
    assert group["nesterov"] is True and group["weight_decay"] == 1e-3
    _, optimizer, _ = build_training(small_config(momentum=0.0), small_dataset, CPU)
    assert optimizer.param_groups[0]["nesterov"] is False  # SGD refuses Nesterov without momentum


def test_same_seed_gives_the_same_initial_weights_and_another_seed_different_ones(small_dataset):
    weights = lambda seed: build_training(small_config(seed=seed), small_dataset, CPU)[0].state_dict()  # noqa: E731
    first, again, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])


def test_batch_size_larger_than_the_training_set_is_a_config_error(small_dataset):
    with pytest.raises(ConfigError, match="batch-size 100"):
        build_training(small_config(batch_size=100), small_dataset, CPU)


def test_training_epochs_step_the_schedule_exactly_to_its_end():
    dataset = random_image_dataset(n_train=40, n_test=8)  # 40 // 16 = 2 steps per epoch, 8 images dropped
    config = small_config(epochs=3, batch_size=16)
    model, optimizer, scheduler = build_training(config, dataset, CPU)
    rows = [train_epoch(model, dataset, config, optimizer, scheduler, epoch) for epoch in range(1, 4)]
    assert scheduler.last_epoch == 3 * 2
    assert rows[-1]["lr"] == pytest.approx(config.lr / (25 * 1e4), rel=1e-6)
    for row in rows:
        assert math.isfinite(row["train_loss"]) and 0 <= row["train_acc"] <= 1
