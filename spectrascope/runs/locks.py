"""File locks (flock): released by the kernel when their holder dies, so a killed job never leaves a
stale lock. The run's job locks, and the primitives the job queue builds its slots and tickets from."""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from spectrascope.runs.paths import RunFormatError, RunPaths

PROBE_GRACE_SECONDS = 0.2  # how long a job waits out is_locked()'s instant look before calling the run busy


class RunBusyError(RunFormatError):
    """Another process holds the run's job lock."""


@contextmanager
def open_lock_file(path: Path) -> Iterator[int]:
    """The lock file, created if needed, in a folder that must exist: a late lock on a deleted run must
    not bring its folder back."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def held(path: Path, shared: bool = False) -> Iterator[int]:
    """Hold the lock on `path` (waiting for it) while inside."""
    with open_lock_file(path) as fd:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd


def try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on `path` (close it to let go), or None if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


def is_locked(lock: Path) -> bool:
    """True while some process holds an exclusive flock on the file."""
    try:
        fd = os.open(lock, os.O_RDONLY)  # never creates it (nor its folder)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


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


@contextmanager
def job_lock(paths: RunPaths, job: str = "training") -> Iterator[None]:
    """Hold the run's lock for one kind of job ("training", "analysis", or "job" for the dashboard's job
    runner); a second such job is refused. Training and analysis have separate locks so a run can be
    analysed while it trains."""
    lock = paths.job_lock(job)
    with open_lock_file(lock) as fd:
        if not _lock_exclusive(fd, PROBE_GRACE_SECONDS):
            holder = lock.read_text().strip() or "?"
            what = "dashboard job" if job == "job" else f"{job} job"
            raise RunBusyError(f"run {paths.run_id!r} is busy: another {what} (pid {holder}) is working on it")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield


def job_is_active(paths: RunPaths, job: str = "training") -> bool:
    """True while some process holds the job lock (a 'running' status without it means the job died)."""
    return is_locked(paths.job_lock(job))
