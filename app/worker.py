"""The Celery worker for the dashboard's background callbacks (when REDIS_URL is set):

    REDIS_URL=redis://localhost:6379/0 SPECTRASCOPE_DATA_DIR=D celery -A app.worker worker

Building the Dash app registers its background callbacks as Celery tasks, so the worker can run them.
"""
from __future__ import annotations

import app as dashboard
from app import background
from spectrascope import settings

if not settings.redis_url():
    raise SystemExit(f"set {settings.REDIS_URL_ENV} (for example redis://localhost:6379/0) to run the Celery worker")

dashboard.app  # noqa: B018 - builds the app, registering the background callbacks as tasks
celery = background.celery_app(settings.redis_url())
