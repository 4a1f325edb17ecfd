"""The Dash app: offline theme, shared secret key, background-callback manager, login, /health, layout
and callbacks."""
from __future__ import annotations

import gc
import os
import secrets
import tempfile
from pathlib import Path

import flask_bootstrap
from dash import Dash
from flask import jsonify, send_from_directory

from app import auth, background, health, shell
from spectrascope import settings

THEME = "litera"  # a Bootswatch theme that imports no web fonts, so it looks right offline
CSS_ROUTE = "/_spectrascope/css"
CSS_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"
STYLESHEETS = [f"{CSS_ROUTE}/bootswatch/{THEME}/bootstrap.min.css", f"{CSS_ROUTE}/font/bootstrap-icons.min.css"]


def secret_key() -> str:
    """One key for every worker (background callbacks need it): $SPECTRASCOPE_SECRET_KEY, else one kept in the cache."""
    if os.environ.get("SPECTRASCOPE_SECRET_KEY"):
        return os.environ["SPECTRASCOPE_SECRET_KEY"]
    path = settings.cache_dir() / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # whole or absent, never half-written: link a finished file into place
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as draft:
            draft.write(secrets.token_hex(32))
        try:
            os.link(draft.name, path)  # fails if another worker got there first: theirs is kept
        except FileExistsError:
            pass
        finally:
            os.unlink(draft.name)
    return path.read_text().strip()


def _freeze_start_up() -> None:
    """Freeze what start-up allocated, so the garbage collector stops walking ~400,000 long-lived objects
    (pauses of ~70 ms every few requests, measured by benchmarks/dashboard_latency.py)."""
    gc.collect()
    gc.freeze()


def _health():
    body, status = health.report()
    return jsonify(body), status


def create_app() -> Dash:
    settings.max_jobs()  # a bad SPECTRASCOPE_MAX_JOBS stops the server now, not each job later
    app = Dash(__name__, title="spectrascope", update_title=None, external_stylesheets=STYLESHEETS,
               background_callback_manager=background.manager(), serve_locally=True)
    app.server.secret_key = secret_key()
    auth.install(app.server)
    app.server.add_url_rule("/health", "spectrascope_health", _health)
    app.server.add_url_rule(f"{CSS_ROUTE}/<path:filename>", "spectrascope_css",
                            lambda filename: send_from_directory(CSS_DIR, filename, max_age=86400))
    app.layout = shell.layout
    shell.register(app)
    _freeze_start_up()
    return app
