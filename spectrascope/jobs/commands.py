"""The kinds of job, one entry each: which `spectrascope` command runs it, which run lock that command
holds while it works, where its status and progress live in the run record, and how its end is written.
The queue and the supervisor know nothing else about a job's command."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from spectrascope.runs import RunPaths, RunRecord, update_run


@dataclass(frozen=True)
class JobKind:
    command: str  # `spectrascope <command> --data-dir D <args>`
    lock: str  # the run's job lock the command holds while it works
    status: Callable[[RunRecord], str | None]
    counts: Callable[[RunRecord], tuple[int, int]]  # (done, total)
    describe: Callable[[int, int], str]  # the progress line, from (done, total)
    record_end: Callable[[RunPaths, str, str | None], None]  # status and error of a job that ended unrecorded
    follow_up: str | None = None  # the kind of job started on each checkpoint as it lands
    done_on_exit_0: bool = False  # may a clean exit that recorded no end be taken as completed?
    resume_args: tuple[str, ...] = ()  # added to go on where a lost job stopped


def _record_training_end(paths: RunPaths, status: str, error: str | None) -> None:
    update_run(paths, status=status, error=error, progress={"phase": status})


def _record_analysis_end(paths: RunPaths, status: str, error: str | None) -> None:
    update_run(paths, analysis={"status": status, "error": error})


def _record_export_end(paths: RunPaths, status: str, error: str | None) -> None:
    update_run(paths, export={"status": status, "error": error})


def _export(command: str, describe: str, drawn: str) -> JobKind:
    """An export or a report for the page to offer: both record themselves in run.json's `export`."""
    def status(record: RunRecord) -> str | None:
        return record.export_state.status if record.export_state.command == command else None

    return JobKind(command=command, lock="export", status=status,
                   counts=lambda record: (record.export_state.frames_done or 0, record.export_state.frames_total or 0),
                   describe=lambda done, total: f"{describe}: " + (f"{done} of {total} {drawn} drawn" if total
                                                                   else "reading the run"),
                   record_end=_record_export_end)


KINDS = {
    "train": JobKind(
        command="train", lock="training", status=lambda record: record.status,
        counts=lambda record: (record.progress.epoch or 0, record.progress.total_epochs or 0),
        describe=lambda done, total: f"training: epoch {done} of {total}",
        record_end=_record_training_end, follow_up="analyze", resume_args=("--resume",)),
    "analyze": JobKind(
        command="analyze", lock="analysis", status=lambda record: record.analysis_state.status,
        counts=lambda record: (record.analysis_state.epochs_done or 0, record.analysis_state.epochs_total or 0),
        describe=lambda done, total: f"analysing: {done} of {total} checkpoints",
        record_end=_record_analysis_end, done_on_exit_0=True),  # an up-to-date analysis has nothing to write
    "export": _export("export", "exporting", "frames"),
    "report": _export("report", "writing the report", "layers"),
}
QUEUED_TEXT = "queued: waiting for a free job slot"


def progress(record: RunRecord, kind: JobKind) -> tuple[float, str]:
    """(fraction done, one-line description) of one kind of job on a run, from its record."""
    if kind.status(record) == "queued":
        return 0.0, QUEUED_TEXT
    done, total = kind.counts(record)
    return (done / total if total else 0.0), kind.describe(done, total)
