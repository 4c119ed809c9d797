"""OpenTelemetry traces (API.md, "Metrics and traces"), on only when the standard OTEL_*
variables ask for them (settings.TRACING_ENABLED); off, nothing of OpenTelemetry is imported.

Requests (Django), SQL (psycopg, or sqlite3 in development), Redis (the cache, the throttles,
the broker) and jobs (Celery: the job's span continues the trace of the request that queued it)
are traced. An incoming `traceparent` is continued (OTEL_PROPAGATORS, by default W3C trace
context), and the trace id is added to the request's log line (backend/logs.py).

Exporters by OTEL_TRACES_EXPORTER: `otlp` (the default; OTLP over HTTP, configured by the
OTEL_EXPORTER_OTLP_* variables) or `console`. Sampling, resource attributes and batching follow
the SDK's own variables (OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_BSP_*).
"""

import logging
import os

from django.core.exceptions import ImproperlyConfigured
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
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
# The probes and the scrapes, every few seconds each, would drown the requests (the standard
# OTEL_PYTHON_DJANGO_EXCLUDED_URLS overrides the list).
OPTIONS = {
    DjangoInstrumentor: {
        "excluded_urls": os.environ.get(
            "OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "/healthz$,/readyz$,/metrics$"
        )
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
