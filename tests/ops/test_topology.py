"""Faults under load on the production topology (tests/ops/topology.py): a bounded mixed load
goes through nginx over HTTPS while, in turn, an application instance is stopped and started
again, the read replica is stopped and started, PgBouncer is restarted, Redis is restarted, and
the Celery worker is killed and a new one started.

For each fault it prints requests, 2xx, 503 and other answers, the writes acknowledged in its
window and how many of them the database holds afterwards, and how many seconds after the part
came back the first request sent then succeeded. Every answer must be a 2xx or a JSON 503
(the load sends nothing a 4xx would answer), every write acknowledged must be in the database,
and every email asked for while the worker was dead must arrive once a worker is back."""

import time

import psycopg
import pytest

from tests.ops.servers import call, token_for, wait_for
from tests.ops.test_faults import Load
from tests.ops.topology import DATABASE, topology

pytestmark = pytest.mark.ops

DOWN_SECONDS = 4
RESETS = 3


@pytest.fixture
def running(service_urls):
    with topology() as started:
        yield started


def fault(load: Load, name: str, stop, start) -> dict:
    first, first_write = len(load.results), len(load.acknowledged)
    stop()
    time.sleep(DOWN_SECONDS)
    back = time.monotonic()
    start()
    wait_for(lambda: load.first_success_after(back) is not None, timeout=60)
    time.sleep(1)
    counts = load.counts(first)
    return {
        "fault": name,
        "requests": sum(counts.values()),
        **{kind: counts[kind] for kind in ("2xx", "503", "other")},
        "first 2xx after": round(load.first_success_after(back) - back, 2),
        "acknowledged": load.acknowledged[first_write:],  # the writes this fault's window took
    }


def stored_skus(topology) -> set[str]:
    with psycopg.connect(topology.cluster.url(DATABASE)) as connection:
        return {sku for (sku,) in connection.execute("SELECT sku FROM products_product")}


def mails(topology) -> int:
    """Messages written so far. Django's file backend appends each to a file named by the time
    and the connection's id, which two connections in one second may share: files undercount."""
    separator = "\n" + "-" * 79 + "\n"
    return sum(path.read_text().count(separator) for path in topology.mail.iterdir())


def test_faults_under_load_through_nginx_answer_2xx_or_json_503_and_lose_nothing(running):
    topology = running
    base = topology.base
    token = token_for(base)
    reports = []

    with Load([base], token) as load:
        time.sleep(2)
        reports.append(
            fault(
                load,
                "app instance",
                lambda: topology.stop_instance(0),
                lambda: topology.start_instance(0),
            )
        )
        reports.append(fault(load, "replica", topology.replica.stop, topology.replica.start))
        reports.append(fault(load, "PgBouncer", topology.bouncer.halt, topology.bouncer.resume))
        reports.append(fault(load, "Redis", topology.redis.halt, topology.redis.resume))
        sent = mails(topology)

        def kill_worker_and_ask_for_emails():
            topology.kill_worker()
            for _ in range(RESETS):
                answer = call(
                    base, "POST", "/api/v1/auth/password-reset/", {"email": "opsadmin@example.com"}
                )
                assert answer.status == 202, answer

        reports.append(
            fault(load, "Celery worker", kill_worker_and_ask_for_emails, topology.start_worker)
        )
        arrived_after = wait_for(lambda: mails(topology) >= sent + RESETS, timeout=90)

    stored = stored_skus(topology)
    found = [sku for sku in load.acknowledged if sku in stored]
    for report in reports:
        kept = sum(sku in stored for sku in report["acknowledged"])
        print(  # noqa: T201 (the counts are this test's report; .ci/run shows them with -s)
            f"\n{report['fault']}: requests {report['requests']}, 2xx {report['2xx']}, "
            f"503 {report['503']}, other {report['other']}; writes acknowledged "
            f"{len(report['acknowledged'])}, found {kept}; first 2xx "
            f"{report['first 2xx after']} s after it was back"
        )
    print(  # noqa: T201
        f"\nin all, writes acknowledged {len(load.acknowledged)}, found {len(found)}; "
        f"{RESETS} emails asked for while the worker was dead arrived "
        f"{arrived_after:.1f} s after the new worker started"
    )
    assert [report["other"] for report in reports] == [0] * len(reports), load.results[-20:]
    assert all(is_json for _, status, _, is_json, _ in load.results if status >= 500)
    assert found == load.acknowledged
    assert all(report["2xx"] > 0 for report in reports)
