"""/metrics (API.md, "Metrics and traces"): request counts and latencies per route, query and
cache timings, job outcomes and queue depth, and who may read them.

In this process the metrics are its own (prometheus_client's registry); the settings tests
below start processes with PROMETHEUS_MULTIPROC_DIR as production does, and
tests/ops/test_metrics.py adds up gunicorn's workers and a Celery worker."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from backend import metrics
from backend.api_root import ApiRootView
from tests.backend.test_settings import SECRET_KEY, start
from tests.backend.test_settings import configured as configured_with
from tests.factories import make_product
from users import mail
from users.tasks import sweep_outbox

METRICS_URL = "/metrics"
PRODUCTS_URL = "/api/v1/products/"
TOKEN_URL = "/api/v1/auth/token/"
TIMED = {
    "backend.cache.RedisCache": "backend.metrics.TimedRedisCache",
    "django.core.cache.backends.locmem.LocMemCache": "backend.metrics.TimedLocMemCache",
}


@pytest.fixture
def metrics_on(settings):
    """What PROMETHEUS_MULTIPROC_DIR turns on (backend/settings.py), in this process."""
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    settings.MIDDLEWARE = ["backend.metrics.PrometheusMiddleware", *settings.MIDDLEWARE]
    cache = settings.CACHES["default"]
    settings.CACHES = {"default": cache | {"BACKEND": TIMED[cache["BACKEND"]]}}
    metrics.start()


def scrape(client=None, **extra) -> dict:
    response = (client or APIClient()).get(METRICS_URL, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def test_requests_are_counted_per_route_method_and_status_class(metrics_on, api_client):
    product = make_product()
    before = scrape()

    for _ in range(3):
        assert api_client.get(PRODUCTS_URL).status_code == 200
    assert api_client.get(f"{PRODUCTS_URL}{product.pk}/").status_code == 200
    assert api_client.get(f"{PRODUCTS_URL}987654321/").status_code == 404
    assert api_client.get("/api/v1/no-such-thing/").status_code == 404
    assert api_client.post(PRODUCTS_URL, {}, format="json").status_code == 401
    after = scrape()

    def counted(route, method, status):
        key = {"route": route, "method": method, "status": status}
        return value(after, "http_requests_total", **key) - value(
            before, "http_requests_total", **key
        )

    assert counted("product-list", "GET", "2xx") == 3
    assert counted("product-detail", "GET", "2xx") == 1
    assert counted("product-detail", "GET", "4xx") == 1
    assert counted(metrics.UNMATCHED, "GET", "4xx") == 1
    assert counted("product-list", "POST", "4xx") == 1
    routes = {dict(labels).get("route") for _, labels in after}
    assert not any("987654321" in route or "/" in route for route in routes if route)


def test_latency_histogram_counts_each_request_once_in_its_buckets(metrics_on, api_client):
    name = "http_request_duration_seconds"
    labels = {"route": "product-list", "method": "GET"}
    before = scrape()

    for _ in range(4):
        api_client.get(PRODUCTS_URL)
    after = scrape()

    def grew(sample, **extra):
        return value(after, sample, **labels, **extra) - value(before, sample, **labels, **extra)

    assert grew(f"{name}_count") == 4
    assert grew(f"{name}_bucket", le="+Inf") == 4
    assert grew(f"{name}_sum") > 0
    bounds = sorted(
        (float(dict(found)["le"]), v)
        for (n, found), v in after.items()
        if n == f"{name}_bucket" and labels.items() <= dict(found).items()
    )
    assert [v for _, v in bounds] == sorted(v for _, v in bounds)  # cumulative buckets


def test_throttled_requests_are_counted_apart_from_other_4xx(metrics_on):
    before = scrape()
    client = APIClient()

    answers = [
        client.post(TOKEN_URL, {"username": f"n{n}", "password": "wrong"}).status_code
        for n in range(11)  # the auth throttle allows 10 a minute
    ]
    after = scrape()

    assert answers[-1] == 429
    labels = {"route": "auth-token", "method": "POST"}
    for status in ("429", "4xx"):
        grew = value(after, "http_requests_total", **labels, status=status) - value(
            before, "http_requests_total", **labels, status=status
        )
        assert grew == answers.count(429 if status == "429" else 401)


def test_server_errors_are_counted_as_5xx(metrics_on, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ApiRootView, "get", fail)
    client = APIClient(raise_request_exception=False)
    before = scrape()

    assert client.get("/api/v1/").status_code == 500
    after = scrape()

    labels = {"route": "api-root", "method": "GET", "status": "5xx"}
    grew = value(after, "http_requests_total", **labels) - value(
        before, "http_requests_total", **labels
    )
    assert grew == 1


def test_database_queries_and_cache_operations_are_timed(metrics_on, api_client):
    make_product()
    before = scrape()

    api_client.get(PRODUCTS_URL)
    after = scrape()

    selects = {"database": "default", "statement": "SELECT"}
    queries = "db_query_duration_seconds_count"
    assert value(after, queries, **selects) - value(before, queries, **selects) >= 2
    operations = "cache_operation_duration_seconds_count"
    assert total(after, operations) > total(before, operations)


def test_job_outcomes_are_counted(metrics_on, monkeypatch):
    metrics.count_tasks()
    before = scrape()

    sweep_outbox.apply()
    monkeypatch.setattr(mail, "sweep", lambda: 1 / 0)
    sweep_outbox.apply()
    after = scrape()

    for outcome in ("success", "failure"):
        labels = {"task": "users.tasks.sweep_outbox", "outcome": outcome}
        grew = value(after, "celery_tasks_total", **labels) - value(
            before, "celery_tasks_total", **labels
        )
        assert grew == 1


def test_an_unreachable_broker_leaves_the_queue_depth_out(metrics_on, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    samples = scrape()

    assert ("celery_queue_length", frozenset({("queue", "celery")})) not in samples
    assert total(samples, "http_requests_total") > 0


# --- who may read them -------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_without_a_token_a_local_client_may_read_them(metrics_on, address):
    assert scrape(REMOTE_ADDR=address)


@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "203.0.113.9"},
        {"REMOTE_ADDR": "10.0.0.2"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
    ],
)
def test_without_a_token_anyone_else_is_told_there_is_nothing(metrics_on, extra):
    response = APIClient().get(METRICS_URL, **extra)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Bearer ", "Basic c2NyYXBlcg==", "scrape-token"]
)
def test_with_a_token_only_its_bearer_may_read_them(metrics_on, settings, authorization):
    settings.METRICS_TOKEN = "scrape-token"
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = APIClient().get(METRICS_URL, **extra)

    assert response.status_code == 401
    assert response.json() == {
        "detail": metrics.METRICS_TOKEN_REQUIRED,
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_with_a_token_its_bearer_may_read_them_from_anywhere(metrics_on, settings):
    settings.METRICS_TOKEN = "scrape-token"

    samples = scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token")

    assert total(samples, "http_requests_total") > 0


# --- on only when asked for --------------------------------------------------------------------


def test_metrics_are_off_by_default_and_cost_nothing():
    values = configured_with(
        {},
        "settings.METRICS_ENABLED",
        "[name for name in settings.MIDDLEWARE if 'metrics' in name]",
        "settings.CACHES['default']['BACKEND']",
        "request('get', '/metrics', Host='localhost')",
        "sorted(name for name in __import__('sys').modules if name.startswith('prometheus'))",
    )
    enabled, middleware, cache, answer, imported = values.values()

    assert enabled is False
    assert middleware == []
    assert cache == "django.core.cache.backends.locmem.LocMemCache"
    assert answer["status"] == 404
    assert json.loads(answer["body"])["detail"] == "Not found."
    assert imported == []


def test_with_a_directory_every_request_is_written_there_and_scraped(tmp_path):
    values = configured_with(
        {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        "settings.MIDDLEWARE[0]",
        "settings.CACHES['default']['BACKEND']",
        "request('get', '/healthz', Host='localhost')['status']",
        "request('get', '/metrics', Host='localhost')['body']",
    )
    first, cache, health, body = values.values()

    assert first == "backend.metrics.PrometheusMiddleware"
    assert cache == "backend.metrics.TimedLocMemCache"
    assert health == 200
    assert 'http_requests_total{method="GET",route="healthz",status="2xx"} 1.0' in body
    assert any(tmp_path.glob("counter_*.db"))


def test_a_missing_metrics_directory_refuses_to_start(tmp_path):
    process = start(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "none")},
        "settings.METRICS_ENABLED",
    )

    assert process.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in process.stderr
