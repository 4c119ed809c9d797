"""OpenTelemetry traces (API.md, "Metrics and traces"): a request's span names its route and
holds its queries, an incoming `traceparent` is continued, and the trace id is in the log line.

Spans are kept in memory here; tests/ops/test_metrics.py exports them over OTLP from gunicorn
and a Celery worker on PostgreSQL and Redis."""

import json
import logging

import pytest
from django.conf import settings
from django.db import connection, connections
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import SpanKind

from backend import tracing
from backend.logs import JsonFormatter
from tests.backend.test_settings import SECRET_KEY, configured, start
from tests.factories import make_product

PRODUCTS_URL = "/api/v1/products/"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Seen(Sampler):
    """Samples as an incoming traceparent says (sampled by default), and keeps the name of every
    span an instrumentation starts, recorded or not."""

    def __init__(self):
        self.names = []
        self.sampler = ParentBased(ALWAYS_ON)

    def should_sample(self, parent_context, trace_id, name, *args, **kwargs):
        self.names.append(name)
        return self.sampler.should_sample(parent_context, trace_id, name, *args, **kwargs)

    def get_description(self) -> str:
        return "Seen"


@pytest.fixture
def sampler():
    return Seen()


@pytest.fixture
def spans(transactional_db, sampler):
    """Tracing as backend/tracing.py starts it, into memory. The database connection is opened
    afresh, as a process that starts tracing before its first query opens it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    connections.close_all()
    tracing.instrument(provider)
    yield exporter
    for instrumentor in tracing.INSTRUMENTORS:
        instrumentor().uninstrument()
    logging.getLogger(tracing.REQUEST_LOGGER).removeFilter(tracing.TRACE_IDS)
    connections.close_all()


def server_span(exporter):
    [span] = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    return span


def test_a_request_span_names_its_route_and_holds_its_queries(spans, api_client):
    product = make_product()
    spans.clear()

    assert api_client.get(f"{PRODUCTS_URL}{product.pk}/").status_code == 200

    request = server_span(spans)
    assert request.name == "GET api/v1/products/<int:pk>/"
    assert request.attributes["http.route"] == "api/v1/products/<int:pk>/"
    assert request.attributes["http.status_code"] == 200
    calls = [span for span in spans.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert {call.context.trace_id for call in calls} == {request.context.trace_id}
    database = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    systems = {call.attributes["db.system"] for call in calls}
    assert systems == ({database, "redis"} if settings.REDIS_URL else {database})


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_scrapes_are_not_traced(spans, api_client, path):
    api_client.get(path)
    api_client.get(PRODUCTS_URL)

    [request] = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert request.name == "GET api/v1/products/"


def test_an_incoming_traceparent_is_continued_and_logged(spans, api_client, caplog):
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        response = api_client.get(PRODUCTS_URL, HTTP_TRACEPARENT=TRACEPARENT)

    assert response.status_code == 200
    request = server_span(spans)
    assert f"{request.context.trace_id:032x}" == TRACE_ID
    assert f"{request.parent.span_id:016x}" == PARENT_ID
    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert json.loads(JsonFormatter().format(line))["trace_id"] == TRACE_ID


def test_a_request_the_sampler_leaves_out_starts_no_spans_below_its_own(
    spans, sampler, api_client, caplog
):
    unsampled = f"00-{TRACE_ID}-{PARENT_ID}-00"
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        response = api_client.get(PRODUCTS_URL, HTTP_TRACEPARENT=unsampled)

    assert response.status_code == 200
    assert sampler.names == ["GET api/v1/products/"]
    assert spans.get_finished_spans() == ()
    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert line.trace_id == TRACE_ID

    sampler.names.clear()
    assert api_client.get(PRODUCTS_URL, HTTP_TRACEPARENT=TRACEPARENT).status_code == 200
    assert len(sampler.names) > 1
    assert len(spans.get_finished_spans()) == len(sampler.names)


def test_a_request_without_traceparent_starts_a_trace_of_its_own(spans, api_client, caplog):
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        api_client.get(PRODUCTS_URL)

    request = server_span(spans)
    assert request.parent is None
    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert line.trace_id == f"{request.context.trace_id:032x}"


def test_log_lines_carry_no_trace_id_without_tracing(api_client, caplog):
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        api_client.get(PRODUCTS_URL, HTTP_TRACEPARENT=TRACEPARENT)

    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert "trace_id" not in json.loads(JsonFormatter().format(line))


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, False),
    ],
)
def test_tracing_is_on_only_when_the_standard_variables_ask(variables, enabled):
    assert configured(variables, "settings.TRACING_ENABLED")["settings.TRACING_ENABLED"] is enabled


def test_tracing_off_imports_nothing_of_opentelemetry():
    values = configured(
        {},
        "request('get', '/healthz', Host='localhost')['status']",
        "[name for name in __import__('sys').modules if name.startswith('opentelemetry')]",
    )

    assert list(values.values()) == [200, []]


def test_the_web_process_exports_its_spans_where_the_variables_say():
    process = start(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "OTEL_TRACES_EXPORTER": "console"},
        "imported('backend.wsgi.application') is not None",
        f"request('get', '/api/v1/', Host='localhost', traceparent='{TRACEPARENT}')['status']",
    )

    assert process.returncode == 0, process.stderr
    assert '"name": "GET api/v1/"' in process.stdout
    assert f'"trace_id": "0x{TRACE_ID}"' in process.stdout


def test_an_exporter_it_cannot_use_refuses_to_start():
    process = start(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "OTEL_TRACES_EXPORTER": "jaeger"},
        "imported('backend.wsgi.application')",
    )

    assert process.returncode != 0
    assert "OTEL_TRACES_EXPORTER='jaeger'" in process.stderr
