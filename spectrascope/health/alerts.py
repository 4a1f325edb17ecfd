"""Alerts: each new health event POSTed as JSON to every $SPECTRASCOPE_ALERT_URL, once.

The body carries a Slack/Mattermost-compatible `text` line, the event's fields and a link to the layer's ESD
at that epoch ($SPECTRASCOPE_PUBLIC_URL). Deliveries go through the run's outbox (spectrascope.runs.outbox):
an event is queued once per endpoint, whoever analyses the run and however often; a refused or failed POST
is retried with exponential backoff; a delivered one is never sent again. The sender holds the outbox's lock
while it sends, so two processes never send the same alert; a process killed after the endpoint took a POST
but before it was recorded sends it again, with the same `Idempotency-Key` header (the event id)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from spectrascope import settings
from spectrascope.health.events import Event
from spectrascope.health.rules import Rules, severity_rank
from spectrascope.runs import RunPaths, changed_outbox, entry_key, now_iso, read_outbox, read_run

POST_TIMEOUT_SECONDS = 5.0
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 0.5, 60.0


@dataclass(frozen=True)
class Delivered:
    sent: int
    pending: int


def view_link(run_id: str, layer: str, epoch: int) -> str | None:
    """The page's link to the layer's ESD at that epoch, where people open the dashboard (if it is known)."""
    base = settings.public_url()
    if base is None:
        return None
    query = urllib.parse.urlencode({"run": run_id, "tab": "esd", "layer": layer, "epoch": epoch})
    return f"{base}/?{query}"


def payload(run_id: str, unit: str, event: Event) -> dict:
    link = view_link(run_id, event.layer, event.epoch)
    text = (f"spectrascope · {run_id}: {event.layer} {event.kind} at {unit} {event.epoch} ({event.detail})"
            + (f" {link}" if link else ""))
    return {"text": text, "run_id": run_id, "unit": unit, "link": link, **event.row()}


def _wanted(event: Event, rules: Rules) -> bool:
    least = settings.alert_min_severity() or rules.alert_min_severity
    return severity_rank(event.severity) >= severity_rank(least)


def queue_alerts(paths: RunPaths, events: list[Event], rules: Rules) -> int:
    """Queue the events severe enough, for every endpoint, unless the run is muted; an (event, endpoint) queued
    before is never queued again. Returns how many entries were added."""
    urls = settings.alert_urls()
    if not urls or not events:
        return 0
    record = read_run(paths)
    if record.alerts_muted:
        return 0
    wanted = [event for event in events if _wanted(event, rules)]
    added = 0
    with changed_outbox(paths) as entries:
        for event in wanted:
            for url in urls:
                key = entry_key(event.event_id, url)
                if key not in entries:
                    entries[key] = {"event_id": event.event_id, "url": url,
                                    "payload": payload(record.id, record.unit, event), "delivered": None,
                                    "attempts": 0, "next_try": 0.0, "last_error": None}
                    added += 1
    return added


def _post(url: str, body: dict) -> str | None:
    """None when the endpoint took it (2xx), else why not."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": body["event_id"], "User-Agent": "spectrascope"})
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def _pending(entries: dict) -> list[str]:
    return [key for key, entry in entries.items() if entry["delivered"] is None]


def deliver_due(paths: RunPaths) -> Delivered:
    """Send every queued alert whose retry time has come, once each; refusals are put back with a longer wait."""
    sent = 0
    while True:
        with changed_outbox(paths) as entries:
            due = [key for key in _pending(entries) if entries[key]["next_try"] <= time.time()]
            if not due:
                return Delivered(sent, len(_pending(entries)))
            entry = entries[min(due, key=lambda k: (entries[k]["payload"]["epoch"], entries[k]["next_try"]))]
            why = _post(entry["url"], entry["payload"])
            entry["attempts"] += 1
            if why is None:
                entry.update(delivered=now_iso(), last_error=None)
                sent += 1
            else:
                wait = min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (entry["attempts"] - 1))
                entry.update(next_try=time.time() + wait, last_error=why)


def last_error(paths: RunPaths) -> str | None:
    """Why the most recently refused alert was not delivered."""
    refused = [entry for entry in read_outbox(paths).values() if entry["delivered"] is None and entry["last_error"]]
    return max(refused, key=lambda entry: entry["next_try"])["last_error"] if refused else None


def next_try(paths: RunPaths) -> float | None:
    """When the soonest queued alert may be sent again (Unix time), or None when none waits."""
    entries = read_outbox(paths)
    waiting = [entries[key]["next_try"] for key in _pending(entries)]
    return min(waiting) if waiting else None


def flush(paths: RunPaths, patience: float | None = None) -> Delivered:
    """Deliver what is due, then keep retrying refused alerts for `patience` seconds (default
    settings.alert_patience_seconds()); what is still refused stays queued for the next process."""
    if not paths.alert_outbox.exists():
        return Delivered(0, 0)
    deadline = time.monotonic() + (settings.alert_patience_seconds() if patience is None else patience)
    sent = 0
    while True:
        done = deliver_due(paths)
        sent += done.sent
        soonest = next_try(paths)
        if soonest is None:
            return Delivered(sent, 0)
        wait = soonest - time.time()
        if time.monotonic() + max(wait, 0) > deadline:
            return Delivered(sent, done.pending)
        time.sleep(max(wait, 0.05))
