"""The Celery worker of a team (REDIS_URL set): it runs jobs from the queues it is given, and the
dashboard's background callbacks (Celery's default queue `celery`):

    celery -A app.worker worker -Q train --concurrency 1            # training, on a GPU box
    celery -A app.worker worker -Q analysis,celery --concurrency 4  # analysis and the page's callbacks

Every worker mounts the same data dir (SPECTRASCOPE_DATA_DIR) and names the same REDIS_URL. Building the
Dash app registers its background callbacks as Celery tasks, so the worker can run them.
"""
from __future__ import annotations

import app as dashboard
from spectrascope import settings
from spectrascope.jobs import team

if not settings.redis_url():
    raise SystemExit(f"set {settings.REDIS_URL_ENV} (for example redis://localhost:6379/0) to run the Celery worker")

dashboard.app  # noqa: B018 - builds the app, registering the background callbacks as tasks
celery = team.celery_app(settings.redis_url())
team.install_worker_hooks()
