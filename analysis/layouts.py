"""Where checkpoints are in a folder the user gives `spectrascope import`, in the layouts tools write them:
- one file per epoch (`epoch_12.pt`, `model-ep3.pth`, `ckpt_0005.safetensors`): the last number is the epoch;
- PyTorch Lightning's ModelCheckpoint (`epoch=2-step=1200.ckpt`, the weights under `state_dict` with the
  LightningModule's attribute prefix, `model.`): numbered by step; `last.ckpt` repeats one of them;
- a Hugging Face Trainer output folder (`checkpoint-500/`, each with `model.safetensors`, `pytorch_model.bin`,
  or shards listed in `model.safetensors.index.json` / `pytorch_model.bin.index.json`): numbered by step.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from spectrascope.errors import UserError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors", ".ckpt")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_HF_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_HF_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class Source:
    """One checkpoint to import: its file, or the shards whose tensors together make its state_dict."""

    files: tuple[Path, ...]
    name: str  # how messages name it
    prefix: str = ""  # stripped from every key (a LightningModule's attribute holding the model)


@dataclass(frozen=True)
class Found:
    layout: str  # "files" | "lightning" | "hugging-face"
    unit: str  # what the numbers count: "epoch" | "step"
    sources: dict[int, Source]


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
    if hf:
        return Found("hugging-face", "step",
                     {int(_HF_CHECKPOINT.fullmatch(p.name).group(1)): _hf_source(p) for p in hf})
    return _files(folder)


def _hf_source(folder: Path) -> Source:
    """A Trainer checkpoint folder's weights: the one file, or every shard its index lists."""
    for name in _HF_WEIGHTS:
        if (folder / name).is_file():
            return Source((folder / name,), f"{folder.name}/{name}")
    for name in _HF_INDEXES:
        if (folder / name).is_file():
            try:
                shards = sorted(set(json.loads((folder / name).read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                raise UserError(f"{folder.name}/{name} is not a readable shard index (no weight_map)") from None
            missing = [shard for shard in shards if not (folder / shard).is_file()]
            if missing or not shards:
                raise UserError(f"{folder.name}/{name} lists shards that are not there: {', '.join(missing[:3])}")
            return Source(tuple(folder / shard for shard in shards), f"{folder.name}/{name}")
    raise UserError(f"{folder.name} holds no model weights ({', '.join(_HF_WEIGHTS + _HF_INDEXES)})")


def _files(folder: Path) -> Found:
    files = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    repeats = [p for p in files if p.suffix == ".ckpt" and p.stem.split("-v")[0] == "last"]
    if repeats:
        print(f"{', '.join(p.name for p in repeats)} skipped: Lightning's copy of its latest checkpoint",
              file=sys.stderr)
        files = [p for p in files if p not in repeats]
    if not files:
        raise UserError(f"no checkpoints ({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}, or Hugging Face "
                        f"checkpoint-N folders) in {folder}")
    lightning = {p.suffix == ".ckpt" for p in files}
    if len(lightning) > 1:
        raise UserError(f"{folder} mixes Lightning .ckpt files with other checkpoints: import them apart")
    unit = "step" if lightning == {True} else "epoch"
    unnumbered = [p.name for p in files if epoch_from_name(p) is None]
    if unnumbered:
        raise UserError(f"cannot tell the {unit} of {', '.join(unnumbered)}: put the {unit} number in each "
                        "file name")
    by_number: dict[int, Source] = {}
    for path in files:
        number = epoch_from_name(path)
        if number in by_number:
            raise UserError(f"{by_number[number].name} and {path.name} both claim {unit} {number}")
        by_number[number] = Source((path,), path.name, prefix="model." if unit == "step" else "")
    return Found("lightning" if unit == "step" else "files", unit, dict(sorted(by_number.items())))
