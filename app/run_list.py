"""The run picker for a list of many runs: each run's key settings and results in its label (what TensorBoard's
run selector leaves to the run's name), a filter by status and an order, and typing in the picker searches
names, statuses and settings alike."""
from __future__ import annotations

import math
from dataclasses import dataclass

from dash import html

from app import data
from spectrascope.health.events import health_line, latest_epoch
from spectrascope.runs import RunRecord
from spectrascope.wording import counted

SORTS = {"newest": "newest first", "name": "name", "accuracy": "best final accuracy", "alpha": "lowest mean alpha"}
STATUSES = ("running", "queued", "completed", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class RunSummary:
    record: RunRecord
    settings: str  # "demo · lr 0.1 · 40 epochs · mixup 0.2", or how an imported run came in
    accuracy: float | None  # test accuracy at the last epoch that has one
    mean_alpha: float | None  # over the fitted layers at the last analysed epoch
    health: str | None = None  # what holds at the last analysed epoch: "3 layers over-trained since epoch 12"

    @property
    def title(self) -> str:
        """"id — status · epochs done/total": what the picker always showed, and what tests and eyes look for."""
        progress = self.record.progress
        epochs = f" · {progress.epoch or 0}/{progress.total_epochs}" if progress.total_epochs else ""
        return f"{self.record.id} — {self.record.status}{epochs}"

    @property
    def results(self) -> str:
        parts = ([f"acc {self.accuracy:.1%}"] if self.accuracy is not None else []) + \
            ([f"mean α {self.mean_alpha:.2f}"] if self.mean_alpha is not None else [])
        return " · ".join(parts)


def _settings(record: RunRecord) -> str:
    config = record.config
    if record.kind == "imported":
        return f"imported ({config.get('layout', 'files')}) · numbered by {record.unit}"
    parts = [record.preset or "own loop"]
    for key, say in (("lr", "lr {:g}".format), ("epochs", lambda n: counted(n, "epoch")),
                     ("mixup_alpha", "mixup {:g}".format)):
        if isinstance(config.get(key), (int, float)):
            parts.append(say(config[key]))
    return " · ".join(parts)


def _last(values) -> float | None:
    values = [float(value) for value in values if not math.isnan(float(value))]
    return values[-1] if values else None


def summarise(record: RunRecord) -> RunSummary:
    """The run's line in the picker, from its record and (memoised) tables; a run whose tables cannot be read
    is listed without results (its tabs say what is wrong), never taking the picker down with it."""
    try:
        metrics, layers = data.metrics(record.id), data.layers(record.id)
    except data.RunDataError:
        return RunSummary(record, _settings(record), None, None)
    accuracy = _last(metrics["test_acc"]) if "test_acc" in metrics else None
    mean_alpha = health = None
    if not layers.empty:
        last = layers[layers["epoch"] == layers["epoch"].max()]
        mean_alpha = _last([last.loc[last["alpha"] > 0, "alpha"].mean()])
        events = data.events(record.id)
        health = health_line(events, latest_epoch(layers, events), record.unit)
    return RunSummary(record, _settings(record), accuracy, mean_alpha, health)


def _order(summaries: list[RunSummary], sort: str | None) -> list[RunSummary]:
    """Newest first (as listed) unless asked; runs without the number sought go last."""
    if sort == "name":
        return sorted(summaries, key=lambda s: s.record.id.lower())
    if sort == "accuracy":
        return sorted(summaries, key=lambda s: (s.accuracy is None, -(s.accuracy or 0)))
    if sort == "alpha":
        return sorted(summaries, key=lambda s: (s.mean_alpha is None, s.mean_alpha or 0))
    return summaries


def options(summaries: list[RunSummary], statuses: list[str] | None, sort: str | None,
            current: str | None) -> list[dict]:
    """The picker's options: the runs of the chosen statuses (the one on screen always), in the chosen order."""
    shown = [s for s in summaries if not statuses or s.record.status in statuses or s.record.id == current]
    return [{"label": html.Div([html.Div([html.Span(s.title),
                                          html.Small(" · ".join(filter(None, [s.settings, s.results])),
                                                     className="text-muted ms-2")], className="text-truncate"),
                                _health_note(s.health)], style={"lineHeight": "1.2"}),
             "value": s.record.id, "search": f"{s.title} {s.settings} {s.health or ''}"} for s in _order(shown, sort)]


def _health_note(health: str | None) -> html.Small | None:
    """The run's health at its latest analysed epoch, under its name: green when healthy, amber when not."""
    if health is None:
        return None
    healthy = health.startswith("healthy")
    icon = "bi bi-heart-pulse me-1" if healthy else "bi bi-exclamation-triangle me-1"
    return html.Small([html.I(className=icon), health], className="d-block text-truncate " +
                      ("text-success" if healthy else "text-warning-emphasis"))
