"""alerts.json: the alerts a run owes its alert endpoints and those already delivered, one entry per (event,
endpoint), so that each event is delivered once whoever analyses the run, however often, and after a crash.

An entry is {"event_id", "url", "payload", "delivered" (ISO time or null), "attempts", "next_try" (Unix
time), "last_error"}. The file is changed only while its lock is held (`changed_outbox`), which the sender
also holds while it sends one alert: two processes never send the same one at once."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

from spectrascope.runs.files import DAMAGED_FILE_ERRORS, atomic_write_text
from spectrascope.runs.locks import held
from spectrascope.runs.paths import RunPaths


def entry_key(event_id: str, url: str) -> str:
    return f"{event_id} {url}"


def read_outbox(paths: RunPaths) -> dict[str, dict]:
    """entry key -> entry; empty when there is no outbox (or a damaged one: it is rebuilt from events.csv,
    though alerts it held as delivered may then be sent again)."""
    try:
        data = json.loads(paths.alert_outbox.read_text())
    except FileNotFoundError:
        return {}
    except (*DAMAGED_FILE_ERRORS, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data.get("entries", {}) if isinstance(data, dict) else {}


@contextmanager
def changed_outbox(paths: RunPaths) -> Iterator[dict[str, dict]]:
    """The outbox's entries under its lock, written back (atomically) as the caller left them."""
    with held(paths.alert_outbox_lock):
        entries = read_outbox(paths)
        yield entries
        atomic_write_text(paths.alert_outbox, json.dumps({"entries": entries}, indent=1, sort_keys=True) + "\n")
