"""gunicorn's settings for the container image (`gunicorn -c python:app.gunicorn_config app:server`).

gthread workers: the page polls every 2 s with short requests, many at once. No preload: each worker
builds its own app (its caches, Redis connections and background-callback manager are its own). The page
is opened to other machines only with login on (SPECTRASCOPE_USERS), or with SPECTRASCOPE_NO_LOGIN=1.
With SPECTRASCOPE_DEMO=1 a data dir without runs gets the demo run, so a fresh team box shows something (the
job goes to the workers like any other)."""
from __future__ import annotations

import os

bind = os.environ.get("SPECTRASCOPE_BIND", "0.0.0.0:8050")
workers = int(os.environ.get("SPECTRASCOPE_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = 4
timeout = 120
preload_app = False


def on_starting(server) -> None:
    """Before the workers start, once: refuse to open the page to other machines without login, as
    `spectrascope serve` does; then the demo run on an empty data dir, when asked for."""
    from app.cli import DEMO_RUN_ID, check_login, start_demo_if_empty

    check_login(bind.rpartition(":")[0].strip("[]"), os.environ.get("SPECTRASCOPE_NO_LOGIN") == "1",
                opt_out="set SPECTRASCOPE_NO_LOGIN=1")
    if os.environ.get("SPECTRASCOPE_DEMO") == "1" and start_demo_if_empty():
        server.log.info("started the demo run %r", DEMO_RUN_ID)
