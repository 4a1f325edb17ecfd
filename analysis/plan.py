"""What an analysis of a run has to do, decided from the run's small files alone: `spectrascope analyze` on
an up-to-date run answers in a fraction of a second; analysis.runner, with its numerical libraries, is
imported only when there is work.

An epoch is redone only when its checkpoint changed (size or mtime), the backend changed, it failed last
time, or its randomized ESD is now wanted. The plan is made, and carried out, under the run's analysis lock.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from analysis.options import BACKENDS, RANDOMIZE_EVERY, AnalysisError
from analysis.progress import NONE_UNDER_WAY, LayerTotals
from spectrascope import settings
from spectrascope.health import alerts
from spectrascope.health.monitor import update_events
from spectrascope.health.rules import Rules, load_rules
from spectrascope.runs import (
    ACTIVE_STATUSES, RunPaths, checkpoint_epochs, checkpoint_signature, histogram_bins, job_lock, read_manifest, read_run,
    run_paths, set_aside_damaged_results, update_run,
)


@dataclass
class AnalysisReport:
    analysed: list[int] = field(default_factory=list)
    up_to_date: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)


@dataclass
class Plan:
    """What the analysis of `paths` has to do; its results go to `report`."""

    paths: RunPaths
    backend: str
    randomized: frozenset[int]  # the epochs whose randomized ESD is wanted (randomized_epochs)
    bins: int
    manifest: dict[int, dict]  # what each epoch's saved analysis was computed from; updated as work is done
    wanted: list[int]  # the epochs to bring up to date
    todo: list[int]  # those whose spectra are analysed
    uncounted: set[int]  # those up to date whose histograms are still to be counted
    rebin: bool  # the saved histograms have other bins: every epoch is counted again
    report: AnalysisReport
    rules: Rules  # the health rules events are derived by (spectrascope.health)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.todo or self.uncounted or self.rebin)


def record_analysis(plan: Plan, status: str, done: int, total: int, phase: str | None = None,
                    error: str | None = None, layers: LayerTotals = NONE_UNDER_WAY) -> None:
    """The analysis's state in run.json; the errors are this analysis's, never the previous one's."""
    update_run(plan.paths, analysis={
        "status": status, "phase": phase, "backend": plan.backend, "epochs_done": done, "epochs_total": total,
        "error": error, "errors": {str(e): m for e, m in sorted(plan.report.errors.items())}, **_layers(layers)})


def record_layers(plan: Plan, layers: LayerTotals) -> None:
    """How far the checkpoints under way are, in layers, in run.json (analysis.progress.LayerProgress)."""
    update_run(plan.paths, analysis=_layers(layers))


def _layers(layers: LayerTotals) -> dict:
    left = None if layers.seconds_left is None else round(layers.seconds_left, 1)
    return {"layers_done": layers.done, "layers_total": layers.total, "layer": layers.current, "seconds_left": left}


def watch_health(plan: Plan, upto: int | None = None, patience: float = 0.0) -> None:
    """events.csv brought up to date (up to epoch `upto` while later ones are under way), its new events
    queued as alerts, and the alerts due sent; with `patience`, refused ones are retried that many seconds,
    and what is still owed is said."""
    alerts.queue_alerts(plan.paths, update_events(plan.paths, plan.rules, upto), plan.rules)
    if not patience:
        alerts.deliver_due(plan.paths)
        return
    owed = alerts.flush(plan.paths, patience).pending
    if owed:
        print(f"{owed} alert(s) not delivered yet ({alerts.last_error(plan.paths)}): the next analysis of run "
              f"{plan.paths.run_id} tries again", file=sys.stderr)


def randomized_epochs(available: list[int], every: int, finished: bool) -> frozenset[int]:
    """The default randomization policy: every `every`-th checkpoint from the first, and the last once the run
    has stopped growing (while it trains, each new checkpoint would be "the last" in turn, at twice the cost).
    Trap events hold between the epochs randomized; `--randomize` (every = 1) gives every epoch."""
    if every <= 0 or not available:
        return frozenset()
    return frozenset(available[::every]) | ({available[-1]} if finished else set())


def _up_to_date(entry: dict, signature: dict, randomize: bool) -> bool:
    """Same checkpoint and backend, no error last time, and randomized metrics if they are asked for."""
    return (entry.get("error") is None and entry.get("checkpoint") == signature
            and entry.get("randomize", False) >= randomize)


def _histograms_pending(entry: dict) -> bool:
    """Spectra saved but histograms not yet counted: an analysis stopped in between."""
    return entry.get("histograms") is False


