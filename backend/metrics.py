"""Prometheus metrics, summed over every process of the service (API.md, "Metrics and traces").

On only with PROMETHEUS_MULTIPROC_DIR (settings.METRICS_ENABLED): each process, every gunicorn
worker and every Celery worker process, writes its numbers to its own files in that directory
(prometheus_client's multiprocess mode) and `/metrics` adds them up. Off, this module is never
imported: no middleware, no query or cache timing, not even prometheus_client's memory.

Labels are bounded: a request is counted under its route's name, never its path, and under its
status class (429, the throttle's refusal, apart from the other 4xx).
"""

import functools
import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from backend.cache import RedisCache
from backend.middleware import json_error

logger = logging.getLogger(__name__)

# Sub-millisecond to seconds: a cache read or a primary-key query takes well under a millisecond.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
STATEMENTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
UNMATCHED = "<unmatched>"  # the route of a request no URL pattern matched (a 404, a bad Host)

REQUESTS = Counter("http_requests", "HTTP requests answered", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"]
)
QUERY_SECONDS = Histogram(
    "db_query_duration_seconds", "Time of one database query", ["database", "statement"],
    buckets=FAST_BUCKETS,
)  # fmt: skip
CACHE_SECONDS = Histogram(
    "cache_operation_duration_seconds", "Time of one cache operation", ["operation"],
    buckets=FAST_BUCKETS,
)  # fmt: skip
TASKS = Counter("celery_tasks", "Background jobs run, by outcome", ["task", "outcome"])


def _labelled(metric):
    """`metric.labels`, remembered: prometheus_client checks and converts the values on every
    call, and these label values are few (the labels above are bounded)."""
    return functools.cache(metric.labels)


_request_count = _labelled(REQUESTS)
_request_seconds = _labelled(REQUEST_SECONDS)
_query_seconds = _labelled(QUERY_SECONDS)
_cache_seconds = _labelled(CACHE_SECONDS)


# --- requests ----------------------------------------------------------------------------------


class PrometheusMiddleware:
    """Counts and times every request, first in and last out (settings put it outermost)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        route, method = route_name(request), request.method
        method = method if method in METHODS else "other"
        _request_count(route, method, status_class(response.status_code)).inc()
        _request_seconds(route, method).observe(time.perf_counter() - started)
        return response


def route_name(request) -> str:
    """The URL pattern's name (`product-detail`), or the view's dotted path where the pattern
    has none: as many values as the code has routes, whatever clients ask for."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED


def status_class(status: int) -> str:
    return "429" if status == 429 else f"{status // 100}xx"


# --- database and cache ------------------------------------------------------------------------


def time_query(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        statement = sql[:6].upper() if isinstance(sql, str) else ""
        _query_seconds(
            context["connection"].alias, statement if statement in STATEMENTS else "other"
        ).observe(time.perf_counter() - started)


def time_queries_of(connection, **kwargs) -> None:
    """Once per connection wrapper: Django keeps the wrapper (and its execute_wrappers) when it
    reconnects, and sends connection_created again."""
    if time_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(time_query)


def _timed(operation: str):
    def method(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return getattr(super(TimedCache, self), operation)(*args, **kwargs)
        finally:
            _cache_seconds(operation).observe(time.perf_counter() - started)

    method.__name__ = operation
    return method


class TimedCache:
    """Times the cache operations the application calls. Those Django builds from others
    (`get_or_set`, `decr`) are timed as the operations they call."""

    get = _timed("get")
    set = _timed("set")
    add = _timed("add")
    delete = _timed("delete")
    touch = _timed("touch")
    incr = _timed("incr")
    has_key = _timed("has_key")
    get_many = _timed("get_many")
    set_many = _timed("set_many")
    delete_many = _timed("delete_many")
    clear = _timed("clear")


class TimedRedisCache(TimedCache, RedisCache):
    run_script = _timed("run_script")  # the throttles' one round trip a request


class TimedLocMemCache(TimedCache, LocMemCache):
    pass


# --- background jobs ---------------------------------------------------------------------------


def count_tasks() -> None:
    """In the Celery worker (backend/celery.py): each job's outcome, from the process that ran
    it. A retry is counted as one: the job failed this time and will run again."""
    from celery import signals

    signals.task_success.connect(_task_outcome("success"), weak=False, dispatch_uid="metrics")
    signals.task_failure.connect(_task_outcome("failure"), weak=False, dispatch_uid="metrics")
    signals.task_retry.connect(_task_outcome("retry"), weak=False, dispatch_uid="metrics")


def _task_outcome(outcome: str):
    def count(sender=None, **kwargs):
        TASKS.labels(getattr(sender, "name", str(sender)), outcome).inc()

    return count


class JobQueueCollector:
    """The number of jobs waiting in the broker, read from Redis when /metrics is scraped (a
    broker that is down leaves the number out and the scrape answers anyway)."""

    def collect(self):
        url = settings.CELERY_BROKER_URL
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return
        queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
        try:
            waiting = broker_queue_length(url, queue)
        except Exception:
            logger.warning("Metrics: the broker's queue length is unknown", exc_info=True)
            return
        family = GaugeMetricFamily(
            "celery_queue_length", "Jobs waiting in the broker", labels=["queue"]
        )
        family.add_metric([queue], waiting)
        yield family


def broker_queue_length(url: str, queue: str) -> int:
    """Kombu's Redis transport keeps a queue as one list per priority step."""
    import redis
    from kombu.transport.redis import Channel

    keys = [queue] + [f"{queue}{Channel.sep}{step}" for step in Channel.priority_steps if step]
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.llen(key)
            return sum(pipe.execute())
    finally:
        client.close()


# --- the process and the scrape ----------------------------------------------------------------


def start() -> None:
    """Time the queries of every database connection this process opens, and of those it
    has open already."""
    connection_created.connect(time_queries_of, weak=False, dispatch_uid="metrics")
    for connection in connections.all(initialized_only=True):
        time_queries_of(connection)


METRICS_TOKEN_REQUIRED = "A valid metrics token is required."


def scrape(request) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scraped_registry()), content_type=content_type)


def _refusal(request) -> HttpResponse | None:
    """With METRICS_TOKEN, its bearer only; without, only a client on this machine that came
    straight in (a request a local proxy forwarded carries X-Forwarded-For, and is refused).
    Anyone else is told there is nothing here."""
    if settings.METRICS_TOKEN:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), settings.METRICS_TOKEN.encode()
        ):
            return None
        refusal = json_error(401, METRICS_TOKEN_REQUIRED)
        refusal["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refusal
    if _is_loopback(request.META.get("REMOTE_ADDR", "")) and not _was_forwarded(request):
        return None
    return json_error(404, "Not found.")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _was_forwarded(request) -> bool:
    return "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META


def scraped_registry() -> CollectorRegistry:
    """Every process's numbers from the directory; in a process of its own (the tests), its own
    registry. The queue length is read afresh either way."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(JobQueueCollector())
    return registry


class _ThisProcess:
    def collect(self):
        return REGISTRY.collect()
