"""Checkpoint files, read safely (plain tensors only: weights_only, or safetensors) and written atomically.

The one torch-using piece below training and analysis, which both read and write checkpoints. torch is
loaded on first use, not on import: the analysis reads a zip of plain tensors (every run's checkpoints)
through spectrascope.torchzip, without it (1.3 s less for each of its processes)."""
from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectrascope import torchzip
from spectrascope.errors import UserError
from spectrascope.runs import atomic_write
from spectrascope.tensorfiles import LazyTensors, NotSafetensors, read_safetensors

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_FORBIDDEN_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # "Unsupported global: GLOBAL x.y", "unsupported GLOBAL x.y whose"
# common {"state_dict": ..., "optimizer": ...} files; failing these, the one key whose value holds tensors
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "model_state")


class CheckpointError(UserError):
    """A checkpoint that cannot be read as a state_dict; the message names the file and why."""


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")  # a torch tensor exists only once torch is loaded
    return torch is not None and torch.is_tensor(value)


def _has_tensors(value) -> bool:
    return isinstance(value, dict) and any(_is_tensor(item) for item in value.values())


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
        head = _head(path)
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


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(2)


def _is_zip(path: Path) -> bool:
    """torch.save's format since torch 1.6 (a zip archive), which alone can be memory-mapped."""
    try:
        return path.suffix != ".safetensors" and _head(path) == b"PK"
    except OSError:  # loading it says why
        return False


def _on_cpu(saved_on: set[str] | None):
    """torch.load's map_location: every tensor on the CPU; given `saved_on`, the devices they were saved
    from ("cpu", "cuda:0") are added to it."""
    if saved_on is None:
        return "cpu"

    def restore(storage, location: str):
        saved_on.add(location)
        return storage
    return restore


def load_plain(path: Path, mmap: bool = False, saved_on: set[str] | None = None):
    """What a torch.save file holds, if that is only tensors and plain containers (weights_only): pickled
    objects are refused, never executed. `mmap` (zip archives only) maps the file instead of reading the
    tensors' bytes. CheckpointError says in one line why a file cannot be read."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        import torch

        with warnings.catch_warnings():  # its notes on pickle protocols; a failure is reported below
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=_on_cpu(saved_on), weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated zip, bad pickle, forbidden global: all mean "unreadable"
        raise CheckpointError(why_unreadable(exc, path)) from None


def _wrapper_key(loaded: dict) -> str | None:
    """The key a training script saved the weights under, beside its optimizer state and step count."""
    known = next((key for key in _WRAPPER_KEYS if _has_tensors(loaded.get(key))), None)
    holding = [key for key, value in loaded.items() if _has_tensors(value)]
    return known or (holding[0] if len(holding) == 1 else None)


@contextmanager
def _naming(path: Path):
    """A CheckpointError raised inside names the file."""
    try:
        yield
    except CheckpointError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc}") from None


def _state_dict_in(loaded, path: Path) -> tuple[dict, str | None]:
    """The dict holding the weights, and the key it was unwrapped from (None: the file is the state_dict)."""
    key = _wrapper_key(loaded) if isinstance(loaded, dict) and not _has_tensors(loaded) else None
    if key is not None:
        loaded = loaded[key]
    if not _has_tensors(loaded):
        found = (f"a dict with no tensor in it (keys: {', '.join(map(str, list(loaded)[:5]))})"
                 if isinstance(loaded, dict) and loaded else type(loaded).__name__)
        raise CheckpointError(f"{path.name} is not a state_dict (a dict of tensors); found {found}")
    return loaded, key


def load_state_dict(path: Path) -> dict:
    """The tensors of a checkpoint, unwrapped from a training script's {"state_dict": ...} if need be."""
    with _naming(path):
        loaded = load_plain(path)
    state_dict, _ = _state_dict_in(loaded, path)
    return {name: value for name, value in state_dict.items() if _is_tensor(value)}


def load_arrays(path: Path) -> Mapping[str, np.ndarray]:
    """load_state_dict's tensors as NumPy arrays (read-only; bfloat16 as float32). Read without torch where
    spectrascope.tensorfiles can (safetensors, torch.save's zip): then each tensor is read from the file only
    when asked for, so a caller that takes one at a time holds one at a time."""
    arrays = _lazy_safetensors(path) if path.suffix == ".safetensors" else torchzip.read_state_dict(path)
    if arrays is None:
        arrays = {name: _as_array(tensor) for name, tensor in load_state_dict(path).items()}
    return arrays


def _lazy_safetensors(path: Path) -> LazyTensors | None:
    try:
        tensors = read_safetensors([path])
    except (NotSafetensors, OSError):  # torch's safetensors says what is wrong with it
        return None
    return tensors if tensors else None


def _as_array(tensor) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


@dataclass(frozen=True)
class CheckedCheckpoint:
    key: str | None  # the entry the weights are read from (None: the file is the state_dict)
    as_saved: bool  # already a run checkpoint (torch.save's zip of CPU tensors and nothing else): copy it whole


def _load_mapped(path: Path, saved_on: set[str]):
    """load_plain without reading the tensors' bytes where the file can be memory-mapped; read whole where
    it cannot (an old pickle, safetensors, a filesystem without mmap), which also says why a bad file is bad."""
    if _is_zip(path):
        with suppress(CheckpointError):
            return load_plain(path, mmap=True, saved_on=saved_on)
    return load_plain(path, saved_on=saved_on)


def read_checkpoint(path: Path):
    """All a checkpoint holds (plain tensors and containers only), memory-mapped where it can be: what a
    training framework saved beside the weights (Lightning's global_step, epoch, callbacks' state)."""
    with _naming(path):
        return _load_mapped(path, set())


def check_checkpoint(path: Path) -> CheckedCheckpoint:
    """What load_state_dict checks, mostly without reading the tensors: an import checks every file before
    it writes anything, then copies or converts each."""
    if _is_zip(path) and torchzip.saved_from(path) == {"cpu"}:  # a run checkpoint already, read without torch
        return CheckedCheckpoint(None, True)
    if path.suffix == ".safetensors" and _lazy_safetensors(path) is not None:  # its header checked, no tensor read
        return CheckedCheckpoint(None, False)
    saved_on: set[str] = set()
    with _naming(path):
        loaded = _load_mapped(path, saved_on)
    state_dict, key = _state_dict_in(loaded, path)
    plain = key is None and all(_is_tensor(value) for value in state_dict.values())
    return CheckedCheckpoint(key, plain and _is_zip(path) and saved_on == {"cpu"})


def save_checkpoint(path: Path, obj) -> None:
    """torch.save through a temporary file: a reader (or a kill) never sees half a checkpoint."""
    import torch

    atomic_write(path, lambda handle: torch.save(obj, handle))
