"""Reading checkpoints safely: plain tensors only (weights_only), from .pt/.pth or .safetensors files."""
from __future__ import annotations

from pathlib import Path

import torch

from spectrascope.errors import UserError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")  # common {"state_dict": ..., "optimizer": ...} files


class CheckpointError(UserError):
    """A checkpoint that cannot be read as a state_dict; the message names the file and why."""


def _has_tensors(value) -> bool:
    return isinstance(value, dict) and any(torch.is_tensor(item) for item in value.values())


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint. Pickled objects other than tensors are refused, never executed."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded = load_file(path)
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, forbidden global: all mean "unreadable"
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckpointError(f"cannot read {path.name}: {type(exc).__name__}: {reason}") from None
    if isinstance(loaded, dict) and not _has_tensors(loaded):
        loaded = next((loaded[key] for key in _WRAPPER_KEYS if _has_tensors(loaded.get(key))), loaded)
    if not _has_tensors(loaded):
        raise CheckpointError(f"{path.name} is not a state_dict (a dict of tensors); found {type(loaded).__name__}")
    return {key: value for key, value in loaded.items() if torch.is_tensor(value)}
