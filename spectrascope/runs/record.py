"""run.json: the typed run record, and the one way to change it (update_run: read, merge and write under
the run's lock, so two processes updating different fields never lose each other's update)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from spectrascope.runs.files import atomic_write_text, now_iso
from spectrascope.runs.locks import held
from spectrascope.runs.paths import RunFormatError, RunPaths, checkpoint_epochs, run_paths, runs_root

FORMAT_VERSION = 1
RUN_KINDS = ("trained", "imported")
RUN_UNITS = ("epoch", "step")
RUN_STATUSES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")  # a job is (or should be) at work


def _known_and_extra(cls, data: dict) -> tuple[dict, dict]:
    names = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


class _Record:
    """Keys another tool or a newer release wrote are kept in `extra` and written back unchanged."""

    extra: dict

    @classmethod
    def from_dict(cls, data: dict):
        known, extra = _known_and_extra(cls, _as_dict(data))
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **{k: v.to_dict() if isinstance(v, _Record) else v for k, v in data.items()}}

    def merged(self, changes: dict):
        """A copy with `changes` applied; an unknown field is an error, not a silent new key."""
        known, unknown = _known_and_extra(type(self), changes)
        if unknown:
            raise RunFormatError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        return replace(self, **known)


@dataclass(frozen=True)
class Progress(_Record):
    """How far training got: the last recorded epoch of total_epochs, and its phase."""

    epoch: int | None = None
    total_epochs: int | None = None
    phase: str | None = "queued"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisState(_Record):
    """The run's latest analysis: status as for runs, phase ("spectra" | "histograms"), counts, errors by epoch;
    while spectra are computed, the layers done and in all of the checkpoints under way."""

    status: str | None = None
    phase: str | None = None
    backend: str | None = None
    epochs_done: int | None = None
    epochs_total: int | None = None
    layers_done: int | None = None
    layers_total: int | None = None
    layer: str | None = None  # the layer under way
    seconds_left: float | None = None  # the whole analysis's, estimated by matrix size
    errors: dict = field(default_factory=dict)
    error: str | None = None
    updated: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExportState(_Record):
    """The run's latest export made for the dashboard (`spectrascope export --to-run`, `report --to-run`): its
    file in the run's exports/ folder, status as for runs, frames drawn of frames_total."""

    status: str | None = None
    command: str | None = None  # "export" | "report"
    file: str | None = None
    frames_done: int | None = None
    frames_total: int | None = None
    error: str | None = None
    updated: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord(_Record):
    id: str
    kind: str = "trained"
    preset: str | None = None
    config: dict = field(default_factory=dict)
    status: str = "queued"
    progress: Progress = field(default_factory=Progress)
    error: str | None = None
    created: str = ""
    updated: str = ""
    provenance: dict = field(default_factory=dict)
    analysis: AnalysisState | None = None
    export: ExportState | None = None
    non_finite_from: int | None = None  # the epoch whose loss or weights went NaN/Inf (training stopped there)
    unit: str = "epoch"  # what checkpoint numbers count: "step" for imported Lightning and Hugging Face runs
    alerts_muted: bool = False  # no alert is sent for this run's health events (spectrascope.health.alerts)
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        record = super().from_dict(data)
        analysis, export = data.get("analysis"), data.get("export")
        return replace(record, progress=Progress.from_dict(data.get("progress")),
                       analysis=AnalysisState.from_dict(analysis) if isinstance(analysis, dict) else None,
                       export=ExportState.from_dict(export) if isinstance(export, dict) else None)

    def to_dict(self) -> dict:
        data = super().to_dict()
        for optional in ("analysis", "export", "non_finite_from"):  # left out while empty, as 0.1.0 wrote runs
            if data[optional] is None:
                del data[optional]
        if data["unit"] == "epoch":  # the default: runs by epoch read as they always did
            del data["unit"]
        if not data["alerts_muted"]:
            del data["alerts_muted"]
        return data

    @property
    def analysis_state(self) -> AnalysisState:
        """The analysis sub-record, empty (status None) before any analysis."""
        return self.analysis or AnalysisState()

    @property
    def export_state(self) -> ExportState:
        """The export sub-record, empty (status None) before the dashboard's first export."""
        return self.export or ExportState()