def _saved_state(paths: RunPaths, wanted: list[int], available: list[int]) -> tuple[dict[int, dict], list[int]]:
    """The manifest to go by, and the epochs to bring up to date: after a results file was damaged, every
    epoch, since what was lost is rebuilt for all of them."""
    damaged = set_aside_damaged_results(paths)
    for path in damaged:
        print(f"{path} cannot be read: set aside as {path.name}.damaged and rebuilt from the checkpoints",
              file=sys.stderr)
    manifest = read_manifest(paths)
    if manifest is None:
        print(f"{paths.analysis_manifest} cannot be read; every epoch is analysed again", file=sys.stderr)
    if manifest is None or set(damaged) - {paths.histograms}:  # every epoch's rows are made again
        return {}, available
    if damaged:  # only the histograms: the spectra stand, every epoch is counted again
        return {epoch: {**entry, "histograms": False} for epoch, entry in manifest.items()}, available
    return manifest, wanted


def _listed(numbers: list[int], unit: str) -> str:
    """A run's checkpoint numbers as a person reads them: a short list whole, else its count and ends (steps
    10, 20, 30 are not "10..30")."""
    if len(numbers) <= 8:
        return ", ".join(map(str, numbers)) or "none"
    return f"{len(numbers)} {unit}s from {numbers[0]} to {numbers[-1]}"


def _epochs_available(paths: RunPaths, epochs: list[int] | None) -> list[int]:
    """The run's checkpoints, after making sure it has them, and every epoch asked for."""
    available = checkpoint_epochs(paths)
    missing = sorted(set(epochs or []) - set(available))
    if missing:
        unit = read_run(paths).unit
        raise AnalysisError(f"run {paths.run_id!r} has no checkpoint for {unit}(s) {', '.join(map(str, missing))}; "
                            f"it has {_listed(available, unit)}")
    if not available:
        raise AnalysisError(f"run {paths.run_id!r} has no checkpoints yet in {paths.checkpoints}: train it first "
                            "(or import checkpoints)")
    return available


def _arrays_saved(paths: RunPaths, epoch: int, randomize: bool) -> bool:
    """The epoch's eigenvalues are on disk, and its shuffled ones when randomize asks for them (a run
    randomized before they were kept, or whose file was deleted, gets them back)."""
    return paths.esd(epoch).exists() and (not randomize or paths.randomized_esd(epoch).exists())


def _plan(paths: RunPaths, backend: str, epochs: list[int] | None, randomize_every: int, bins: int) -> Plan:
    available = _epochs_available(paths, epochs)
    manifest, wanted = _saved_state(paths, epochs or available, available)
    randomized = randomized_epochs(available, randomize_every, read_run(paths).status not in ACTIVE_STATUSES)
    plan = Plan(paths, backend, randomized, bins, manifest, wanted, todo=[], uncounted=set(),
                rebin=histogram_bins(paths) not in (None, bins), report=AnalysisReport(), rules=load_rules())
    for epoch in wanted:
        entry, randomize = manifest.get(epoch, {}), epoch in randomized
        if (_up_to_date(entry, checkpoint_signature(paths, epoch, backend), randomize)
                and _arrays_saved(paths, epoch, randomize)):
            plan.report.up_to_date.append(epoch)
            if _histograms_pending(entry):
                plan.uncounted.add(epoch)
        else:
            plan.todo.append(epoch)
    return plan


@contextmanager
def planned_analysis(data_dir, run_id: str, *, backend: str, epochs: list[int] | None, randomize: bool,
                     bins: int, randomize_every: int = RANDOMIZE_EVERY) -> Iterator[Plan]:
    """Hold the run's analysis lock and say what the analysis of `epochs` (default: every checkpoint) has
    to do; `randomize` asks for the randomized ESD of every epoch, else randomized_epochs() says which. With nothing to do it is recorded as completed, or a job that queued it would look unfinished, and
    the run's events and alerts are brought up to date (a run analysed before events existed gets them)."""
    if backend not in BACKENDS:
        raise AnalysisError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    paths = run_paths(data_dir, run_id)
    read_run(paths)  # a clear error for an unknown run
    settings.alert_urls()  # and for a bad SPECTRASCOPE_ALERT_URL, before any work
    with job_lock(paths, "analysis"):
        plan = _plan(paths, backend, epochs, 1 if randomize else randomize_every, bins)
        if plan.nothing_to_do:
            record_analysis(plan, "completed", 0, 0)
            watch_health(plan, patience=settings.alert_patience_seconds())  # and alerts owed from before
        yield plan
