"""OpenTelemetry traces (API.md, "Metrics and traces"): a request's span names its route and
holds its queries, an incoming `traceparent` is continued, and the trace id is in the log line.

Requests go through the WSGI application as backend/wsgi.py serves it (Django's test client
would go around the WSGI layer, where the request's span starts). Spans are kept in memory here;
tests/ops/test_metrics.py exports them over OTLP from gunicorn and a Celery worker on
PostgreSQL and Redis."""

import asyncio
import json
import logging

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import RequestFactory
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

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
def provider(sampler):
    return TracerProvider(sampler=sampler, id_generator=tracing.ChosenTraceIds())


@pytest.fixture
def spans(transactional_db, provider):
    """Tracing as backend/tracing.py starts it, into memory. The database connection is opened
    afresh, as a process that starts tracing before its first query opens it."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    connections.close_all()
    tracing.instrument(provider)
    yield exporter
    tracing.uninstrument()
    connections.close_all()


@pytest.fixture
def get(spans, provider):
    """GET through the traced WSGI application; returns the status code once the response has
    been sent, when its span ends."""
    application = tracing.served(WSGIHandler(), tracer_provider=provider)

    def get(path: str, **headers: str) -> int:
        status = []
        environ = RequestFactory().get(path, headers=headers).environ
        body = application(environ, lambda line, headers, exc_info=None: status.append(line))
        try:
            b"".join(body)
        finally:
            body.close()
        return int(status[0].split()[0])

    return get


def server_span(exporter):
    [span] = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    return span


def test_a_request_span_names_its_route_and_holds_its_queries(spans, get):
    product = make_product()
    spans.clear()

    assert get(f"{PRODUCTS_URL}{product.pk}/") == 200

    request = server_span(spans)
    assert request.name == "GET api/v1/products/<int:pk>/"
    assert request.attributes["http.route"] == "api/v1/products/<int:pk>/"
    assert request.attributes["http.request.method"] == "GET"
    assert request.attributes["http.response.status_code"] == 200
    calls = [span for span in spans.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert {call.context.trace_id for call in calls} == {request.context.trace_id}
    database = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    systems = {call.attributes["db.system"] for call in calls}
    assert systems == ({database, "redis"} if settings.REDIS_URL else {database})


def test_a_path_no_route_matches_is_named_by_its_method_alone(spans, get):
    assert get("/api/v1/no-such-thing/12345/") == 404

    assert server_span(spans).name == "GET"
    assert "http.route" not in server_span(spans).attributes


def test_a_request_answered_500_marks_its_span_as_an_error(spans, get, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the view failed")

    monkeypatch.setattr("products.views.ProductViewSet.list", fail)

    assert get(PRODUCTS_URL) == 500

    request = server_span(spans)
    assert request.name == "GET api/v1/products/"
    assert request.status.status_code == StatusCode.ERROR
    assert request.attributes["http.response.status_code"] == 500


def test_an_asgi_request_is_traced_as_a_wsgi_one_is(spans, provider):
    application = tracing.served_asgi(ASGIHandler(), tracer_provider=provider)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/",
        "raw_path": b"/api/v1/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"traceparent", TRACEPARENT.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }

    async def served():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=10)
        while (await communicator.receive_output(timeout=10)).get("more_body"):
            pass
        return start["status"]

    assert asyncio.run(served()) == 200
    request = server_span(spans)
    assert request.name == "GET api/v1/"
    assert f"{request.context.trace_id:032x}" == TRACE_ID


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_scrapes_are_not_traced(spans, get, path):
    get(path)
    get(PRODUCTS_URL)

    [request] = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert request.name == "GET api/v1/products/"


def test_an_incoming_traceparent_is_continued_and_logged(spans, get, caplog):
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        assert get(PRODUCTS_URL, traceparent=TRACEPARENT) == 200

    request = server_span(spans)
    assert f"{request.context.trace_id:032x}" == TRACE_ID
    assert f"{request.parent.span_id:016x}" == PARENT_ID
    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert json.loads(JsonFormatter().format(line))["trace_id"] == TRACE_ID


def test_a_request_the_sampler_leaves_out_starts_no_spans_below_its_own(
    spans, sampler, get, caplog
):
    unsampled = f"00-{TRACE_ID}-{PARENT_ID}-00"
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        assert get(PRODUCTS_URL, traceparent=unsampled) == 200

    assert sampler.names == [f"GET {PRODUCTS_URL}"]
    assert spans.get_finished_spans() == ()
    [line] = [record for record in caplog.records if record.name == tracing.REQUEST_LOGGER]
    assert line.trace_id == TRACE_ID

    sampler.names.clear()
    assert get(PRODUCTS_URL, traceparent=TRACEPARENT) == 200
    asked_first, request, *below = sampler.names  # by `served`, then by the SDK starting it
    assert asked_first == request == f"GET {PRODUCTS_URL}"
    assert below
    assert len(spans.get_finished_spans()) == 1 + len(below)


class Ratio(Sampler):
    """Half the new traces, by trace id; keeps every id it was asked about, and its answer."""

    def __init__(self):
        self.answers = []
        self.sampler = TraceIdRatioBased(0.5)

    def should_sample(self, parent_context, trace_id, *args, **kwargs):
        result = self.sampler.should_sample(parent_context, trace_id, *args, **kwargs)
        self.answers.append((f"{trace_id:032x}", result.decision.is_sampled()))
        return result

    def get_description(self) -> str:
        return "Ratio"


class TestRatioSampling:
    @pytest.fixture
    def sampler(self):
        return Ratio()

    def test_a_new_trace_is_sampled_on_the_one_trace_id_it_is_given(
        self, spans, sampler, get, caplog
    ):
        with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
            for _ in range(40):
                assert get(PRODUCTS_URL) == 200

        logged = [r.trace_id for r in caplog.records if r.name == tracing.REQUEST_LOGGER]
        recorded = {f"{span.context.trace_id:032x}" for span in spans.get_finished_spans()}
        kept = {trace_id for trace_id, sampled in sampler.answers if sampled}
        asked = {trace_id for trace_id, _ in sampler.answers}
        assert asked == set(logged)
        assert kept == recorded
        assert 0 < len(kept) < 40


def test_a_request_without_traceparent_starts_a_trace_of_its_own(spans, get, caplog):
    with caplog.at_level(logging.INFO, logger=tracing.REQUEST_LOGGER):
        get(PRODUCTS_URL)

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
        f"served('/api/v1/', Host='localhost', traceparent='{TRACEPARENT}')",
    )

    assert process.returncode == 0, process.stderr
    assert "200 OK" in process.stdout
    assert '"name": "GET api/v1/"' in process.stdout
    assert f'"trace_id": "0x{TRACE_ID}"' in process.stdout


def test_an_exporter_it_cannot_use_refuses_to_start():
    process = start(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "OTEL_TRACES_EXPORTER": "jaeger"},
        "imported('backend.wsgi.application')",
    )

    assert process.returncode != 0
    assert "OTEL_TRACES_EXPORTER='jaeger'" in process.stderr
