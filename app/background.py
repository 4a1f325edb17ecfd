"""The Dash background-callback manager: Celery + Redis when REDIS_URL is set (production), else a
diskcache under DATA_DIR/cache that every gunicorn worker shares."""
from __future__ import annotations

from functools import lru_cache

import diskcache
from dash import CeleryManager, DiskcacheManager

from spectrascope import settings


@lru_cache(maxsize=None)
def celery_app(url: str):
    """One Celery app per Redis URL, shared by the Dash app and `celery -A app.worker worker`."""
    from celery import Celery

    return Celery("spectrascope", broker=url, backend=url)


def manager():
    url = settings.redis_url()
    if url:
        return CeleryManager(celery_app(url))
    return DiskcacheManager(diskcache.Cache(str(settings.cache_dir() / "background")))
