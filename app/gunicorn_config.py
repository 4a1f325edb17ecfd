"""gunicorn's settings for the container image (`gunicorn -c python:app.gunicorn_config app:server`).

gthread workers: the page polls every 2 s with short requests, many at once. No preload: each worker
builds its own app (torch and forked workers do not mix, and background callbacks need their own
managers). With SPECTRASCOPE_DEMO=1 a data dir without runs gets the demo run, so a fresh team box shows
something (the job goes to the workers like any other)."""
from __future__ import annotations

import os

bind = os.environ.get("SPECTRASCOPE_BIND", "0.0.0.0:8050")
workers = int(os.environ.get("SPECTRASCOPE_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = 4
timeout = 120
preload_app = False


def on_starting(server) -> None:
    """Before the workers start, once: the demo run on an empty data dir, when asked for."""
    if os.environ.get("SPECTRASCOPE_DEMO") != "1":
        return
    from app.cli import DEMO_RUN_ID, start_demo_if_empty

    if start_demo_if_empty():
        server.log.info("started the demo run %r", DEMO_RUN_ID)
