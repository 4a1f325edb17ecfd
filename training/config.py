"""Training hyper-parameters and the named presets (torch-free, so the CLI and the app can import it)."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace

from spectrascope.errors import UserError

DATASETS = ("cifar100", "digits")
DATASET_SHAPES = {"cifar100": (3, 100), "digits": (1, 10)}  # (image channels, classes)
MAX_LR = 10.0  # SGD diverges far below this on these models (the flagship's peak is 0.1)
# training.loop seeds each epoch's torch generator with seed * 1_000_003 + epoch, which torch takes only
# below 2**64; numpy's generators take no negative seed
MAX_SEED = 2**44 - 1
# what a stored value of each field type may be (a JSON number may have lost its ".0"), and how to say so
_STORED_TYPES = {"int": ((int,), "an integer"), "float": ((int, float), "a number"), "bool": ((bool,), "true or false"),
                 "str": ((str,), "a string")}


class ConfigError(UserError, ValueError):
    """A hyper-parameter value that cannot be trained with; the message names it."""


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a run trains. Each field is also a `spectrascope train` flag."""

    dataset: str = field(default="cifar100", metadata=_help("data set: cifar100 or digits"))
    width: int = field(default=64, metadata=_help("channels of the first ResNet stage (64 = standard ResNet-18)"))
    epochs: int = field(default=40, metadata=_help("training epochs (epoch 0 is the untrained model)"))
    batch_size: int = field(default=128, metadata=_help("training batch size"))
    lr: float = field(default=0.1, metadata=_help("peak learning rate of the OneCycle schedule"))
    pct_start: float = field(default=0.25, metadata=_help("fraction of steps spent warming up to the peak lr"))
    momentum: float = field(default=0.9, metadata=_help("SGD momentum"))
    nesterov: bool = field(default=True, metadata=_help("Nesterov momentum"))
    weight_decay: float = field(default=5e-4, metadata=_help("SGD weight decay"))
    mixup_alpha: float = field(default=0.2, metadata=_help("mixup Beta(alpha, alpha) parameter; 0 turns mixup off"))
    crop_padding: int = field(default=4, metadata=_help("random-crop padding in pixels; 0 turns cropping off"))
    flip: bool = field(default=True, metadata=_help("random horizontal flips"))
    brightness: float = field(default=0.2, metadata=_help("colour jitter: brightness factor range 1±x"))
    contrast: float = field(default=0.2, metadata=_help("colour jitter: contrast factor range 1±x"))
    saturation: float = field(default=0.2, metadata=_help("colour jitter: saturation factor range 1±x"))
    seed: int = field(default=0, metadata=_help("seed for weights, data order and augmentation"))
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N"))
    eval_batch_size: int = field(default=1000, metadata=_help("batch size for evaluation"))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A validated config from stored values (a run.json's), which may be hand-edited or from elsewhere;
        a field it lacks takes today's default (a run from a spectrascope that did not have that field yet)."""
        types = {spec.name: _STORED_TYPES[spec.type] for spec in fields(cls)}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ConfigError(f"unknown hyper-parameters {', '.join(unknown)}")
        wrong = [f"{name} must be {types[name][1]}, not {value!r}" for name, value in values.items()
                 if type(value) not in types[name][0]]  # exact types: True is an int to isinstance
        if wrong:
            raise ConfigError("; ".join(wrong))
        return cls(**values).validated()

    def problems(self) -> list[str]:
        """Every reason this config cannot be trained, empty when it can."""
        checks = [
            (self.dataset in DATASETS, f"dataset must be one of {', '.join(DATASETS)}"),
            (self.width > 0, "width must be positive"),
            (self.epochs > 0, "epochs must be positive"),
            (self.batch_size > 0, "batch-size must be positive"),
            (self.eval_batch_size > 0, "eval-batch-size must be positive"),
            (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR,
             f"lr must be a positive number of at most {MAX_LR:g} (the flagship's peak is 0.1)"),
            (0 < self.pct_start < 1, "pct-start must be between 0 and 1"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             "weight-decay must be a finite number, not negative"),
            (math.isfinite(self.mixup_alpha) and self.mixup_alpha >= 0,
             "mixup-alpha must be a finite number, not negative"),
            (self.crop_padding >= 0, "crop-padding must not be negative"),
            (0 <= self.seed <= MAX_SEED, f"seed must be from 0 to 2**{MAX_SEED.bit_length()} - 1 ({MAX_SEED})"),
            (all(0 <= x < 1 for x in (self.brightness, self.contrast, self.saturation)),
             "brightness, contrast and saturation must be in [0, 1)"),
            (self.device == "auto" or self.device == "cpu" or self.device.split(":")[0] == "cuda",
             "device must be auto, cpu, cuda or cuda:N"),
        ]
        return [message for ok, message in checks if not ok]

    def validated(self) -> "TrainConfig":
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        return self


def resnet18_parameters(width: int, in_channels: int, classes: int) -> int:
    """The parameter count of training.model.ResNet18, without building it (tests compare the two)."""
    def block(inputs: int, outputs: int, stride: int) -> int:
        shortcut = inputs * outputs + 2 * outputs if stride != 1 or inputs != outputs else 0
        return 9 * inputs * outputs + 9 * outputs * outputs + 4 * outputs + shortcut

    count, channels = 9 * in_channels * width + 2 * width, width
    for stage, stride in ((width, 1), (2 * width, 2), (4 * width, 2), (8 * width, 2)):
        count += block(channels, stage, stride) + block(stage, stage, 1)
        channels = stage
    return count + channels * classes + classes


def check_fits_in_memory(config: TrainConfig, available_bytes: int, where: str) -> None:
    """Refuse a width whose float32 weights, gradients and momentum alone exceed `available_bytes`, before
    allocating any of it: too large an allocation fails with a traceback, or is granted and then kills
    the process."""
    copies = 3 if config.momentum > 0 else 2
    needed = copies * 4 * resnet18_parameters(config.width, *DATASET_SHAPES[config.dataset])
    if needed > available_bytes:
        raise ConfigError(f"width {config.width} is too large for {where} {available_bytes / 2**30:.3g} GiB of "
                          f"memory: its weights, gradients and optimizer state alone need {needed / 2**30:.3g} GiB; "
                          "choose a smaller --width")


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


MODEL = "ResNet-18 (CIFAR variant)"  # what every preset trains: training.model.ResNet18, `width` channels wide
PRESETS: dict[str, TrainConfig] = {
    # The flagship: ResNet-18 (CIFAR variant) on CIFAR-100, mixup + OneCycleLR, 40 epochs.
    "cifar100-resnet18": TrainConfig(),
    # Same code path on scikit-learn's 8x8 digits: real images, offline, about 10 s of training on 2 cores.
    "demo": TrainConfig(
        dataset="digits", width=16, epochs=20, batch_size=64, lr=0.1, mixup_alpha=0.2,
        crop_padding=1, flip=False, brightness=0.2, contrast=0.2, saturation=0.0, eval_batch_size=512,
    ),
}

HYPERPARAMETERS = tuple(f for f in fields(TrainConfig) if f.name != "dataset")


def default_run_id(preset: str) -> str:
    """<preset>-<date>-<time>: unique enough for runs started by hand, sortable by name."""
    return f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def preset_config(name: str, **overrides) -> TrainConfig:
    """The preset with the given fields replaced (None means keep the preset's value)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    changes = {key: value for key, value in overrides.items() if value is not None}
    config = replace(PRESETS[name], **changes).validated()
    if config.device == "cpu" or (config.device == "auto" and not _has_gpu_driver()):
        check_fits_in_memory(config, machine_memory_bytes(), "this machine's")  # a GPU's is checked on it
    return config


def _has_gpu_driver() -> bool:
    """Whether "auto" may pick a GPU, told without importing torch (what the web process may not)."""
    return os.path.exists("/proc/driver/nvidia/version")
