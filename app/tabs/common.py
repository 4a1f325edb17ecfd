"""What every tab needs to say when a run has nothing (yet) to show, or files it cannot read."""
from __future__ import annotations

import functools

import figures
from app import data
from spectrascope.runs import ACTIVE_STATUSES


def unreadable_files_shown(fallback):
    """Decorate a callback so that a run file it cannot read shows `fallback(message)` in its outputs
    (the message names the file and what to do) instead of failing the request."""
    def decorate(callback):
        @functools.wraps(callback)
        def guarded(*args):
            try:
                return callback(*args)
            except data.RunDataError as exc:
                return fallback(str(exc))
        return guarded
    return decorate


def sent(figure: figures.Figure, run_id: str | None = None) -> figures.Figure:
    """A figure as a callback sends it: float arrays packed (figures.packed); with `run_id`, zoom and pan kept
    across live updates of that run."""
    figure = figures.packed(figure)
    if run_id is not None:
        figure["layout"] = {**figure["layout"], "uirevision": run_id}
    return figure


def headed_by_unit(columns: list[dict], run_id: str | None) -> list[dict]:
    """A table's columns with the epoch column headed by the run's unit: "step" in a run numbered by step."""
    unit = data.unit(run_id) if run_id else "epoch"
    return [{**column, "name": unit} if column["id"] == "epoch" else column for column in columns]


def analysis_missing(run_id: str | None) -> str:
    """Why a run has no analysis to show, and what to do about it."""
    if not run_id:
        return "No run selected. Start one with “New run”, or point SPECTRASCOPE_DATA_DIR at your runs."
    record = data.run(run_id)
    if record is None:
        return f"Run {run_id} cannot be read (run.json is missing or broken)."
    analysis = record.analysis_state
    status = analysis.status
    if status in ACTIVE_STATUSES:
        return f"Run {run_id} is being analysed: the first epochs appear here in a moment."
    if status == "failed":
        detail = next(iter(analysis.errors.values()), analysis.error or "see job.log in the run folder")
        return f"The analysis of run {run_id} failed: {detail}"
    if record.status == "queued":
        return f"Run {run_id} is queued: its epochs are analysed as they land once it trains."
    if record.status == "running":
        return f"Run {run_id} is training; its epochs are analysed as they land."
    return f"Run {run_id} has not been analysed yet: press “Analyse”."


def non_finite_note(epoch: int) -> str:
    return (f"Values are NaN/Inf from epoch {epoch}: training diverged there (a learning rate too high is the "
            "usual cause), so later epochs have nothing to draw.")
