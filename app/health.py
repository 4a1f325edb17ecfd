"""`/health` for a container's or load balancer's health check: 200 and a small JSON when the dashboard
can work (its data dir writable, Redis answering when one is configured, the users file readable when
login is on), 503 naming what fails. It is
open without login and says nothing a visitor could use beyond the version."""
from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

from spectrascope import settings
from spectrascope.errors import UserError
from spectrascope.users import read_users

REDIS_TIMEOUT_SECONDS = 1.0  # a health check must answer fast, even when Redis does not


def data_dir_problem(data_dir: Path) -> str | None:
    """Why jobs could not write runs here, or None: the one way to know is to write."""
    try:
        with tempfile.TemporaryFile(dir=data_dir, prefix=".health-"):
            return None
    except OSError as exc:
        return f"the data dir is not writable ({exc.strerror or exc})"


def redis_problem(url: str | None) -> str | None:
    """Why Redis (jobs and background callbacks) does not answer, or None; None also when none is configured."""
    if not url:
        return None
    import redis  # installed with the celery extra, the only setup with a REDIS_URL

    try:
        redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                             socket_timeout=REDIS_TIMEOUT_SECONDS).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis does not answer ({type(exc).__name__})"
    return None


def users_problem(users_file: Path | None) -> str | None:
    """Why nobody could log in (every page answers 503), or None; None also when login is off."""
    if users_file is None:
        return None
    try:
        read_users(users_file)
    except UserError:
        return "the users file cannot be read: add a user with `spectrascope user add NAME --role runner`"
    return None


def report() -> tuple[dict, int]:
    """(body, HTTP status) of a health check."""
    url, users_file = settings.redis_url(), settings.users_file()
    problems = {"data_dir": data_dir_problem(settings.data_dir()), "redis": redis_problem(url),
                "login": users_problem(users_file)}
    failing = {part: why for part, why in problems.items() if why}
    body = {"status": "failing" if failing else "ok", "version": metadata.version("spectrascope"),
            "data_dir": problems["data_dir"] or "writable",
            "redis": problems["redis"] or ("reachable" if url else "not configured"),
            "login": problems["login"] or ("on" if users_file else "off")}
    return body, (503 if failing else 200)
