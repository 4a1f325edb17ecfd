"""The Dash background-callback manager: Celery + Redis when REDIS_URL is set (a team; the same Celery app
as the jobs, spectrascope.jobs.team), else a diskcache under DATA_DIR/cache that every gunicorn worker
shares."""
from __future__ import annotations

import diskcache
from dash import CeleryManager, DiskcacheManager

from spectrascope import settings
from spectrascope.jobs.team import celery_app


def manager():
    url = settings.redis_url()
    if url:
        return CeleryManager(celery_app(url))
    return DiskcacheManager(diskcache.Cache(str(settings.cache_dir() / "background")))
