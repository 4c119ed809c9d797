"""The Celery app: `celery -A backend worker` (README, "Background jobs").

Configured from Django's settings (the `CELERY_` ones). Web processes never import this at
start-up: `backend.background` imports it when it first hands a job to the broker, so a gunicorn
worker that enqueues nothing carries none of Celery's memory."""

import os

from celery import Celery, signals
from django.conf import settings

from backend import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def observe_worker(**kwargs) -> None:
    """Metrics and traces for the worker, set up before its pool forks (each pool process then
    writes its own metrics files and exports its own spans)."""
    observability.start()
    if settings.METRICS_ENABLED:
        from backend import metrics

        metrics.count_tasks()