def new_run_record(run_id: str, *, kind: str, preset: str | None, config: dict, total_epochs: int | None,
                   provenance: dict, unit: str = "epoch") -> RunRecord:
    if kind not in RUN_KINDS:
        raise RunFormatError(f"unknown run kind {kind!r}; expected one of {', '.join(RUN_KINDS)}")
    stamp = now_iso()
    if unit not in RUN_UNITS:
        raise RunFormatError(f"unknown unit {unit!r}; expected one of {', '.join(RUN_UNITS)}")
    return RunRecord(id=run_id, kind=kind, preset=preset, config=config, status="queued",
                     progress=Progress(total_epochs=total_epochs), created=stamp, updated=stamp,
                     provenance=provenance, unit=unit)


def _read_json(paths: RunPaths) -> dict:
    try:
        data = json.loads(paths.run_json.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise RunFormatError(f"no run {paths.run_id!r} at {paths.root} (run.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFormatError(f"{paths.run_json} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RunFormatError(f"{paths.run_json} is not a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        advice = "; upgrade spectrascope to read it" if newer else ""
        raise RunFormatError(f"{paths.run_json} has format_version {version!r}, and this spectrascope reads "
                             f"format_version {FORMAT_VERSION}{advice}")
    return data


def read_run(paths: RunPaths) -> RunRecord:
    """The run's record; a clear RunFormatError for a missing, unreadable or newer-format run.json."""
    return RunRecord.from_dict({**_read_json(paths), "id": paths.run_id})  # a run is its folder, copied or not


def _write(paths: RunPaths, record: RunRecord) -> None:
    atomic_write_text(paths.run_json, json.dumps(record.to_dict(), indent=2, sort_keys=True) + "\n")


def write_run(paths: RunPaths, record: RunRecord) -> None:
    """Write a whole new record (creating a run); later changes go through update_run."""
    with held(paths.run_json_lock):
        _write(paths, record)


def update_run(paths: RunPaths, *, progress: dict | None = None, analysis: dict | None = None,
               export: dict | None = None, **changes: Any) -> RunRecord:
    """Read, merge and write run.json under the run's lock. `progress`, `analysis` and `export` are merged
    into their sub-records field by field; other keywords replace top-level fields. Returns the new record."""
    if "status" in changes and changes["status"] not in RUN_STATUSES:
        raise RunFormatError(f"unknown status {changes['status']!r}")
    stamp = now_iso()
    if not paths.root.is_dir():  # deleted: say so, and do not bring its folder back
        raise RunFormatError(f"no run {paths.run_id!r} at {paths.root}")
    with held(paths.run_json_lock):
        record = read_run(paths).merged({**changes, "updated": stamp})
        if progress:
            record = replace(record, progress=record.progress.merged(progress))
        if analysis:
            record = replace(record, analysis=record.analysis_state.merged({"updated": stamp, **analysis}))
        if export:
            record = replace(record, export=record.export_state.merged({"updated": stamp, **export}))
        _write(paths, record)
        return record


def is_reserved(paths: RunPaths) -> bool:
    """A run a job queue created ahead of its training job: status `queued`, nothing trained yet.
    Training may take such a run over instead of refusing it as existing."""
    try:
        record = read_run(paths)
    except RunFormatError:
        return False
    return record.status == "queued" and not checkpoint_epochs(paths)


def scan_runs(data_dir: str | os.PathLike) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """Every usable run, newest first, and (folder, why) for each folder in runs/ whose run.json cannot be
    used (unreadable, or a folder name that is no valid run id), so a damaged run is reported, not just
    missing. A run's id is its folder's name, even in a copied folder whose run.json names the original."""
    records, problems = [], []
    for run_json in sorted(runs_root(data_dir).glob("*/run.json")):
        folder = run_json.parent.name
        try:
            records.append(replace(read_run(run_paths(data_dir, folder)), id=folder))
        except RunFormatError as exc:
            if run_json.exists():  # not a run deleted while the folder was listed
                problems.append((folder, str(exc).replace(str(run_json), "run.json")))
    return sorted(records, key=lambda r: r.created or "", reverse=True), problems


def list_runs(data_dir: str | os.PathLike) -> list[RunRecord]:
    """Every usable run, newest first; unusable folders are skipped, not fatal."""
    return scan_runs(data_dir)[0]
