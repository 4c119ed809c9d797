"""Read replicas (API.md, "Read replicas"), without a replica server: an alias on the test
database itself (what TEST MIRROR gives a replica in tests) but on a connection of its own, so
it sees only what was committed. The test's own rows are not, so a read that finds them was
answered by the primary and one that misses them by the "replica", like a replica a write
behind. tests/ops/test_replicas.py does the same with a real streaming replica."""

import contextlib
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import OperationalError, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from backend import replicas
from backend.replicas import ReplicaRouter
from products.models import Product
from tests.conftest import bearer_client, obtain_tokens
from tests.factories import make_product, make_user
from users.models import Session

REPLICAS = ["replica1", "replica2"]
PRODUCTS_URL = "/api/v1/products/"

pytestmark = pytest.mark.django_db(databases=["default", *REPLICAS])


def detail_url(pk: int) -> str:
    return f"{PRODUCTS_URL}{pk}/"


@pytest.fixture(scope="module", autouse=True)
def replica_aliases(django_db_setup):
    """The aliases, there before the tests' database guard looks for them. Their test
    transactions take no lock before they read (SQLite's default), so they never wait for the
    primary's."""
    settings_dict = connections["default"].settings_dict
    options = {k: v for k, v in settings_dict["OPTIONS"].items() if k != "transaction_mode"}
    for alias in REPLICAS:
        connections.settings[alias] = {
            **settings_dict,
            "OPTIONS": options,
            "TEST": {**settings_dict["TEST"], "MIRROR": "default"},
        }
    yield
    for alias in REPLICAS:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@pytest.fixture
def replica(settings):
    """The router and middleware installed as DATABASE_REPLICA_URLS installs them."""
    settings.DATABASE_ROUTERS = ["backend.replicas.ReplicaRouter"]
    middleware = list(settings.MIDDLEWARE)
    after = middleware.index("backend.middleware.RequestBodyLimitMiddleware")
    middleware.insert(after + 1, "backend.replicas.ReplicaMiddleware")
    settings.MIDDLEWARE = middleware
    replicas._health.clear()
    yield
    for alias in REPLICAS:
        connections[alias].close()
        connections[alias].settings_dict["NAME"] = connections["default"].settings_dict["NAME"]
    replicas._health.clear()


@pytest.fixture
def queries(replica):
    """The statements the primary, and each replica, ran while the test's requests were made."""
    with contextlib.ExitStack() as capturing:
        captured = {
            alias: capturing.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in ["default", *REPLICAS]
        }
        yield {"primary": captured["default"], "replica": Both(captured[a] for a in REPLICAS)}


class Both:
    """The statements of every replica, as one capture."""

    def __init__(self, captures):
        self.captures = list(captures)

    @property
    def captured_queries(self) -> list[dict]:
        return [query for capture in self.captures for query in capture.captured_queries]


def read(captured, table: str) -> bool:
    sql = [query["sql"] for query in captured.captured_queries]
    return any(statement.startswith("SELECT") and table in statement for statement in sql)


def break_replicas() -> None:
    """As if the replicas' servers stopped: their connections gone, new ones refused."""
    for alias in REPLICAS:
        connections[alias].close()
        connections[alias].settings_dict["NAME"] = "/nonexistent/replica/db.sqlite3"


def test_anonymous_reads_run_on_the_replica(replica, queries, api_client):
    product = make_product()

    listed = api_client.get(PRODUCTS_URL)
    detail = api_client.get(detail_url(product.pk))

    assert listed.status_code == 200
    assert listed.json()["count"] == 0  # the replica has not seen the test's uncommitted row
    assert detail.status_code == 404
    assert read(queries["replica"], "products_product")
    assert not read(queries["primary"], "products_product")


def test_the_catalog_versions_are_read_where_the_rows_are(replica, queries, api_client, settings):
    settings.API_CACHE_SECONDS = 300
    make_product()

    assert api_client.get(PRODUCTS_URL).status_code == 200
    assert read(queries["replica"], "products_catalogversion")
    assert not read(queries["primary"], "products_catalogversion")


def test_each_request_reads_from_one_replica_and_requests_spread_over_them(
    replica, queries, api_client, settings
):
    """One replica a request: the versions it stamps a cached page with are never newer than
    the rows it reads after them."""
    settings.API_CACHE_SECONDS = 300
    used = []
    for n in range(20):
        before = [len(capture.captured_queries) for capture in queries["replica"].captures]
        assert api_client.get(PRODUCTS_URL, {"search": f"word{n}"}).status_code == 200
        after = [len(capture.captured_queries) for capture in queries["replica"].captures]
        used.append([alias for alias, b, a in zip(REPLICAS, before, after, strict=True) if a > b])

    assert all(len(aliases) == 1 for aliases in used), used
    assert {aliases[0] for aliases in used} == set(REPLICAS)


def test_a_write_and_its_checks_run_on_the_primary_only(replica, queries, editor_client):
    taken = make_product(sku="TAKEN-1")

    clash = editor_client.post(PRODUCTS_URL, {"name": "A", "sku": "taken-1", "price": "1.00"})
    changed = editor_client.patch(detail_url(taken.pk), {"stock": 7})

    assert clash.status_code == 400  # the clash check saw the primary's row
    assert changed.status_code == 200
    assert Product.objects.get(pk=taken.pk).stock == 7
    assert queries["replica"].captured_queries == []


