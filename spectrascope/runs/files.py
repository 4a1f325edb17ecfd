"""How a run's files are written and read: atomically (a reader never sees half a file), tables as CSV
with full float precision, arrays as .npz."""
from __future__ import annotations

import csv
import errno
import io
import math
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from spectrascope.errors import DiskFull
from spectrascope.runs.paths import RunFormatError

# what reading a damaged (cut-off, overwritten) results file raises, beside OSError
DAMAGED_FILE_ERRORS = (ValueError, EOFError, KeyError, zipfile.BadZipFile)
_COPY_CHUNK = 1 << 30
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NEARLY_FULL = 1 << 20  # bytes free when a write failed: torch.save says "unexpected pos", not ENOSPC


def atomic_write(path: Path, write: Callable[[BinaryIO], None], mode: int = 0o644) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file.
    `mode` 0o644 by default: mkstemp's 0600 would hide runs from a web server user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        full = isinstance(exc, Exception) and _out_of_space(exc, path.parent)
        Path(tmp).unlink(missing_ok=True)
        if full:
            raise DiskFull(f"no space left on the disk that holds {path.parent} (writing {path.name}): free some "
                           "space there, then resume the job; everything written before is intact") from exc
        raise


def _out_of_space(exc: Exception, folder: Path) -> bool:
    """Whether a failed write ran out of space (or quota), told by errno or, where a library hid it, by the
    disk being all but full at the moment of failure (the half-written temporary file still on it)."""
    return (isinstance(exc, OSError) and exc.errno in _NO_SPACE) or disk_nearly_full(folder)


def disk_nearly_full(folder: Path) -> bool:
    """Whether the disk holding `folder` has under a megabyte free: no checkpoint or table fits there."""
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return False


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()), mode)


def atomic_copy(source: Path, path: Path) -> None:
    """An independent copy of `source` at `path`, written atomically. Never a hard link: a later write to
    `source` (torch.save to the same path rewrites the file in place) would change the copy too."""
    with open(source, "rb") as original:
        atomic_write(path, lambda handle: _copy_file(original, handle))


def _copy_file(source: BinaryIO, target: BinaryIO) -> None:
    """copy_file_range: a copy-on-write clone where the filesystem has them (btrfs, XFS), else a copy that
    stays in the kernel (ext4: 3x cheaper than loading and saving a checkpoint); a plain copy where the
    kernel cannot (another filesystem, another OS)."""
    try:
        while os.copy_file_range(source.fileno(), target.fileno(), _COPY_CHUNK):
            pass
    except (OSError, AttributeError):  # EXDEV, ENOSYS, EOPNOTSUPP; AttributeError: no copy_file_range here
        source.seek(0)
        target.seek(0)
        target.truncate()
        shutil.copyfileobj(source, target)


def _write_archive(handle: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """What np.savez writes, one KEY.npy per array, without its keyword arguments: a layer may be called
    `file` or `allow_pickle`, which np.savez(handle, **arrays) cannot take."""
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda handle: _write_archive(handle, arrays))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _format_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Rewrite a table whole and atomically; floats keep full precision, None/NaN become empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_format_cell(row.get(column)) for column in columns])
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def ensure_writable_dir(path: str | os.PathLike, what: str = "data directory", flag: str = "--data-dir") -> Path:
    """Create the folder (by default the data directory, given by `flag`) if needed and prove we can write
    there, before any job starts."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFormatError(f"{what} {path} is a file, not a folder; choose another {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        raise RunFormatError(f"{what} {path} is not writable ({exc.strerror}); choose another {flag}") from None
    return path
