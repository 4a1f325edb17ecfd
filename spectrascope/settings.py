"""Settings read from the environment, so the CLI, gunicorn workers, job processes and Celery workers all
agree without passing paths around. The bottom layer beside errors: it imports nothing of the project
but them."""
from __future__ import annotations

import os
from pathlib import Path

from spectrascope.errors import UserError

DATA_DIR_ENV = "SPECTRASCOPE_DATA_DIR"
MAX_JOBS_ENV = "SPECTRASCOPE_MAX_JOBS"
REDIS_URL_ENV = "REDIS_URL"
USERS_ENV = "SPECTRASCOPE_USERS"
LEASE_SECONDS_ENV = "SPECTRASCOPE_LEASE_SECONDS"
PROBE_SECONDS_ENV = "SPECTRASCOPE_PROBE_SECONDS"
VISIBILITY_TIMEOUT_ENV = "SPECTRASCOPE_VISIBILITY_TIMEOUT"


def data_dir() -> Path:
    """$SPECTRASCOPE_DATA_DIR, else ./data (an empty value means the default too)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def cache_dir() -> Path:
    return data_dir() / "cache"


def max_jobs() -> int:
    """How many training/analysis jobs run at once (default 1: on a CPU box two jobs only slow each other)."""
    text = os.environ.get(MAX_JOBS_ENV) or "1"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"{MAX_JOBS_ENV} must be a positive integer, got {text!r}")
    return value


def redis_url() -> str | None:
    return os.environ.get(REDIS_URL_ENV) or None


def users_file() -> Path | None:
    """$SPECTRASCOPE_USERS: the users file that turns login on (spectrascope.users); None: no login, for one
    person on their own machine."""
    value = os.environ.get(USERS_ENV)
    return Path(value) if value else None


def _positive_seconds(name: str, default: float) -> float:
    text = os.environ.get(name) or str(default)
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UserError(f"{name} must be a positive number of seconds, got {text!r}")
    return value


def lease_seconds() -> float:
    """How long a team worker's job lease lasts unrenewed: a lost worker's run reads `interrupted`, and
    its job is submitted again, within about 1.5 times this (default 30 s)."""
    return _positive_seconds(LEASE_SECONDS_ENV, 30)


def probe_seconds() -> float:
    """How often an idle team worker checks that it still takes jobs from its queues (default 60 s): one that
    misses two probes in a row exits, for its supervisor (compose, systemd) to start it again."""
    return _positive_seconds(PROBE_SECONDS_ENV, 60)


def visibility_timeout_seconds() -> float:
    """How long the broker waits for a job's acknowledgement before delivering it again: above the
    longest job (default 7 days), or Redis would hand a running job to a second worker."""
    return _positive_seconds(VISIBILITY_TIMEOUT_ENV, 7 * 24 * 3600)


HEALTH_RULES_ENV = "SPECTRASCOPE_HEALTH_RULES"
ALERT_URL_ENV = "SPECTRASCOPE_ALERT_URL"
PUBLIC_URL_ENV = "SPECTRASCOPE_PUBLIC_URL"
ALERT_MIN_SEVERITY_ENV = "SPECTRASCOPE_ALERT_MIN_SEVERITY"
ALERT_PATIENCE_ENV = "SPECTRASCOPE_ALERT_PATIENCE"


def health_rules_file() -> Path | None:
    """$SPECTRASCOPE_HEALTH_RULES: the rules file events are derived and alerts filtered by (docs/health.md);
    None: the default rules."""
    value = os.environ.get(HEALTH_RULES_ENV)
    return Path(value) if value else None


def alert_urls() -> list[str]:
    """$SPECTRASCOPE_ALERT_URL: the endpoints each new health event is POSTed to, separated by spaces or commas."""
    text = os.environ.get(ALERT_URL_ENV) or ""
    urls = [url for url in text.replace(",", " ").split() if url]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"{ALERT_URL_ENV} holds {url!r}, which is not an http(s) URL")
    return urls


def public_url() -> str | None:
    """$SPECTRASCOPE_PUBLIC_URL: where people open the dashboard, for the links in alerts."""
    return (os.environ.get(PUBLIC_URL_ENV) or "").rstrip("/") or None


def alert_min_severity() -> str | None:
    """$SPECTRASCOPE_ALERT_MIN_SEVERITY: the least severe event alerted (info, warning, critical); None: the
    rules file's, else warning."""
    return os.environ.get(ALERT_MIN_SEVERITY_ENV) or None


def alert_patience_seconds() -> float:
    """How long an analysis, once done, keeps retrying alerts an endpoint refused (default 10 s); what is left
    is retried by the next analysis of the run."""
    return _positive_seconds(ALERT_PATIENCE_ENV, 10)
