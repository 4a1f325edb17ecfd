"""`spectrascope train`: flags for every hyper-parameter, checks before anything is written."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

from spectrascope import command
from spectrascope.runs import (
    RunFormatError, RunPaths, RunRecord, ensure_writable_dir, is_reserved, read_run, run_paths,
)
from training.config import HYPERPARAMETERS, PRESETS, ConfigError, TrainConfig, default_run_id, preset_config

HELP = "train a preset into a run directory, one checkpoint per epoch"
_FLAG_TYPES = {"int": int, "float": float, "str": str}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help=f"recipe to train: {', '.join(PRESETS)} (required unless --resume)")
    command.add_run_id(parser, "name of the run directory (default: <preset>-<date>-<time>)", required=False)
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its last complete epoch (with its own config; only "
                             "--device may change)")
    parser.add_argument("--download", action="store_true", help="download CIFAR-100 if it is not in DATA_DIR/datasets")
    add_hyperparameter_arguments(parser)


def add_hyperparameter_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for every hyper-parameter (`spectrascope train` and `spectrascope submit train`)."""
    group = parser.add_argument_group("hyper-parameters (default: the preset's)")
    for spec in HYPERPARAMETERS:
        flag = _flag(spec.name)
        help_text = f"{spec.metadata['help']} ({_preset_values(spec.name)})"
        if spec.type == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, type=_FLAG_TYPES[spec.type], default=None, help=help_text)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _preset_values(name: str) -> str:
    """Each preset's value of a hyper-parameter, for --help: `cifar100-resnet18: 0.1, demo: 0.1`."""
    return ", ".join(f"{preset}: {getattr(config, name)}" for preset, config in PRESETS.items())


def overrides(args: argparse.Namespace) -> dict:
    """The hyper-parameters given on the command line, by name."""
    return {spec.name: getattr(args, spec.name) for spec in HYPERPARAMETERS if getattr(args, spec.name) is not None}


def _resumed_config(args: argparse.Namespace) -> tuple[TrainConfig, str | None]:
    """A resumed run keeps its own config; only the device may change (say, another machine). The original
    command with --resume added is accepted: only flags that conflict with the stored config are refused."""
    if args.run_id is None:
        raise ConfigError("--resume needs the --run-id of the run to continue")
    paths = run_paths(args.data_dir, args.run_id)
    record = read_run(paths)
    if record.kind == "imported":
        raise RunFormatError(f"run {args.run_id!r} was imported, not trained by spectrascope: it cannot be resumed")
    stored = _stored_config(record, paths)
    changed = [f"{_flag(name)} {value} (the run has {getattr(stored, name)})" for name, value in
               sorted(overrides(args).items()) if name != "device" and getattr(stored, name) != value]
    if args.preset and args.preset != record.preset:
        changed.append(f"--preset {args.preset} (the run has {record.preset})")
    if changed:
        raise ConfigError("--resume uses the run's own config; drop the flags that differ from it: "
                          + "; ".join(changed))
    config = replace(stored, **overrides(args)).validated()
    if record.non_finite_from is not None:
        raise RunFormatError(f"run {args.run_id!r} diverged at epoch {record.non_finite_from} (NaN/Inf): resuming "
                             "would go on from NaN weights; train a new run with a smaller --lr")
    if record.status == "completed":
        raise RunFormatError(f"run {args.run_id!r} is already complete ({config.epochs}/{config.epochs} epochs); "
                             "nothing to resume")
    return config, record.preset


def _stored_config(record: RunRecord, paths: RunPaths) -> TrainConfig:
    """The config a run was trained with, as its run.json records it."""
    if not isinstance(record.config, dict) or not record.config:  # a run.json without one reads as {}
        raise ConfigError(f"{paths.run_json} has no training config (a \"config\" object): "
                          f"run {paths.run_id!r} cannot be resumed")
    try:
        return TrainConfig.from_dict(record.config)
    except ConfigError as exc:
        raise ConfigError(f"{paths.run_json} has a config that cannot be trained ({exc}): "
                          f"run {paths.run_id!r} cannot be resumed") from None


def run(args: argparse.Namespace) -> int:
    if args.resume:
        config, preset = _resumed_config(args)
    else:
        if args.preset is None:
            raise ConfigError(f"--preset is required; choose one of {', '.join(PRESETS)}")
        config, preset = preset_config(args.preset, **overrides(args)), args.preset
        if args.run_id is None:  # an empty --run-id is refused as invalid by run_paths, not replaced
            args.run_id = default_run_id(preset)
        paths = run_paths(args.data_dir, args.run_id)
        if paths.root.exists() and not is_reserved(paths):
            raise RunFormatError(f"run {args.run_id!r} already exists at {paths.root}: choose another --run-id, "
                                 "or add --resume to continue it")
    ensure_writable_dir(args.data_dir)

    from training.data import ensure_dataset  # torch is imported only once the input is known to be good
    from training.trainer import train

    ensure_dataset(config.dataset, args.data_dir, download=args.download)

    last = train(config, args.data_dir, args.run_id, preset=preset, resume=args.resume)
    supervised = os.environ.get(command.PARENT_PID_ENV)  # a job runner's job goes on to analyse them itself
    hint = "" if supervised else (f"; analyse its checkpoints with `spectrascope analyze --run-id {args.run_id} "
                                  f"--data-dir {args.data_dir}`")
    print(f"run {args.run_id} complete: test accuracy {last.get('test_acc', float('nan')):.4f} "
          f"-> {run_paths(args.data_dir, args.run_id).root}{hint}")
    return 0
