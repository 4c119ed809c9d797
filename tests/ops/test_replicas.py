"""Reads on a real streaming replica (API.md, "Read replicas"), from two gunicorn instances.

A throwaway primary and a hot standby made from it with pg_basebackup, both logging every
statement: a search for a word nobody else sends shows in the log of the server that answered
it. Reads go to the replica; a writer's reads, through either instance, go to the primary for
REPLICA_PIN_SECONDS; a replica whose replay is paused past REPLICA_MAX_LAG_SECONDS, or that is
stopped under load, is skipped without a single 5xx."""

import contextlib
import itertools
import time
import uuid

import psycopg
import pytest

from tests.ops.pooler import Cluster
from tests.ops.servers import call, deploy, token_for, wait_for
from tests.ops.test_faults import PRODUCTS, Load, acknowledged_and_stored, load_report

pytestmark = pytest.mark.ops

DATABASE = "catalog_replica_ops"
PIN_SECONDS = 2
MAX_LAG_SECONDS = 3
CHECK_SECONDS = 1  # backend.replicas.CHECK_EVERY_SECONDS: a lagging replica, asked again
DOWN_SECONDS = 5  # backend.replicas.DOWN_FOR_SECONDS: an unreachable one, tried again
CATCH_UP_SECONDS = 30  # a restarted replica's replay of what it missed, on a loaded machine
LOAD_SECONDS = 4


@pytest.fixture
def clusters():
    """A primary logging every statement, and a replica of it (which copies the setting)."""
    with Cluster.create() as primary:
        with _connect(primary, "postgres") as admin:
            admin.execute("ALTER SYSTEM SET log_statement = 'all'")
            admin.execute("SELECT pg_reload_conf()")
        with Cluster.replica_of(primary) as replica:
            yield primary, replica


@pytest.fixture
def replicated(service_urls, clusters):
    """Two instances writing to the primary and reading from the replica."""
    primary, replica = clusters
    deployment = deploy(
        primary.url(DATABASE),
        service_urls[1],
        DATABASE,
        DATABASE_REPLICA_URLS=replica.url(DATABASE),
        REPLICA_PIN_SECONDS=str(PIN_SECONDS),
        REPLICA_MAX_LAG_SECONDS=str(MAX_LAG_SECONDS),
    )
    try:
        yield primary, replica, [deployment.start_instance(), deployment.start_instance()]
    finally:
        deployment.stop_instances()


def _connect(cluster: Cluster, name: str = DATABASE):
    return psycopg.connect(cluster.url(name), autocommit=True)


def answered_by(cluster: Cluster, word: str) -> bool:
    return word in (cluster.directory / "server.log").read_text(errors="replace")


def search(base: str, token: str | None = None) -> str:
    """A list read no one else makes (its own cache entry): the word shows where it ran (in
    capitals, as the search sends it)."""
    word = f"W{uuid.uuid4().hex[:12].upper()}"
    answer = call(base, "GET", f"{PRODUCTS}?search={word}", token=token)
    assert answer.status == 200, answer
    return word


def create(base: str, token: str) -> dict:
    sku = f"R-{uuid.uuid4().hex[:10]}"
    answer = call(base, "POST", PRODUCTS, {"name": sku, "sku": sku, "price": "1.00"}, token=token)
    assert answer.status == 201, answer
    return answer.body


def replayed(replica: Cluster, product_id: int) -> bool:
    with _connect(replica) as connection:
        found = connection.execute("SELECT 1 FROM products_product WHERE id = %s", [product_id])
        return found.fetchone() is not None


@contextlib.contextmanager
def replay_paused(replica: Cluster):
    with _connect(replica) as connection:
        connection.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            connection.execute("SELECT pg_wal_replay_resume()")


def test_reads_go_to_the_replica_and_writes_only_to_the_primary(replicated):
    primary, replica, bases = replicated
    token = token_for(bases[0])
    time.sleep(PIN_SECONDS + 0.5)  # the log-in wrote

    words = [search(base) for base in bases] + [search(base, token) for base in bases]
    product = create(bases[0], token)

    assert all(answered_by(replica, word) and not answered_by(primary, word) for word in words)
    log = (replica.directory / "server.log").read_text(errors="replace")
    assert product["sku"] not in log
    assert "read-only transaction" not in log
    assert answered_by(primary, product["sku"])
    wait_for(lambda: replayed(replica, product["id"]), timeout=10)


def test_a_writer_reads_its_write_through_the_other_instance_until_the_pin_ends(replicated):
    primary, replica, bases = replicated
    token = token_for(bases[0])
    time.sleep(PIN_SECONDS + 0.5)  # the log-in pinned this address: anonymous reads too
    warm_up = create(bases[0], token)  # the replica's last replayed write: a fresh one
    wait_for(lambda: replayed(replica, warm_up["id"]), timeout=10)

    with replay_paused(replica):
        product = create(bases[0], token)
        path = f"{PRODUCTS}{product['id']}/"
        own = call(bases[1], "GET", path, token=token)
        own_word = search(bases[1], token)
        anonymous = call(bases[1], "GET", path)
    wait_for(lambda: replayed(replica, product["id"]), timeout=10)
    time.sleep(PIN_SECONDS + 0.5)
    after_pin = search(bases[1], token)

    assert own.status == 200
    assert own.body["sku"] == product["sku"]
    assert answered_by(primary, own_word)
    assert not answered_by(replica, own_word)
    assert anonymous.status == 404  # others read the replica, a write behind (allowed lag)
    assert answered_by(replica, after_pin)
    assert not answered_by(primary, after_pin)


def test_a_replica_lagging_past_the_limit_is_skipped(replicated):
    primary, replica, bases = replicated
    token = token_for(bases[0])

    with replay_paused(replica):
        product = create(bases[0], token)
        time.sleep(MAX_LAG_SECONDS + CHECK_SECONDS + 0.5)
        answers = [call(base, "GET", f"{PRODUCTS}{product['id']}/") for base in bases * 5]
        words = [search(base) for base in bases]
        assert not replayed(replica, product["id"])

    assert [answer.status for answer in answers] == [200] * len(answers)
    assert all(answered_by(primary, word) and not answered_by(replica, word) for word in words)


def test_a_stopped_replica_costs_no_5xx_and_is_used_again_once_back(replicated):
    primary, replica, bases = replicated
    token = token_for(bases[0])
    with Load(bases, token) as load:
        time.sleep(LOAD_SECONDS / 2)
        replica.stop()
        time.sleep(LOAD_SECONDS / 2)
    counts = load.counts()
    found = acknowledged_and_stored(load, primary.url(DATABASE))
    print(f"\nreplica stopped under load: {load_report(load, found)}")  # noqa: T201
    words_while_down = [search(base) for base in bases]

    replica.start()
    time.sleep(DOWN_SECONDS + CHECK_SECONDS)
    # Back, it first replays the WAL it missed; past MAX_LAG_SECONDS behind, it is still skipped.
    for base in bases:
        wait_for(lambda base=base: answered_by(replica, search(base)), timeout=CATCH_UP_SECONDS)
    time.sleep(CHECK_SECONDS + 0.5)  # what the other workers last saw: the replica still lagging
    words_once_back = [search(base) for base, _ in itertools.product(bases, range(2))]

    assert counts["2xx"] == len(load.results) > 0
    assert found == load.acknowledged
    assert all(answered_by(primary, word) for word in words_while_down)
    assert all(answered_by(replica, word) for word in words_once_back)
    assert not any(answered_by(primary, word) for word in words_once_back)
