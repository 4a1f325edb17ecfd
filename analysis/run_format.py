"""The run directory: the one place that knows where a run's files live and how they are written.

Torch-free on purpose: training, analysis, the web app and users' own scripts all read and write runs
through this module. The contract is documented in docs/run-format.md; bump FORMAT_VERSION when it
changes incompatibly.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import re
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from spectrascope.errors import UserError

FORMAT_VERSION = 1
RUN_KINDS = ("trained", "imported")
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")  # a job is (or should be) at work
METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
# what reading a damaged (cut-off, overwritten) results file raises, beside OSError
DAMAGED_FILE_ERRORS = (ValueError, EOFError, KeyError, zipfile.BadZipFile)
PROBE_GRACE_SECONDS = 0.2  # how long a job waits out is_locked()'s instant look before calling the run busy

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunFormatError(UserError, ValueError):
    """A run id, run or run file that cannot be used; the message says what to do."""


class RunBusyError(RunFormatError):
    """Another process holds the run's job lock."""


def validate_run_id(run_id: str) -> str:
    """Run ids become directory names, so they may not escape the runs folder."""
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise RunFormatError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-', starting with a letter or "
            "digit (no path separators, no '..', at most 128 characters)"
        )
    return run_id


def runs_root(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "runs"


def datasets_root(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "datasets"


@dataclass(frozen=True)
class RunPaths:
    """Every path inside one run directory."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.pt"

    @property
    def training_state(self) -> Path:
        """Optimizer/scheduler state for --resume, kept apart from the plain-weights checkpoints."""
        return self.root / "training_state.pt"

    def job_lock(self, job: str) -> Path:
        return self.root / f".{job}.lock"

    @property
    def job_log(self) -> Path:
        """stdout and stderr of the jobs the dashboard started for this run."""
        return self.root / "job.log"

    @property
    def cancel_request(self) -> Path:
        """Present while someone has asked the run's dashboard job to stop; any process may create it."""
        return self.root / ".cancel"

    @property
    def analysis(self) -> Path:
        return self.root / "analysis"

    @property
    def layers_csv(self) -> Path:
        return self.analysis / "layers.csv"

    @property
    def esd_dir(self) -> Path:
        return self.analysis / "esd"

    def esd(self, epoch: int) -> Path:
        return self.esd_dir / f"epoch_{epoch:04d}.npz"

    @property
    def weight_stats_csv(self) -> Path:
        return self.analysis / "weight_stats.csv"

    @property
    def histograms(self) -> Path:
        return self.analysis / "histograms.npz"

    @property
    def analysis_manifest(self) -> Path:
        """What each epoch's analysis was computed from, so a re-run redoes only what changed."""
        return self.analysis / "manifest.json"


def run_paths(data_dir: str | os.PathLike, run_id: str) -> RunPaths:
    return RunPaths(runs_root(data_dir) / validate_run_id(run_id))


_CHECKPOINT_NAME = re.compile(r"epoch_([0-9]{4}|[1-9][0-9]{4,})\.pt")  # as RunPaths.checkpoint names them


def checkpoint_epochs(paths: RunPaths) -> list[int]:
    if not paths.checkpoints.is_dir():
        return []
    return sorted(int(match.group(1)) for name in os.listdir(paths.checkpoints)
                  if (match := _CHECKPOINT_NAME.fullmatch(name)))


# --- atomic writes -------------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp's 0600 would hide runs from a web server user
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- run.json ------------------------------------------------------------------------------------


def new_run_record(run_id: str, *, kind: str, preset: str | None, config: dict, total_epochs: int | None,
                   provenance: dict) -> dict:
    if kind not in RUN_KINDS:
        raise RunFormatError(f"unknown run kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    stamp = now_iso()
    return {
        "id": validate_run_id(run_id),
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "preset": preset,
        "config": config,
        "status": "queued",
        "progress": {"epoch": None, "total_epochs": total_epochs, "phase": "queued"},
        "error": None,
        "created": stamp,
        "updated": stamp,
        "provenance": provenance,
    }


def read_run(paths: RunPaths) -> dict:
    try:
        record = json.loads(paths.run_json.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise RunFormatError(f"no run {paths.run_id!r} at {paths.root} (run.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFormatError(f"{paths.run_json} is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise RunFormatError(f"{paths.run_json} is not a JSON object")
    version = record.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        advice = "; upgrade spectrascope to read it" if newer else ""
        raise RunFormatError(f"{paths.run_json} has format_version {version!r}, and this spectrascope reads "
                             f"format_version {FORMAT_VERSION}{advice}")
    return record


def write_run(paths: RunPaths, record: dict) -> None:
    atomic_write_text(paths.run_json, json.dumps(record, indent=2, sort_keys=True) + "\n")


@contextmanager
def _lock_file(path: Path) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _flock(path: Path, flags: int) -> Iterator[int]:
    with _lock_file(path) as fd:
        fcntl.flock(fd, flags)
        yield fd


def update_run(paths: RunPaths, *, progress: dict | None = None, **fields) -> dict:
    """Read-modify-write of run.json, serialised across processes (trainer and analyser may both write)."""
    with _flock(paths.root / ".run.json.lock", fcntl.LOCK_EX):
        record = read_run(paths)
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise RunFormatError(f"unknown status {fields['status']!r}")
        record.update(fields)
        if progress:
            record["progress"] = {**record.get("progress", {}), **progress}
        record["updated"] = now_iso()
        write_run(paths, record)
        return record


def is_reserved(paths: RunPaths) -> bool:
    """A run a job queue created ahead of its training job: status `queued`, nothing trained yet.
    Training may take such a run over instead of refusing it as existing."""
    try:
        record = read_run(paths)
    except RunFormatError:
        return False
    return record.get("status") == "queued" and not checkpoint_epochs(paths)


def scan_runs(data_dir: str | os.PathLike) -> tuple[list[dict], list[tuple[str, str]]]:
    """Every usable run, newest first, and (folder, why) for each folder in runs/ whose run.json cannot be
    used (unreadable, or a folder name that is no valid run id), so a damaged run is reported, not just
    missing. A run's id is its folder's name, even in a copied folder whose run.json names the original."""
    records, problems = [], []
    for run_json in sorted(runs_root(data_dir).glob("*/run.json")):
        folder = run_json.parent.name
        try:
            records.append({**read_run(run_paths(data_dir, folder)), "id": folder})
        except RunFormatError as exc:
            if run_json.exists():  # not a run deleted while the folder was listed
                problems.append((folder, str(exc).replace(str(run_json), "run.json")))
    return sorted(records, key=lambda r: r.get("created", ""), reverse=True), problems


def list_runs(data_dir: str | os.PathLike) -> list[dict]:
    """Every usable run, newest first; unusable folders are skipped, not fatal."""
    return scan_runs(data_dir)[0]


# --- job lock ------------------------------------------------------------------------------------


@contextmanager
def job_lock(paths: RunPaths, job: str = "training") -> Iterator[None]:
    """Hold the run's lock for one kind of job ("training" or "analysis"); a second such job is refused.

    Training and analysis have separate locks so a run can be analysed while it trains. flock is
    released by the kernel when the holder dies, so a killed job never leaves a stale lock.
    """
    lock = paths.job_lock(job)
    with _lock_file(lock) as fd:
        if not _lock_exclusive(fd, PROBE_GRACE_SECONDS):
            holder = lock.read_text().strip() or "?"
            raise RunBusyError(f"run {paths.run_id!r} is busy: another {job} job (pid {holder}) is working on it")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield


def _lock_exclusive(fd: int, grace: float) -> bool:
    """Take an exclusive flock, retrying for `grace` seconds: is_locked() holds a shared lock for an
    instant to look, and a job starting at that instant must not take the look for another job."""
    deadline = time.monotonic() + grace
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)


def is_locked(lock: Path) -> bool:
    """True while some process holds an exclusive flock on the file."""
    if not lock.exists():
        return False
    try:
        with _flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB):
            return False
    except BlockingIOError:
        return True


def job_is_active(paths: RunPaths, job: str = "training") -> bool:
    """True while some process holds the job lock (a 'running' status without it means the job died)."""
    return is_locked(paths.job_lock(job))


# --- metrics.csv ---------------------------------------------------------------------------------


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


def write_metrics(paths: RunPaths, rows: list[dict]) -> None:
    write_csv(paths.metrics_csv, METRICS_COLUMNS, sorted(rows, key=lambda r: r["epoch"]))


def read_metrics(paths: RunPaths) -> list[dict]:
    """Rows as dicts: epoch an int, other cells floats or None where empty."""
    return [
        {key: (int(value) if key == "epoch" else float(value) if value != "" else None) for key, value in row.items()}
        for row in read_csv(paths.metrics_csv)
    ]


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create the data directory if needed and prove we can write there, before any job starts."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFormatError(f"data directory {path} is a file, not a folder; choose another --data-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        raise RunFormatError(f"data directory {path} is not writable ({exc.strerror}); choose another --data-dir") from None
    return path


# --- analysis/histograms.npz ---------------------------------------------------------------------


def histogram_key(part: str, layer: str, kind: str) -> str:
    """npz key of a tensor's `edges` (bins + 1) or `density` (epochs x bins) array."""
    return f"{part}:{kind}:{layer}"


def write_histograms(paths: RunPaths, epochs: list[int], edges: dict[tuple[str, str], np.ndarray],
                     densities: dict[tuple[str, str], np.ndarray]) -> None:
    arrays = {"epochs": np.asarray(epochs, dtype=np.int64)}
    for (layer, kind), tensor_edges in edges.items():
        arrays[histogram_key("edges", layer, kind)] = tensor_edges
        arrays[histogram_key("density", layer, kind)] = densities[(layer, kind)]
    atomic_write(paths.histograms, lambda handle: np.savez(handle, **arrays))


def read_tensor_histogram(paths: RunPaths, layer: str, kind: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(epochs, edges, densities) of one tensor, read without loading the others."""
    with np.load(paths.histograms) as data:
        return (data["epochs"].tolist(), data[histogram_key("edges", layer, kind)],
                data[histogram_key("density", layer, kind)])


def histogram_bins(paths: RunPaths) -> int | None:
    """The bins of the saved histograms (None before any were counted), read from one tensor's edges."""
    if not paths.histograms.exists():
        return None
    with np.load(paths.histograms) as data:
        first = next((key for key in data.files if key.startswith("edges:")), None)  # see histogram_key
        return len(data[first]) - 1 if first else None


def read_histograms(paths: RunPaths) -> tuple[list[int], dict, dict]:
    """(epochs, edges, densities) keyed by (layer, kind); empty when nothing was written yet."""
    if not paths.histograms.exists():
        return [], {}, {}
    edges, densities = {}, {}
    with np.load(paths.histograms) as data:
        epochs = data["epochs"].tolist()
        for key in data.files:
            part, _, rest = key.partition(":")
            kind, _, layer = rest.partition(":")
            if part == "edges":
                edges[(layer, kind)] = data[key]
            elif part == "density":
                densities[(layer, kind)] = data[key]
    return epochs, edges, densities
