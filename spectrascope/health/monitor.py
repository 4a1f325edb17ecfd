"""Keep a run's events.csv up to date as its analysis lands, and hand what is new to the alerts and to the
caller (a RunRecorder callback)."""
from __future__ import annotations

from spectrascope.health.events import Event, derive_events
from spectrascope.health.rules import Rules, load_rules
from spectrascope.runs import RunPaths, event_ids, events_frame, layers_frame, weight_stats_frame, write_events


def run_events(paths: RunPaths, rules: Rules | None = None, upto: int | None = None) -> list[Event]:
    """The run's events as its tables give them now, under `rules` (default: load_rules())."""
    return derive_events(layers_frame(paths), rules or load_rules(), weight_stats_frame(paths), upto=upto)


def update_events(paths: RunPaths, rules: Rules | None = None, upto: int | None = None) -> list[Event]:
    """Rewrite analysis/events.csv from the tables (epochs up to `upto` while earlier ones are still being
    analysed) and return the events it did not hold before. Called under the run's analysis lock."""
    if not paths.layers_csv.exists():
        return []
    known = event_ids(paths)
    events = run_events(paths, rules, upto)
    write_events(paths, [event.row() for event in events])
    return [event for event in events if event.event_id not in known]


def recorded_events(paths: RunPaths) -> list[Event]:
    """The events analysis/events.csv holds, as written; a run analysed before events existed has none until
    its next `spectrascope analyze` (which writes them even when the run is up to date)."""
    table = events_frame(paths)
    if table.empty:
        return []
    table = table.assign(detail=table["detail"].fillna(""))
    return [Event(**{**row, "epoch": int(row["epoch"])}) for row in table.to_dict("records")]
