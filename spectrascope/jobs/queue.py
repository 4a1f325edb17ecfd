"""The job queue: at most settings.max_jobs() jobs hold a slot at once, the rest wait first come first
served. A slot is a lock file; a place in line is a time-stamped ticket its waiter keeps locked, so the
ticket of a waiter that died is recognised and cleared. All state is in files under DATA_DIR/jobs, shared
by every process that starts jobs."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from spectrascope import settings
from spectrascope.jobs.commands import QUEUED_TEXT
from spectrascope.runs import is_locked, jobs_root
from spectrascope.runs.locks import held, try_lock

POLL_SECONDS = 0.5


def _take_free_slot(slots: Path) -> int | None:
    """An open descriptor holding one of max_jobs() slot locks, or None when all are taken."""
    for slot in range(settings.max_jobs()):
        fd = try_lock(slots / f"slot-{slot}.lock")
        if fd is not None:
            return fd
    return None


def _first_in_line(ticket: Path) -> bool:
    """No live waiter queued before this ticket (a dead waiter's ticket is cleared away)."""
    for earlier in sorted(ticket.parent.glob("[0-9]*.wait")):  # not a draft (".…wait") still being locked
        if earlier.name >= ticket.name:
            return True
        if is_locked(earlier):
            return False
        earlier.unlink(missing_ok=True)
    return True


def waiting_runs() -> list[str]:
    """The runs whose jobs wait for a slot, first in line first (live waiters only)."""
    tickets = sorted(jobs_root(settings.data_dir()).glob("[0-9]*.wait"))
    return [ticket.stem.partition("-")[2] for ticket in tickets if is_locked(ticket)]


@contextmanager
def _place_in_line(slots: Path, run_id: str) -> Iterator[Path]:
    """A locked ticket; in line only once locked (renamed from a draft), so nobody takes it for a dead
    waiter's."""
    ticket = slots / f"{time.time_ns():020d}-{run_id}.wait"
    draft = ticket.with_name(f".{ticket.name}")
    with held(draft):
        os.rename(draft, ticket)
        try:
            yield ticket
        finally:
            ticket.unlink(missing_ok=True)


@contextmanager
def job_slot(run_id: str, cancelled: Callable[[], bool], report: Callable[[float, str], None]) -> Iterator[bool]:
    """Wait in line for a free slot and hold it while inside; yields False if the job was cancelled while
    it waited."""
    slots = jobs_root(settings.data_dir())
    slots.mkdir(parents=True, exist_ok=True)
    with _place_in_line(slots, run_id) as ticket:
        while True:
            slot = _take_free_slot(slots) if _first_in_line(ticket) else None
            if slot is not None or cancelled():
                break
            report(0.0, QUEUED_TEXT)
            time.sleep(POLL_SECONDS)
    if slot is None:
        yield False
        return
    try:
        yield True
    finally:
        os.close(slot)
