"""Metrics and traces of a real deployment (API.md, "Metrics and traces"): gunicorn with two
workers and a Celery worker write to one PROMETHEUS_MULTIPROC_DIR, and /metrics adds them up;
with an OTLP endpoint set, both export their spans over OTLP/HTTP to a collector this test
runs, and a request's trace holds its SQL and Redis spans and the job it queued."""

import json
import subprocess
import threading
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.servers import call, free_port, instance_log, wait_for
from tests.ops.test_outbox import start_worker

pytestmark = pytest.mark.ops

METRICS_TOKEN = "ops-metrics-token"
RESET_URL = "/api/v1/auth/password-reset/"
EMAILS = 3
MAKE_USERS = """
from users.models import User
for n in range({count}):
    User.objects.create_user(f"metrics{{n}}", f"metrics{{n}}@example.com", "Metrics-pass-1")
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
JOB_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def scrape(base: str) -> dict:
    answer = call(base, "GET", "/metrics", token=METRICS_TOKEN)
    assert answer.status == 200, answer
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.body)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def healthz_count(base: str) -> float:
    labels = {"route": "healthz", "method": "GET", "status": "2xx"}
    return value(scrape(base), "http_requests_total", **labels)


def worker_pids(master: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def pids_with_files(metrics_dir: Path) -> set[int]:
    return {int(file.stem.rpartition("_")[2]) for file in metrics_dir.glob("counter_*.db")}


@pytest.fixture
def metrics_dir(tmp_path):
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def test_metrics_add_up_both_gunicorn_workers_and_the_celery_worker(
    deployment, broker_url, metrics_dir
):
    deployment.env |= {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": METRICS_TOKEN,
        "CELERY_BROKER_URL": broker_url,
        "API_THROTTLE_AUTH": "100000/min",
    }
    deployment.manage("shell", "--command", MAKE_USERS.format(count=EMAILS))
    base = deployment.start_instance()
    workers = worker_pids(deployment.processes[-1].pid)
    assert len(workers) == 2
    assert call(base, "GET", "/metrics").status == 401
    before = scrape(base)

    for n in range(EMAILS):  # queued: no Celery worker runs yet
        assert call(base, "POST", RESET_URL, {"email": f"metrics{n}@example.com"}).status == 202
    wait_for(lambda: value(scrape(base), "celery_queue_length", queue="celery") == EMAILS)
    sent = 0
    with ThreadPoolExecutor(16) as pool:
        while not workers <= pids_with_files(metrics_dir) and sent < 2000:
            answers = list(pool.map(lambda _: call(base, "GET", "/healthz").status, range(50)))
            assert answers == [200] * 50
            sent += 50
    assert workers <= pids_with_files(metrics_dir)  # both workers answered some
    start_worker(deployment)
    delivered = {"task": "users.tasks.deliver_email", "outcome": "success"}
    wait_for(lambda: value(scrape(base), "celery_tasks_total", **delivered) == EMAILS)
    after = scrape(base)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("http_requests_total", route="healthz", method="GET", status="2xx") == sent
    assert grew("http_request_duration_seconds_count", route="healthz", method="GET") == sent
    reset = {"route": "auth-password-reset", "method": "POST", "status": "2xx"}
    assert grew("http_requests_total", **reset) == EMAILS
    assert value(after, "celery_queue_length", queue="celery") == 0
    writers = pids_with_files(metrics_dir) - workers
    assert writers  # the Celery worker's pool process
    queries = {"database": "default", "statement": "UPDATE"}  # the worker marks emails sent
    assert grew("db_query_duration_seconds_count", **queries) >= EMAILS


def test_metrics_survive_a_gunicorn_restart_without_the_dead_workers_files(deployment, metrics_dir):
    deployment.env |= {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    base = deployment.start_instance()
    call(base, "GET", "/healthz")
    old = pids_with_files(metrics_dir)
    deployment.stop_instances()

    base = deployment.start_instance()

    assert not old & pids_with_files(metrics_dir)
    assert healthz_count(base) >= 1  # its own start-up probes, none of the old instance's


# --- traces ------------------------------------------------------------------------------------


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: every span it is sent, by trace id."""

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _CollectorHandler)
        self.traces = defaultdict(list)
        self.lock = threading.Lock()

    def spans(self, trace_id: str) -> list:
        with self.lock:
            return list(self.traces.get(trace_id, []))


class _CollectorHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        export = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource in export.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.server.traces[span.trace_id.hex()].append(span)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    server = Collector(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def attributes(span) -> dict:
    return {item.key: item.value.string_value or item.value.int_value for item in span.attributes}


def traced_call(base: str, method: str, path: str, trace_id: str, body=None) -> int:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={
            "Content-Type": "application/json",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def test_a_request_and_the_job_it_queues_are_one_trace(collector, deployment, broker_url):
    deployment.env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_SERVICE_NAME": "catalog-ops",
        "CELERY_BROKER_URL": broker_url,
        "DJANGO_LOG_LEVEL": "INFO",
    }
    deployment.manage("shell", "--command", MAKE_USERS.format(count=1))
    base = deployment.start_instance()
    start_worker(deployment)

    assert traced_call(base, "GET", "/api/v1/products/", TRACE_ID) == 200
    reset = {"email": "metrics0@example.com"}
    assert traced_call(base, "POST", RESET_URL, JOB_TRACE_ID, reset) == 202
    ran = "run/users.tasks.deliver_email"
    wait_for(lambda: any(span.name == ran for span in collector.spans(JOB_TRACE_ID)))

    request = collector.spans(TRACE_ID)
    [server] = [span for span in request if span.kind == span.SPAN_KIND_SERVER]
    assert server.name == "GET api/v1/products/"
    systems = {attributes(span).get("db.system") for span in request}
    assert {"postgresql", "redis"} <= systems
    job = collector.spans(JOB_TRACE_ID)
    names = {span.name for span in job}
    assert {"POST api/v1/auth/password-reset/", "apply_async/users.tasks.deliver_email"} <= names
    log = instance_log(int(base.rpartition(":")[2]))
    lines = [json.loads(line) for line in log.read_text().splitlines() if '"trace_id"' in line]
    assert any(
        line["trace_id"] == TRACE_ID and line["path"] == "/api/v1/products/" for line in lines
    )