def test_the_writer_reads_its_write_until_the_pin_ends(replica, settings, editor_client):
    settings.REPLICA_PIN_SECONDS = 1
    created = editor_client.post(PRODUCTS_URL, {"name": "New", "sku": "NEW-1", "price": "1.00"})
    assert created.status_code == 201

    soon = editor_client.get(detail_url(created.json()["id"]))
    time.sleep(1.1)
    later = editor_client.get(detail_url(created.json()["id"]))

    assert soon.status_code == 200
    assert later.status_code == 404  # on the replica again, which has not seen it


def test_reads_after_a_write_in_the_same_safe_request_run_on_the_primary(replica, api_client):
    product = make_product()
    make_user(username="reader")
    access = obtain_tokens(api_client, "reader")["access"]
    replicas.cache.clear()  # the log-in's pin gone
    Session.objects.update(last_used_at=timezone.now() - timedelta(hours=1))

    answer = bearer_client(access).get(detail_url(product.pk))  # writes last_used_at first

    assert answer.status_code == 200
    assert Session.objects.get().last_used_at > timezone.now() - timedelta(minutes=1)


def test_a_write_does_not_pin_other_clients(replica, editor_client, api_client):
    created = editor_client.post(PRODUCTS_URL, {"name": "New", "sku": "NEW-1", "price": "1.00"})

    assert api_client.get(detail_url(created.json()["id"])).status_code == 404


def test_an_anonymous_write_pins_the_client_address(replica, api_client):
    product = make_product()
    registered = api_client.post(
        "/api/v1/auth/register/",
        {"username": "newcomer", "email": "newcomer@example.com", "password": "A-long-pass-1"},
    )
    other_address = APIClient(REMOTE_ADDR="10.0.0.9")

    assert registered.status_code == 201, registered.content
    assert api_client.get(detail_url(product.pk)).status_code == 200
    assert other_address.get(detail_url(product.pk)).status_code == 404


def test_accounts_and_sessions_are_read_on_the_primary(replica, queries, api_client):
    user = make_user(username="reader")
    access = obtain_tokens(api_client, "reader")["access"]
    replicas.cache.clear()  # the log-in's pin gone: only the accounts' own rule is left

    me = bearer_client(access).get("/api/v1/users/me/")

    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    assert not read(queries["replica"], "users_")


def test_a_replica_that_is_down_is_skipped(replica, api_client):
    product = make_product()
    break_replicas()

    assert api_client.get(detail_url(product.pk)).status_code == 200


def test_a_replica_lagging_past_the_limit_is_skipped(replica, settings, api_client):
    settings.REPLICA_MAX_LAG_SECONDS = -1  # whatever its lag, it is too much
    product = make_product()

    assert api_client.get(detail_url(product.pk)).status_code == 200


@pytest.fixture
def clock(monkeypatch):
    """The time the replicas' checks see, moved by the test."""
    now = SimpleNamespace(seconds=1000.0)
    monkeypatch.setattr(replicas, "time", SimpleNamespace(monotonic=lambda: now.seconds))
    return now


@pytest.fixture
def replica_lag(monkeypatch):
    """What the replicas' lag check answers: seconds behind, or an exception (unreachable)."""
    answer = SimpleNamespace(lag=0.0)

    def lag_of(alias: str) -> float:
        if isinstance(answer.lag, Exception):
            raise answer.lag
        return answer.lag

    monkeypatch.setattr(replicas, "lag_of", lag_of)
    return answer


def test_a_lagging_replica_is_asked_again_after_a_second(replica, clock, replica_lag, api_client):
    product = make_product()
    replica_lag.lag = 60.0
    assert api_client.get(detail_url(product.pk)).status_code == 200  # the primary
    replica_lag.lag = 0.0  # caught up

    clock.seconds += replicas.CHECK_EVERY_SECONDS - 0.1
    still_trusted = api_client.get(detail_url(product.pk))
    clock.seconds += 0.2
    asked_again = api_client.get(detail_url(product.pk))

    assert still_trusted.status_code == 200
    assert asked_again.status_code == 404  # the replica, a write behind


def test_an_unreachable_replica_is_left_alone_for_five_seconds(
    replica, clock, replica_lag, api_client, monkeypatch
):
    for alias in REPLICAS:  # a real one reconnects; inside the test's transaction it could not
        monkeypatch.setattr(connections[alias], "close", lambda: None)
    product = make_product()
    replica_lag.lag = OperationalError("connection refused")
    assert api_client.get(detail_url(product.pk)).status_code == 200
    replica_lag.lag = 0.0  # back

    clock.seconds += replicas.DOWN_FOR_SECONDS - 0.1
    left_alone = api_client.get(detail_url(product.pk))
    clock.seconds += 0.2
    tried_again = api_client.get(detail_url(product.pk))

    assert replicas.DOWN_FOR_SECONDS == 5
    assert left_alone.status_code == 200
    assert tried_again.status_code == 404


def test_a_read_failing_on_the_replica_mid_request_runs_again_on_the_primary(replica, api_client):
    product = make_product()
    assert api_client.get(detail_url(product.pk)).status_code == 404  # the replica, trusted
    break_replicas()  # within the second it is trusted for

    answer = api_client.get(detail_url(product.pk))

    assert answer.status_code == 200
    assert answer.json()["id"] == product.pk


def test_reads_outside_a_request_and_every_write_and_migration_use_the_primary():
    router = ReplicaRouter()

    assert router.db_for_read(Product) == "default"
    assert router.db_for_write(Product) == "default"
    assert router.allow_migrate("default", "products")
    assert not router.allow_migrate(REPLICAS[0], "products")
