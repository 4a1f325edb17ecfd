"""Where checkpoints are in a folder the user gives `spectrascope import`, in the layouts tools write them:
- one file per epoch (`epoch_12.pt`, `model-ep3.pth`, `ckpt_0005.safetensors`): the last number is the epoch;
- PyTorch Lightning's ModelCheckpoint (`epoch=2-step=1200.ckpt`, any filename pattern, `-v1` re-runs,
  `last.ckpt`; the weights under `state_dict` with the LightningModule's attribute prefix, `model.`):
  numbered by the `global_step` each file holds, the name's last number only where it holds none;
- a Hugging Face Trainer output folder (`checkpoint-500/`, each with `model.safetensors`, `pytorch_model.bin`,
  or shards listed in `model.safetensors.index.json` / `pytorch_model.bin.index.json`), one such checkpoint
  folder, or a `save_pretrained` folder: numbered by the step its `trainer_state.json` says.
Two files of one step are one checkpoint saved twice when their weights are equal, and a clash when not.
Beside the checkpoints, the training log a framework wrote (a Lightning CSVLogger's metrics.csv, the
Trainer's trainer_state.json) is found for analysis.training_logs.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from spectrascope.checkpoints import load_state_dict, read_checkpoint
from spectrascope.errors import UserError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors", ".ckpt")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_HF_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_HF_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_TRAINER_STATE = "trainer_state.json"
_CSV_LOGGER_VERSION = re.compile(r"version_(\d+)")


@dataclass(frozen=True)
class Source:
    """One checkpoint to import: its file, or the shards whose tensors together make its state_dict."""

    files: tuple[Path, ...]
    name: str  # how messages name it
    prefix: str = ""  # stripped from every key (a LightningModule's attribute holding the model)
    monitored: tuple[str, float] | None = None  # Lightning's ModelCheckpoint monitor and its value at this save
    model_config: Path | None = None  # a Hugging Face config.json beside the weights (analysis.hf_modules)


@dataclass(frozen=True)
class Found:
    layout: str  # "files" | "lightning" | "hugging-face"
    unit: str  # what the numbers count: "epoch" | "step"
    sources: dict[int, Source]
    notes: tuple[str, ...] = ()  # files skipped and why, for the import to say
    log: Path | None = None  # the framework's training log, if one was found


def epoch_from_name(path: Path) -> int | None:
    """The last number in the file name: epoch_12.pt, model-ep3.pth, ckpt_0005.safetensors, epoch=2-step=1200.ckpt."""
    match = _LAST_NUMBER.search(path.name[: -len(path.suffix)])
    return int(match.group(1)) if match else None


def find_checkpoints(folder: Path) -> Found:
    if not folder.exists():
        raise UserError(f"{folder} does not exist: give the folder that holds your checkpoints")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give the folder that holds your checkpoints")
    hf = sorted(p for p in folder.iterdir() if p.is_dir() and _HF_CHECKPOINT.fullmatch(p.name))
    if hf or _hf_weights_in(folder):
        return _hugging_face(folder, hf)
    return _files(folder)


# --- Hugging Face ----------------------------------------------------------------------------------


def _hf_weights_in(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _HF_WEIGHTS + _HF_INDEXES)


def _hf_source(folder: Path, name: str) -> Source:
    """A Trainer checkpoint folder's weights: the one file, or every shard its index lists."""
    config = folder / "config.json" if (folder / "config.json").is_file() else None
    for weights in _HF_WEIGHTS:
        if (folder / weights).is_file():
            return Source((folder / weights,), f"{name}{weights}", model_config=config)
    for index in _HF_INDEXES:
        if (folder / index).is_file():
            try:
                shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                raise UserError(f"{name}{index} is not a readable shard index (no weight_map)") from None
            missing = [shard for shard in shards if not (folder / shard).is_file()]
            if missing or not shards:
                raise UserError(f"{name}{index} lists shards that are not there: {', '.join(missing[:3])}")
            return Source(tuple(folder / shard for shard in shards), f"{name}{index}", model_config=config)
    raise UserError(f"{name.rstrip('/')} holds no model weights ({', '.join(_HF_WEIGHTS + _HF_INDEXES)})")


