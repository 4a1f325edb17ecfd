"""Where the dashboard reads and writes, from the environment, so gunicorn, job processes and Celery
workers all agree without passing paths around."""
from __future__ import annotations

import os
from pathlib import Path

from analysis.run_format import RunPaths, run_paths as _run_paths
from spectrascope.errors import UserError

DATA_DIR_ENV = "SPECTRASCOPE_DATA_DIR"
MAX_JOBS_ENV = "SPECTRASCOPE_MAX_JOBS"
REDIS_URL_ENV = "REDIS_URL"


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def run_paths(run_id: str) -> RunPaths:
    return _run_paths(data_dir(), run_id)


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
