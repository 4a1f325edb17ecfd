"""spectrascope's dashboard. `gunicorn app:server` serves it; the app is built on first access, so
importing a submodule (say, in a test) does not build it."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _built():
    from app.factory import create_app

    return create_app()


def __getattr__(name: str):
    if name == "app":
        return _built()
    if name == "server":
        return _built().server
    raise AttributeError(f"module 'app' has no attribute {name!r}")
