"""OpenTelemetry traces (API.md, "Metrics and traces"), on only when the standard OTEL_*
variables ask for them (settings.TRACING_ENABLED); off, nothing of OpenTelemetry is imported.

Requests, SQL (psycopg, or sqlite3 in development), Redis (the cache, the throttles, the broker)
and jobs (Celery: the job's span continues the trace of the request that queued it) are traced.
An incoming `traceparent` is continued (OTEL_PROPAGATORS, by default W3C trace context), and the
trace id is added to the request's log line (backend/logs.py).

A request's span comes from OpenTelemetry's WSGI (or ASGI) instrumentation around the Django
application (`served`), and `RequestSpans`, first of the middleware, names it by its Django
route. OpenTelemetry's Django instrumentation would do both in one middleware, but it does its
work before the sampler decides and whatever it decides: it resolves the URL a second time,
builds the absolute URL three times and collects every request attribute. On the benchmark's
cached list requests, with no request sampled, it cost 12 % of a request's CPU instructions
(callgrind); the WSGI instrumentation and `RequestSpans` cost 4.2 %, and 2.2 % once `served`
asks the sampler first and serves a request it leaves out without the instrumentation
(docs/performance.md). Such a request makes no spans at all (`RequestSpans` suppresses those
below it), yet has a trace id, logged and passed on.

Attributes follow OpenTelemetry's stable HTTP semantic conventions (OTEL_SEMCONV_STABILITY_OPT_IN
is `http` unless set). Exporters by OTEL_TRACES_EXPORTER: `otlp` (the default; OTLP over HTTP,
configured by the OTEL_EXPORTER_OTLP_* variables) or `console`. Sampling, resource attributes
and batching follow the SDK's own variables (OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, OTEL_BSP_*).
"""

import contextvars
import logging
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as AsgiSpans
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiSpans
from opentelemetry.instrumentation.wsgi import get_default_span_name, wsgi_getter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, format_trace_id
from opentelemetry.util.http import parse_excluded_urls, sanitize_method

INSTRUMENTORS = (PsycopgInstrumentor, SQLite3Instrumentor, RedisInstrumentor, CeleryInstrumentor)
REQUEST_SPANS = "backend.tracing.RequestSpans"
DEFAULT_SERVICE_NAME = "catalog"
REQUEST_LOGGER = "backend.requests"
# The probes and the scrapes, every few seconds each, would drown the requests (the standard
# OTEL_PYTHON_EXCLUDED_URLS, regular expressions matched against the path, overrides the list).
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"


def start() -> None:
    """Trace this process: called once, before the first request or job (backend/wsgi.py,
    backend/asgi.py, backend/celery.py). The span processor survives a fork (gunicorn,
    Celery's pool)."""
    provider = TracerProvider(resource=_resource(), id_generator=ChosenTraceIds())
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    instrument(provider)


