"""Checkpoint files, read safely (plain tensors only: weights_only, or safetensors) and written atomically.

The one torch-using piece below training and analysis, which both read and write checkpoints."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

from spectrascope.errors import UserError
from spectrascope.runs import atomic_write

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_FORBIDDEN_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # "Unsupported global: GLOBAL x.y", "unsupported GLOBAL x.y whose"
# common {"state_dict": ..., "optimizer": ...} files; failing these, the one key whose value holds tensors
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "model_state")


class CheckpointError(UserError):
    """A checkpoint that cannot be read as a state_dict; the message names the file and why."""


def _has_tensors(value) -> bool:
    return isinstance(value, dict) and any(torch.is_tensor(item) for item in value.values())


def _plain(exc: Exception) -> str:
    return _ANSI_ESCAPE.sub("", str(exc)).strip()


def _first_sentence(exc: Exception) -> str:
    message = _plain(exc)
    sentence = message.splitlines()[0].split(". ")[0][:200] if message else ""
    return f"{type(exc).__name__}: {sentence}" if sentence else type(exc).__name__


def why_unreadable(exc: Exception, path: Path) -> str:
    """One plain line. Failures are told apart by how the file starts (torch.save writes a zip archive,
    long ago a pickle). torch's weights_only refusal is a page of advice that ends in loading the file
    unsafely; say instead what was refused and how to save a checkpoint that loads."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return _first_sentence(exc)
    if not head:
        return "the file is empty"
    if path.suffix == ".safetensors":
        return f"not a readable safetensors file, truncated or damaged ({_first_sentence(exc)})"
    if head != b"PK" and head[:1] != b"\x80":
        return "not a PyTorch checkpoint (torch.save writes a zip archive; this file is neither that nor a pickle)"
    message = _plain(exc)
    if message.startswith("Weights only load failed"):
        forbidden = _FORBIDDEN_GLOBAL.search(message)
        if forbidden:
            return (f"refused: the file holds a pickled object ({forbidden.group(1)}), not plain tensors; nothing "
                    "was run. Save model.state_dict() instead")
        return (f"refused: not a plain-tensor file ({_weights_only_detail(message)}); nothing was run. Save it "
                "with torch.save(model.state_dict(), path)")
    return f"a torch.save file that is truncated or damaged ({_first_sentence(exc)})"


def _weights_only_detail(message: str) -> str:
    """What torch's weights_only loader tripped over, without its page of advice around it (the advice
    changes between torch releases; the specific paragraph is the one that is neither)."""
    paragraphs = [" ".join(part.split()) for part in message.split("\n\n") if part.strip()]
    specific = [part.removeprefix("WeightsUnpickler error: ") for part in paragraphs
                if not part.startswith(("Weights only load failed", "Check the documentation"))]
    return specific[0] if specific else "it holds more than tensors"


def load_plain(path: Path):
    """What a torch.save file holds, if that is only tensors and plain containers (weights_only): pickled
    objects are refused, never executed. CheckpointError says in one line why a file cannot be read."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        with warnings.catch_warnings():  # its notes on pickle protocols; a failure is reported below
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, forbidden global: all mean "unreadable"
        raise CheckpointError(why_unreadable(exc, path)) from None


def _wrapper_key(loaded: dict) -> str | None:
    """The key a training script saved the weights under, beside its optimizer state and step count."""
    known = next((key for key in _WRAPPER_KEYS if _has_tensors(loaded.get(key))), None)
    holding = [key for key, value in loaded.items() if _has_tensors(value)]
    return known or (holding[0] if len(holding) == 1 else None)


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """The tensors of a checkpoint, and the key they were unwrapped from (None: the file is the state_dict)."""
    try:
        loaded = load_plain(path)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc}") from None
    key = _wrapper_key(loaded) if isinstance(loaded, dict) and not _has_tensors(loaded) else None
    if key is not None:
        loaded = loaded[key]
    if not _has_tensors(loaded):
        found = (f"a dict with no tensor in it (keys: {', '.join(map(str, list(loaded)[:5]))})"
                 if isinstance(loaded, dict) and loaded else type(loaded).__name__)
        raise CheckpointError(f"{path.name} is not a state_dict (a dict of tensors); found {found}")
    return {name: value for name, value in loaded.items() if torch.is_tensor(value)}, key


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    return read_state_dict(path)[0]


def save_checkpoint(path: Path, obj) -> None:
    """torch.save through a temporary file: a reader (or a kill) never sees half a checkpoint."""
    atomic_write(path, lambda handle: torch.save(obj, handle))
