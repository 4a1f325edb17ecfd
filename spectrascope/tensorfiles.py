"""Tensors read from their files one at a time, without torch: a checkpoint of a 7B-class model (13.5 GB of
bfloat16) never has to fit in memory. `LazyTensors` maps each name to where its bytes lie; an array is
mapped from the file when asked for and is gone once the caller drops it, so an analysis holds one matrix
at a time. spectrascope.torchzip finds the tensors of a torch.save zip; this module those of safetensors
files (one, or the shards a `*.index.json` lists), and writes shards merged into one file, a tensor at a
time, in the model's order and with its tied names (which safetensors cannot hold) in its metadata.

The safetensors format: an 8-byte little-endian header length, a JSON header (name -> dtype, shape, byte
range after the header; `__metadata__`: strings), then the bytes.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

# safetensors dtypes -> the little-endian dtype of their bytes (bfloat16: read as raw 16 bits)
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_DTYPE_NAMES = {stored: name for name, stored in SAFETENSORS_DTYPES.items() if name != "BF16"}
_HEADER_LENGTH = struct.Struct("<Q")
_MAX_HEADER = 100 << 20  # the safetensors library's own limit
ORDER_KEY, TIED_KEY = "spectrascope.order", "spectrascope.tied"  # our __metadata__ entries
_COPY_CHUNK = 64 << 20


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's elements lie in a file: its storage (from byte `start`, `numel` elements of `dtype`)
    and the tensor's view of it (offset, shape, strides in elements). Equal entries are one tensor (a tie)."""

    path: Path
    start: int
    dtype: str
    numel: int
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    bfloat16: bool = False

    def raw(self) -> np.ndarray:
        """The elements as stored (bfloat16 as its 16 bits), mapped from the file, read-only."""
        if self.numel == 0 or 0 in self.shape:
            return np.empty(self.shape, dtype=self.dtype)
        storage = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.start, shape=(self.numel,))
        itemsize = storage.itemsize
        return np.lib.stride_tricks.as_strided(storage[self.offset:], self.shape,
                                               tuple(s * itemsize for s in self.stride), writeable=False)

    def read(self) -> np.ndarray:
        """The tensor as NumPy reads it: bfloat16 widened to float32, exactly (it is float32's top half)."""
        raw = self.raw()
        return (raw.astype(np.uint32) << 16).view(np.float32) if self.bfloat16 else raw

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


class LazyTensors(Mapping):
    """name -> array, each read from its file when asked for and not kept: iterate, use, drop."""

    def __init__(self, entries: dict[str, TensorEntry]):
        self.entries = entries

    def __getitem__(self, name: str) -> np.ndarray:
        return self.entries[name].read()

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.entries[name].shape

    def dtype(self, name: str) -> np.dtype:
        """The dtype its array has once read (bfloat16 as float32)."""
        entry = self.entries[name]
        return np.dtype(np.float32) if entry.bfloat16 else np.dtype(entry.dtype)

    def identity(self, name: str) -> TensorEntry:
        """What the name's values are: names with equal identities are one tensor (a head tied to its embedding)."""
        return self.entries[name]


class NotSafetensors(Exception):
    """Not a safetensors file this module reads (damaged, or a dtype NumPy has not): read it otherwise."""


def _header(path: Path) -> tuple[dict, int]:
    """The JSON header and the byte where the data starts."""
    with open(path, "rb") as handle:
        raw = handle.read(_HEADER_LENGTH.size)
        if len(raw) < _HEADER_LENGTH.size:
            raise NotSafetensors("shorter than a header")
        (length,) = _HEADER_LENGTH.unpack(raw)
        if length > _MAX_HEADER:
            raise NotSafetensors("a header too long")
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            raise NotSafetensors("a header that is not JSON") from None
    if not isinstance(header, dict):
        raise NotSafetensors("a header that is not an object")
    return header, _HEADER_LENGTH.size + length


def _entries(path: Path) -> tuple[dict[str, TensorEntry], dict]:
    header, data_start = _header(path)
    size = path.stat().st_size
    metadata = header.pop("__metadata__", None) or {}
    entries = {}
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = SAFETENSORS_DTYPES[info["dtype"]], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise NotSafetensors(f"{name}: a dtype or entry this reader does not know") from None
        numel = int(np.prod(shape, dtype=np.int64))
        if end - begin != numel * np.dtype(dtype).itemsize or data_start + end > size:
            raise NotSafetensors(f"{name}: its bytes do not fit the file")
        strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape)))
        entries[name] = TensorEntry(path, data_start + begin, dtype, numel, 0, shape, strides, info["dtype"] == "BF16")
    return entries, metadata


def read_safetensors(paths: list[Path]) -> LazyTensors:
    """The tensors of one safetensors file or of a model's shards together, in the order our metadata gives
    (with the tied names it lists), else in the files' order."""
    entries, metadata = {}, {}
    for path in paths:
        found, metadata = _entries(Path(path))
        entries.update(found)
    try:
        tied = json.loads(metadata.get(TIED_KEY, "{}"))
        order = json.loads(metadata.get(ORDER_KEY, "null")) or list(entries)
        return LazyTensors({name: entries[tied.get(name, name)] for name in order})
    except (ValueError, KeyError, TypeError, AttributeError):
        raise NotSafetensors("its spectrascope metadata does not match its tensors") from None


def write_safetensors(handle: BinaryIO, tensors: LazyTensors, order: list[str], tied: dict[str, str]) -> None:
    """One safetensors file of `tensors` (each `order` name; a name in `tied` is stored once, as its source),
    copied a tensor at a time: memory stays at one tensor's bytes at most, whatever the model's size."""
    stored = [name for name in order if name not in tied]
    header, position = {}, 0
    for name in stored:
        entry = tensors.identity(name)
        dtype = "BF16" if entry.bfloat16 else _DTYPE_NAMES[entry.dtype]
        header[name] = {"dtype": dtype, "shape": list(entry.shape), "data_offsets": [position, position + entry.nbytes]}
        position += entry.nbytes
    header["__metadata__"] = {"format": "pt", ORDER_KEY: json.dumps(order), TIED_KEY: json.dumps(tied)}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data 8-byte aligned, as the safetensors library writes it
    handle.write(_HEADER_LENGTH.pack(len(encoded)) + encoded)
    for name in stored:
        raw = np.ascontiguousarray(tensors.identity(name).raw())
        flat = raw.reshape(-1).view(np.uint8) if raw.size else np.empty(0, np.uint8)
        for begin in range(0, flat.size, _COPY_CHUNK):
            handle.write(flat[begin:begin + _COPY_CHUNK].data)
        del raw, flat
