"""PostgreSQL, then Redis, stopped and started again under load on two instances.

While a service is down every answer is a JSON 503 (never a hang, never HTML) and /readyz
names the missing service; once it is back everything answers again without restarting the
application, and every write acknowledged with a 2xx is in the database. The PostgreSQL and
the Redis stopped are the test's own, never the machine's."""

import contextlib
import itertools
import threading
import time
from collections import Counter

import psycopg
import pytest

from tests.ops.pooler import Cluster
from tests.ops.servers import RedisServer, call, deploy, token_for, wait_for

pytestmark = pytest.mark.ops

PRODUCTS = "/api/v1/products/"
DATABASE = "catalog_faults_ops"
CLIENTS = 6
REQUEST_TIMEOUT = 25  # longer than gunicorn's 20 s: a hang would show as a timeout
OUTAGE_SECONDS = 6


class Load:
    """A bounded mixed load: reads and creates, spread over every instance."""

    def __init__(self, bases: list[str], token: str):
        self.bases, self.token = bases, token
        # kind, status, seconds, json, when it was answered (time.monotonic())
        self.results: list[tuple[str, int, float, bool, float]] = []
        self.acknowledged: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.skus = (f"FAULT-{n:06d}" for n in itertools.count())
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _run(self, client: int) -> None:
        for n in itertools.count():
            if self.stopping.is_set():
                return
            base = self.bases[(client + n) % len(self.bases)]
            if n % 3 == 0:
                self._create(base)
            else:
                self._record("read", call(base, "GET", PRODUCTS, timeout=REQUEST_TIMEOUT))
            time.sleep(0.02)

    def _create(self, base: str) -> None:
        with self.lock:
            sku = next(self.skus)
        body = {"name": f"Fault {sku}", "sku": sku, "price": "1.00", "stock": 1}
        answer = call(base, "POST", PRODUCTS, body, token=self.token, timeout=REQUEST_TIMEOUT)
        self._record("write", answer)
        if 200 <= answer.status < 300:
            with self.lock:
                self.acknowledged.append(sku)

    def _record(self, kind: str, answer) -> None:
        with self.lock:
            self.results.append(
                (kind, answer.status, answer.seconds, answer.is_json, time.monotonic())
            )

    def counts(self, start: int = 0) -> Counter:
        """Answers by kind of status, from the `start`-th answer on."""
        with self.lock:
            return Counter(_bucket(status) for _, status, *_ in self.results[start:])

    def first_success_after(self, moment: float) -> float | None:
        """When the first 2xx to a request sent after `moment` was answered."""
        with self.lock:
            answered = [
                at
                for _, status, seconds, _, at in self.results
                if 200 <= status < 300 and at - seconds >= moment
            ]
        return min(answered, default=None)


def _bucket(status: int) -> str:
    if 200 <= status < 300:
        return "2xx"
    return "503" if status == 503 else "other"


def readiness(bases: list[str]) -> list:
    return [call(base, "GET", "/readyz", timeout=10) for base in bases]


def outage(bases, stop, start, service: str) -> dict:
    """Stop a service for a while under load, check /readyz names it, start it again and
    wait until every instance is ready, without touching the application."""
    stop()
    try:
        time.sleep(OUTAGE_SECONDS)
        during = readiness(bases)
    finally:
        start()
    recovered_after = wait_for(lambda: all(r.status == 200 for r in readiness(bases)), timeout=60)
    return {"during": during, "service": service, "recovered_after": recovered_after}


def acknowledged_and_stored(load: Load, database_url: str) -> list[str]:
    """The SKUs of acknowledged writes that the database holds afterwards."""
    with psycopg.connect(database_url) as connection:
        stored = {sku for (sku,) in connection.execute("SELECT sku FROM products_product")}
    return [sku for sku in load.acknowledged if sku in stored]


def load_report(load: Load, found: list[str]) -> str:
    counts = load.counts()
    return (
        f"requests {len(load.results)}, 2xx {counts['2xx']}, 503 {counts['503']}, "
        f"other {counts['other']}; writes acknowledged {len(load.acknowledged)}, "
        f"found {len(found)}"
    )


@pytest.fixture
def own_services():
    """A deployment on a PostgreSQL cluster and a Redis of the test's own, to stop and start."""
    with contextlib.ExitStack() as cleanup:
        cluster = Cluster.create()
        cleanup.callback(cluster.remove)
        cache = RedisServer.start()
        cleanup.callback(cache.halt)
        deployment = deploy(cluster.url(DATABASE), cache.url(0), DATABASE)
        cleanup.callback(deployment.stop_instances)
        yield deployment, cluster, cache


def test_service_outages_under_load_answer_503_and_lose_no_acknowledged_write(own_services):
    deployment, cluster, cache_server = own_services
    bases = [deployment.start_instance(), deployment.start_instance()]
    token = token_for(bases[0])

    with Load(bases, token) as load:
        time.sleep(3)
        database = outage(bases, cluster.stop, cluster.start, "database")
        time.sleep(3)
        cache = outage(bases, cache_server.halt, cache_server.resume, "cache")
        time.sleep(3)

    counts = load.counts()
    found = acknowledged_and_stored(load, deployment.database_url)
    print(  # noqa: T201 (the counts are this test's report; .ci/run shows them with -s)
        f"\n{load_report(load, found)}; database back in {database['recovered_after']:.1f} s, "
        f"cache back in {cache['recovered_after']:.1f} s"
    )

    for outage_report in (database, cache):
        for answer in outage_report["during"]:
            assert answer.status == 503
            assert outage_report["service"] in answer.body["detail"]
    assert counts["other"] == 0, [r for r in load.results if _bucket(r[1]) == "other"][:10]
    assert counts["503"] > 0
    assert counts["2xx"] > 0
    assert all(is_json for _, status, _, is_json, _ in load.results if status >= 500)
    assert max(seconds for _, _, seconds, *_ in load.results) < 20
    assert found == load.acknowledged
    after = [call(base, "GET", PRODUCTS) for base in bases]
    assert [answer.status for answer in after] == [200, 200]