def instrument(provider: TracerProvider) -> None:
    """The libraries' instrumentations, `RequestSpans` first of the middleware (before Django
    loads it), and the trace id in the request's log line."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    for instrumentor in INSTRUMENTORS:
        instrumentor().instrument(tracer_provider=provider)
    if REQUEST_SPANS not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [REQUEST_SPANS, *settings.MIDDLEWARE]
    logging.getLogger(REQUEST_LOGGER).addFilter(TRACE_IDS)


def uninstrument() -> None:
    for instrumentor in INSTRUMENTORS:
        instrumentor().uninstrument()
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != REQUEST_SPANS]
    logging.getLogger(REQUEST_LOGGER).removeFilter(TRACE_IDS)


def served(application, tracer_provider: TracerProvider | None = None):
    """The WSGI `application` with a span for each request, but the excluded paths'.

    The sampler is asked first, here: a request it leaves out is served under a span context of
    its own (its trace id logged, passed on to the jobs it queues) and no span at all, as the
    SDK would leave it, without the WSGI instrumentation's work for a span nobody records (the
    request's attributes collected, a span started and ended, response attributes and metrics).
    On the benchmark that work was most of what unsampled tracing cost (docs/performance.md).
    A request the sampler keeps goes through the instrumentation; for a new trace, the id the
    sampler was asked about is the one the SDK gives the span (`ChosenTraceIds`), so the SDK,
    asking again, decides the same."""
    provider = tracer_provider or trace.get_tracer_provider()
    traced = WsgiSpans(application, tracer_provider=provider)
    excluded = _excluded_urls()

    def serve(environ, start_response):
        if excluded.url_disabled(environ.get("PATH_INFO", "")):
            return application(environ, start_response)
        parent = propagate.extract(environ, getter=wsgi_getter)
        span_context = _unsampled_context(provider, parent, environ)
        if span_context is None:
            return traced(environ, start_response)
        token = context.attach(trace.set_span_in_context(NonRecordingSpan(span_context), parent))
        try:
            response = application(environ, start_response)
        except BaseException:
            context.detach(token)
            raise
        return _detached_after(response, token)

    return serve


def _unsampled_context(provider, parent, environ) -> SpanContext | None:
    """The span context of a request the sampler leaves out, None for one it keeps (whose new
    trace's id is then waiting for the SDK in `_chosen_trace_id`)."""
    parent_span = trace.get_current_span(parent).get_span_context()
    ids = provider.id_generator
    trace_id = parent_span.trace_id if parent_span.is_valid else ids.generate_trace_id()
    name = get_default_span_name(environ)
    decided = provider.sampler.should_sample(parent, trace_id, name, SpanKind.SERVER)
    if decided.decision.is_sampled():
        _chosen_trace_id.set(None if parent_span.is_valid else trace_id)
        return None
    return SpanContext(
        trace_id, ids.generate_span_id(), is_remote=False, trace_state=decided.trace_state
    )


def _detached_after(response, token):
    """The response's body, with the request's span context current until it is sent."""
    try:
        yield from response
    finally:
        close = getattr(response, "close", None)
        if close:
            close()
        context.detach(token)


_chosen_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "chosen_trace_id", default=None
)


class ChosenTraceIds(RandomIdGenerator):
    """Trace ids at random, but the one `served` chose for the request whose span the WSGI
    instrumentation is about to start: the sampler was asked about that one."""

    def generate_trace_id(self) -> int:
        chosen = _chosen_trace_id.get()
        if chosen is None:
            return super().generate_trace_id()
        _chosen_trace_id.set(None)
        return chosen


def served_asgi(application, tracer_provider: TracerProvider | None = None):
    """The ASGI `application` with a span for each request, but the excluded paths'."""
    return AsgiSpans(application, excluded_urls=_excluded_urls(), tracer_provider=tracer_provider)


class RequestSpans:
    """The Django side of a request's span, which is current while the request is served.

    - It is named by the route Django resolved (`GET api/v1/products/<int:pk>/`, the method
      alone when none matched), and `http.route` is set, as OpenTelemetry's Django
      instrumentation names it: few names, one per route, not one per URL.
    - A request the sampler left out runs with the other instrumentations suppressed: its SQL
      and Redis spans would be recorded nowhere, yet each would still cost its
      instrumentation's work (the statement formatted, a span started, made current and
      ended). The request's own span stays current, so its trace id is still logged and still
      travels with a job it queues (Celery's instrumentation sends it whatever the
      suppression; the worker leaves the job out too)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        span = trace.get_current_span()
        if not span.is_recording():
            with suppress_instrumentation():
                return self.get_response(request)
        response = self.get_response(request)
        _name_by_route(span, request)
        return response


def _name_by_route(span, request) -> None:
    method = sanitize_method(request.method)
    match = request.resolver_match
    route = match.route if match else ""
    if method == "_OTHER":  # the WSGI instrumentation named it "HTTP"
        return
    if route:
        span.update_name(f"{method} {route}")
        span.set_attribute(HTTP_ROUTE, route)
    else:
        span.update_name(method)


def _excluded_urls():
    return parse_excluded_urls(os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", EXCLUDED_URLS))


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
