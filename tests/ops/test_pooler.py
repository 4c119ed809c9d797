"""PostgreSQL restarted behind PgBouncer in transaction pooling mode, under load on two
instances, as production runs them (API.md, "Connection poolers").

While the server is down the answers are JSON 503s; once it is back every path answers again
(list, detail, a write, a log-in, /readyz) without restarting the application or PgBouncer,
and no answer is ever another 5xx: nothing the application keeps from one transaction to the
next (a cursor, a prepared statement, a session setting) may depend on one server connection.
The server restarted is a throwaway cluster of the test's own, never the machine's."""

import contextlib
import time

import pytest

from tests.ops.pooler import Cluster, PgBouncer
from tests.ops.servers import call, deploy, token_for
from tests.ops.test_faults import (
    PRODUCTS,
    Load,
    _bucket,
    acknowledged_and_stored,
    load_report,
    outage,
)

pytestmark = pytest.mark.ops

DATABASE = "catalog_pgb_ops"


@pytest.fixture
def behind_pgbouncer(service_urls):
    """Two gunicorn instances' deployment on PgBouncer, on a PostgreSQL that may be restarted."""
    _, redis_url = service_urls
    with contextlib.ExitStack() as cleanup:
        cluster = Cluster.create()
        cleanup.callback(cluster.remove)
        bouncer = PgBouncer.start(cluster.port)
        cleanup.callback(bouncer.stop)
        # No catalog cache: every read goes through PgBouncer to the database.
        deployment = deploy(
            bouncer.url(DATABASE),
            redis_url,
            DATABASE,
            DATABASE_POOL_MODE="transaction",
            API_CACHE_SECONDS="0",
        )
        cleanup.callback(deployment.stop_instances)
        yield deployment, cluster


def every_path_answers(base: str, product_id: int) -> dict:
    token = token_for(base)
    body = {"name": f"After {base[-5:]}", "sku": f"AFTER-{base[-5:]}", "price": "1.00"}
    return {
        "list": call(base, "GET", PRODUCTS).status,
        "detail": call(base, "GET", f"{PRODUCTS}{product_id}/").status,
        "write": call(base, "POST", PRODUCTS, body, token=token).status,
        "readyz": call(base, "GET", "/readyz").status,
    }


def test_a_postgresql_restart_behind_pgbouncer_answers_only_503_until_it_is_back(
    behind_pgbouncer,
):
    deployment, cluster = behind_pgbouncer
    bases = [deployment.start_instance(), deployment.start_instance()]
    token = token_for(bases[0])
    body = {"name": "Before", "sku": "BEFORE-1", "price": "1.00", "stock": 1}
    product = call(bases[0], "POST", PRODUCTS, body, token=token)
    assert product.status == 201, product

    with Load(bases, token) as load:
        time.sleep(3)
        restart = outage(bases, cluster.stop, cluster.start, "database")
        time.sleep(3)

    counts = load.counts()
    found = acknowledged_and_stored(load, cluster.url(DATABASE))
    print(  # noqa: T201 (the counts are this test's report; .ci/run shows them with -s)
        f"\nbehind PgBouncer: {load_report(load, found)}; database back in "
        f"{restart['recovered_after']:.1f} s"
    )

    for answer in restart["during"]:
        assert answer.status == 503
        assert "database" in answer.body["detail"]
    assert counts["other"] == 0, [r for r in load.results if _bucket(r[1]) == "other"][:10]
    assert counts["2xx"] > 0
    assert all(is_json for _, status, _, is_json, _ in load.results if status >= 500)
    assert max(seconds for _, _, seconds, *_ in load.results) < 20
    assert found == load.acknowledged
    for base in bases:
        answers = every_path_answers(base, product.body["id"])
        assert answers == {"list": 200, "detail": 200, "write": 201, "readyz": 200}