def _trainer_step(folder: Path) -> int | None:
    """The global step the Trainer's trainer_state.json in `folder` says (None: no readable one)."""
    try:
        step = json.loads((folder / _TRAINER_STATE).read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


def _hugging_face(folder: Path, checkpoints: list[Path]) -> Found:
    """checkpoint-N folders at their trainer_state.json's step (N where it has none), and weights saved in
    `folder` itself: one Trainer checkpoint passed alone, trainer.save_model()'s final model beside the
    checkpoints (at the step the Trainer's saved state says, else skipped), or one save_pretrained model."""
    steps: dict[int, list[Source]] = {}
    for checkpoint in checkpoints:
        step = _trainer_step(checkpoint)
        steps.setdefault(int(_HF_CHECKPOINT.fullmatch(checkpoint.name).group(1)) if step is None else step,
                         []).append(_hf_source(checkpoint, f"{checkpoint.name}/"))
    notes = []
    if _hf_weights_in(folder):
        own = _hf_source(folder, "")
        step = _trainer_step(folder)
        if step is None and _HF_CHECKPOINT.fullmatch(folder.name):
            step = int(_HF_CHECKPOINT.fullmatch(folder.name).group(1))
        if step is None and checkpoints:
            notes.append(f"{own.name} skipped: its step is unknown (no {_TRAINER_STATE} beside it; "
                         "trainer.save_state() writes one)")
        elif step is None:
            step = 0
            notes.append(f"{own.name}: no {_TRAINER_STATE} says its step; imported as step 0")
        if step is not None:
            steps.setdefault(step, []).append(own)
    sources, kept_once = _one_per_number(steps, "step")
    logs = [path for path in [*checkpoints, folder] if _trainer_step(path) is not None]
    log = max(logs, key=_trainer_step) / _TRAINER_STATE if logs else None
    return Found("hugging-face", "step", sources, tuple(notes + kept_once), log)


# --- files and Lightning ---------------------------------------------------------------------------


def _files(folder: Path) -> Found:
    files = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"no checkpoints ({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}, or Hugging Face "
                        f"checkpoint-N folders) in {folder}")
    lightning = {p.suffix == ".ckpt" for p in files}
    if len(lightning) > 1:
        raise UserError(f"{folder} mixes Lightning .ckpt files with other checkpoints: import them apart")
    if lightning == {True}:
        return _lightning(folder, files)
    numbered = _by_name(files, "epoch")
    for number, sources in numbered.items():
        if len(sources) > 1:
            raise UserError(f"{sources[0].name} and {sources[1].name} both claim epoch {number}")
    config = folder / "config.json" if (folder / "config.json").is_file() else None  # a transformers model's
    return Found("files", "epoch", {number: replace(sources[0], model_config=config)
                                    for number, sources in sorted(numbered.items())})


def _by_name(files: list[Path], unit: str) -> dict[int, list[Source]]:
    unnumbered = [p.name for p in files if epoch_from_name(p) is None]
    if unnumbered:
        raise UserError(f"cannot tell the {unit} of {', '.join(unnumbered)}: put the {unit} number in each "
                        "file name")
    numbered: dict[int, list[Source]] = {}
    for path in files:
        numbered.setdefault(epoch_from_name(path), []).append(Source((path,), path.name))
    return numbered


def _lightning(folder: Path, files: list[Path]) -> Found:
    """Each .ckpt at the global_step it holds; files that hold none (not Lightning's) by their names."""
    steps: dict[int, list[Source]] = {}
    unnumbered = []
    for path in files:
        saved = read_checkpoint(path)
        step = saved.get("global_step") if isinstance(saved, dict) else None
        if not isinstance(step, int):
            unnumbered.append(path)
            continue
        steps.setdefault(step, []).append(Source((path,), path.name, "model.", _monitored(saved)))
    for number, sources in _by_name(unnumbered, "step").items() if unnumbered else ():
        steps.setdefault(number, []).extend(replace(source, prefix="model.") for source in sources)
    sources, kept_once = _one_per_number(steps, "step")
    return Found("lightning", "step", sources, tuple(kept_once), _csv_logger_metrics(folder))


def _monitored(saved: dict) -> tuple[str, float] | None:
    """The metric a ModelCheckpoint callback watched and its value when it saved this file."""
    for key, state in (saved.get("callbacks") or {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict) and state.get("monitor"):
            score = state.get("current_score")
            if score is not None:
                return str(state["monitor"]), float(score)
    return None


def _csv_logger_metrics(folder: Path) -> Path | None:
    """A CSVLogger's metrics.csv beside or above the checkpoints: Lightning's own layout puts them in
    version_N/checkpoints/ beside version_N/metrics.csv; else the newest lightning_logs/version_N."""
    for candidate in (folder / "metrics.csv", folder.parent / "metrics.csv"):
        if _is_csv_logger_file(candidate):
            return candidate
    versions = [version for root in (folder, folder.parent) for version in (root / "lightning_logs").glob("version_*")
                if _CSV_LOGGER_VERSION.fullmatch(version.name) and _is_csv_logger_file(version / "metrics.csv")]
    newest = max(versions, key=lambda version: int(version.name.split("_")[1]), default=None)
    return newest / "metrics.csv" if newest else None


def _is_csv_logger_file(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return "step" in handle.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False


# --- one checkpoint per number ---------------------------------------------------------------------


def _one_per_number(numbered: dict[int, list[Source]], unit: str) -> tuple[dict[int, Source], list[str]]:
    """One source per step: files of one step holding equal weights are one checkpoint saved twice (last.ckpt,
    a second run's -v1, save_model's copy of the last checkpoint), kept once and said; unequal ones clash."""
    sources, kept_once = {}, []
    for number, candidates in sorted(numbered.items()):
        first, *others = sorted(candidates, key=_preference)
        for other in others:
            if not _same_weights(first, other):
                raise UserError(f"{first.name} and {other.name} both hold {unit} {number} with different weights "
                                "(two runs saved into one folder?): move one run's checkpoints to a folder of "
                                "their own and import each")
            kept_once.append(f"{other.name} skipped: the same weights as {first.name} ({unit} {number})")
        sources[number] = first
    return sources, kept_once


def _preference(source: Source) -> tuple:
    """Which of one step's copies names it: a checkpoint's own file before last.ckpt and re-runs' -vN."""
    stem = source.files[0].stem
    return (stem.split("-v")[0] == "last", re.search(r"-v\d+$", stem) is not None, source.name)


def _same_weights(a: Source, b: Source) -> bool:
    first, second = _weights(a), _weights(b)
    return first.keys() == second.keys() and all(
        first[key].shape == second[key].shape and first[key].dtype == second[key].dtype
        and bool((first[key] == second[key]).all()) for key in first)


def _weights(source: Source) -> dict:
    weights = {}
    for path in source.files:
        weights.update(load_state_dict(path))
    return weights
