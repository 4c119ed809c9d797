"""Metrics and traces for a process of the service, each only when configured (settings):
`start` is called once by each kind of process before its first request or job
(backend/wsgi.py, backend/asgi.py, backend/celery.py), and a web process serves its application
`served`."""

from django.conf import settings


def start() -> None:
    if settings.METRICS_ENABLED:
        from backend import metrics

        metrics.start()
    if settings.TRACING_ENABLED:
        from backend import tracing

        tracing.start()


def served(application):
    """The WSGI application, with a span for each request when tracing."""
    if not settings.TRACING_ENABLED:
        return application
    from backend import tracing

    return tracing.served(application)


def served_asgi(application):
    """The ASGI application, with a span for each request when tracing."""
    if not settings.TRACING_ENABLED:
        return application
    from backend import tracing

    return tracing.served_asgi(application)
