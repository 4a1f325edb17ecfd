"""Read a state_dict that torch.save wrote (its zip format, torch >= 1.6) as NumPy arrays, without torch.

Loading torch costs every process 1.3 s before it reads a byte, and with weightwatcher's float64 maths
the analysis needs nothing else from it. This reads only what `torch.load(weights_only=True)` reads: a
pickle limited to dicts and tensors, whose tensors are rebuilt from the archive's raw storages; any other
global (and any object at all) is refused, never called. Whatever it does not read, it declines (None):
the caller then loads the file through torch (spectrascope.checkpoints), which also says what is wrong
with a bad file. The format: `<name>/data.pkl` pickles the dict, each tensor a call of
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` whose storage is a persistent id
('storage', torch.FloatStorage, key, location, numel), its bytes stored uncompressed in `<name>/data/<key>`.
"""
from __future__ import annotations

import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectrascope.tensorfiles import LazyTensors, TensorEntry

# torch's typed storage names -> the little-endian dtype of their bytes (bfloat16: read as raw 16 bits)
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # a zip entry's local file header (30 bytes)
_LOCAL_HEADER_SIGNATURE = 0x04034B50


class _Declined(Exception):
    """Not a file this module reads: torch reads it (or says why it cannot)."""


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: str
    numel: int
    location: str  # the device it was saved from: "cpu", "cuda:0"


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not (isinstance(storage, _Storage) and _are_counts((offset, *size, *stride)) and len(size) == len(stride)):
        raise _Declined("an unexpected tensor layout")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
    if last >= storage.numel:  # a damaged file: never read past the storage
        raise _Declined("a tensor reaching past its storage")
    return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


def _are_counts(values) -> bool:
    return all(isinstance(value, int) and value >= 0 for value in values)


_GLOBALS = {("collections", "OrderedDict"): OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        raise _Declined(f"{module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _Declined("an unknown persistent id")
        _, dtype, key, location, numel = pid
        if dtype not in _STORAGE_DTYPES.values() or not isinstance(key, str) or not _are_counts([numel]):
            raise _Declined("an unknown storage")
        return _Storage(key, dtype, numel, str(location))


def _archive_name(archive: zipfile.ZipFile) -> str:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise _Declined("not one data.pkl")
    return pickles[0][: -len("data.pkl")]


def _tensors(archive: zipfile.ZipFile, prefix: str) -> dict[str, _Tensor]:
    """The dict's tensors, each storage checked against the archive's directory (none of their bytes read)."""
    if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder") != b"little":
        raise _Declined("big-endian storages")
    try:
        loaded = _Unpickler(archive.open(f"{prefix}data.pkl")).load()
    except _Declined:
        raise
    except Exception as exc:  # a damaged or hostile pickle fails in many ways; torch says which
        raise _Declined(type(exc).__name__) from None
    if not (isinstance(loaded, dict) and loaded and all(isinstance(value, _Tensor) for value in loaded.values())):
        raise _Declined("not a plain state_dict")
    for storage in {tensor.storage for tensor in loaded.values()}:
        info = archive.getinfo(_entry(prefix, storage))  # KeyError: missing
        if info.compress_type != zipfile.ZIP_STORED or info.file_size < storage.numel * _itemsize(storage):
            raise _Declined("a compressed or short storage")
    return loaded


def _entry(prefix: str, storage: _Storage) -> str:
    return f"{prefix}data/{storage.key}"


def _itemsize(storage: _Storage) -> int:
    return np.dtype(storage.dtype).itemsize


def _storage_start(handle, archive: zipfile.ZipFile, prefix: str, storage: _Storage) -> int:
    """The byte where the storage's elements begin in its stored (uncompressed) zip entry: they are mapped
    from there when a tensor is asked for (spectrascope.tensorfiles), not read now. Checkpoints are replaced
    by renaming, never rewritten in place, so a mapping stays whole."""
    info = archive.getinfo(_entry(prefix, storage))
    handle.seek(info.header_offset)
    header = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    if header[0] != _LOCAL_HEADER_SIGNATURE:
        raise _Declined("a damaged zip entry")
    start = info.header_offset + _LOCAL_HEADER.size + header[9] + header[10]  # past its name and extra field
    if start + storage.numel * _itemsize(storage) > handle.seek(0, 2):
        raise _Declined("a truncated storage")
    return start


def _tensor_entry(path: Path, tensor: _Tensor, start: int) -> TensorEntry:
    storage = tensor.storage
    return TensorEntry(path, start, storage.dtype, storage.numel, tensor.offset, tensor.shape, tensor.stride,
                       bfloat16=storage.dtype == "<u2")  # BFloat16Storage: bfloat16 read as its raw 16 bits


def read_state_dict(path: Path) -> LazyTensors | None:
    """name -> array (read-only; bfloat16 as float32; each mapped from the file when asked for) for a zip of
    plain tensors, else None: load it with torch."""
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
            prefix = _archive_name(archive)
            tensors = _tensors(archive, prefix)
            storages = {tensor.storage.key: tensor.storage for tensor in tensors.values()}
            starts = {key: _storage_start(handle, archive, prefix, storage) for key, storage in storages.items()}
            return LazyTensors({name: _tensor_entry(Path(path), tensor, starts[tensor.storage.key])
                                for name, tensor in tensors.items()})
    except (_Declined, KeyError, OSError, zipfile.BadZipFile, struct.error):
        return None


def saved_from(path: Path) -> set[str] | None:
    """The devices a zip of plain tensors was saved from ({"cpu"}), reading no tensor data; None as above."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {tensor.storage.location for tensor in _tensors(archive, _archive_name(archive)).values()}
    except (_Declined, KeyError, OSError, zipfile.BadZipFile):
        return None
