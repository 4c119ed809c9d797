"""Metrics and traces for a process of the service, each only when configured (settings):
called once by each kind of process before its first request or job (backend/wsgi.py,
backend/celery.py)."""

from django.conf import settings


def start() -> None:
    if settings.METRICS_ENABLED:
        from backend import metrics

        metrics.start()
    if settings.TRACING_ENABLED:
        from backend import tracing

        tracing.start()
