"""OpenTelemetry traces (API.md, "Metrics and traces"), on only when the standard OTEL_*
variables ask for them (settings.TRACING_ENABLED); off, nothing of OpenTelemetry is imported.

Requests (Django), SQL (psycopg, or sqlite3 in development), Redis (the cache, the throttles,
the broker) and jobs (Celery: the job's span continues the trace of the request that queued it)
are traced. An incoming `traceparent` is continued (OTEL_PROPAGATORS, by default W3C trace
context), and the trace id is added to the request's log line (backend/logs.py). A request its
sampler leaves out (OTEL_TRACES_SAMPLER) makes no spans below its own: see `quiet_if_unsampled`.

Exporters by OTEL_TRACES_EXPORTER: `otlp` (the default; OTLP over HTTP, configured by the
OTEL_EXPORTER_OTLP_* variables) or `console`. Sampling, resource attributes and batching follow
the SDK's own variables (OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_BSP_*).
"""

import logging
import os
from contextlib import ExitStack

from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import format_trace_id

INSTRUMENTORS = (
    DjangoInstrumentor,
    PsycopgInstrumentor,
    SQLite3Instrumentor,
    RedisInstrumentor,
    CeleryInstrumentor,
)
QUIET = "backend.tracing.quiet"  # request.META key: what `quiet_if_unsampled` entered


def quiet_if_unsampled(span, request) -> None:
    """The request span's start (the Django instrumentation's request hook): a request the
    sampler left out runs with the other instrumentations suppressed, until `end_quiet`.

    Unsampled, its SQL and Redis spans would be recorded nowhere, yet each would still cost its
    instrumentation's work (the statement formatted, a span started, made current and ended):
    on the benchmark's BROWSE, a third of what tracing at 10 % cost. The request's own span
    stays current, so its trace id is still logged and still travels with a job it queues
    (Celery's instrumentation sends it whatever the suppression; the worker leaves it out too)."""
    if not span.is_recording():
        quiet = ExitStack()
        quiet.enter_context(suppress_instrumentation())
        request.META[QUIET] = quiet


def end_quiet(span, request, response) -> None:
    """The request span's end (the response hook), before the span stops being current."""
    quiet = request.META.pop(QUIET, None)
    if quiet is not None:
        quiet.close()


# The probes and the scrapes, every few seconds each, would drown the requests (the standard
# OTEL_PYTHON_DJANGO_EXCLUDED_URLS overrides the list).
OPTIONS = {
    DjangoInstrumentor: {
        "excluded_urls": os.environ.get(
            "OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "/healthz$,/readyz$,/metrics$"
        ),
        "request_hook": quiet_if_unsampled,
        "response_hook": end_quiet,
    }
}
DEFAULT_SERVICE_NAME = "catalog"
REQUEST_LOGGER = "backend.requests"


def start() -> None:
    """Trace this process: called once, before the first request or job (backend/wsgi.py,
    backend/celery.py). The span processor survives a fork (gunicorn, Celery's pool)."""
    provider = TracerProvider(resource=_resource())
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    instrument(provider)


def instrument(provider: TracerProvider) -> None:
    for instrumentor in INSTRUMENTORS:
        instrumentor().instrument(tracer_provider=provider, **OPTIONS.get(instrumentor, {}))
    logging.getLogger(REQUEST_LOGGER).addFilter(TRACE_IDS)


class TraceIds(logging.Filter):
    """Adds the trace id of the span the record was logged in, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format_trace_id(context.trace_id)
        return True


TRACE_IDS = TraceIds()


def _resource() -> Resource:
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return Resource.create({} if named else {SERVICE_NAME: DEFAULT_SERVICE_NAME})


def _exporter():
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if name in ("otlp", "otlp_proto_http") and protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise ImproperlyConfigured(
        f"OTEL_TRACES_EXPORTER={name!r}, OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: traces are "
        "exported as otlp over http/protobuf, or to the console"
    )
