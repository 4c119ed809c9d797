"""Catalog jobs on a real Celery worker (API.md, "Background jobs"): a worker killed in the
middle of a big import leaves the catalog as it was and the job marked failed, and a worker
started after it runs what was queued meanwhile.

Jobs are started as the admin starts them (`products.bulk.jobs`), from `manage.py shell`, and
reach the worker through a Redis database of their own (test_outbox.py's worker and fixtures)."""

import os
import signal
import time

import psycopg
import pytest

from products.bulk.jobs import STALE_AFTER, WORKER_LOST
from tests.ops.servers import wait_for
from tests.ops.test_outbox import readme_worker_command, start_logged

pytestmark = pytest.mark.ops

PRODUCTS = 300_000
START_IMPORT = """
from django.core.files import File
from django.db import transaction
from products.bulk import jobs
with open({path!r}, "rb") as upload, transaction.atomic():
    jobs.start_import(None, products=File(upload, name="products.csv"))
"""
START_EXPORT = """
from django.db import transaction
from products.bulk import jobs
with transaction.atomic():
    jobs.start_export(None)
"""
SEED = "from products.models import Category; Category.objects.create(name='Kept', slug='kept')"


def big_products_file(path) -> str:
    with open(path, "w", encoding="utf-8") as out:
        out.write("name,sku,price,stock,is_active,category_id\n")
        out.writelines(f"Thing {n},SKU-{n},{n % 997}.50,{n % 50},true,\n" for n in range(PRODUCTS))
    return str(path)


def query(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def jobs_of(database_url: str) -> list[tuple]:
    """(kind, status, rows_checked, rows_written, errors) of every job, oldest first."""
    return query(
        database_url,
        "SELECT kind, status, rows_checked, rows_written, errors FROM products_catalogjob"
        " ORDER BY id",
    )


def catalog(database_url: str) -> tuple:
    return (
        query(database_url, "SELECT name, slug FROM products_category ORDER BY id"),
        query(database_url, "SELECT COUNT(*) FROM products_product")[0][0],
    )


def seconds_since_heartbeat(database_url: str) -> float:
    [(seconds,)] = query(
        database_url,
        "SELECT EXTRACT(EPOCH FROM now() - heartbeat_at) FROM products_catalogjob"
        " WHERE kind = 'import'",
    )
    return float(seconds)


def test_a_worker_killed_mid_import_leaves_the_catalog_and_fails_the_job(
    broker_url, deployment, tmp_path
):
    url = deployment.database_url
    deployment.env |= {
        "CELERY_BROKER_URL": broker_url,
        "CATALOG_JOBS_ROOT": str(tmp_path / "jobs"),
    }
    deployment.manage("shell", "--command", SEED)
    before = catalog(url)
    first = start_logged(deployment, readme_worker_command(), f"jobs-first-{os.getpid()}")
    deployment.manage(
        "shell", "--command", START_IMPORT.format(path=big_products_file(tmp_path / "p.csv"))
    )

    wait_for(lambda: jobs_of(url)[0][2] > 0, timeout=120, every=0.1)  # a heartbeat counted rows
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = jobs_of(url)[0]
    deployment.manage("shell", "--command", START_EXPORT)

    assert killed_at[1] == "running"
    assert 0 < killed_at[2] < PRODUCTS + 1  # stopped while reading the file
    assert catalog(url) == before
    time.sleep(max(0.0, STALE_AFTER.total_seconds() + 1 - seconds_since_heartbeat(url)))
    start_logged(deployment, readme_worker_command(), f"jobs-second-{os.getpid()}")
    wait_for(lambda: [job[1] for job in jobs_of(url)] == ["failed", "succeeded"], timeout=120)

    [imported, exported] = jobs_of(url)
    assert (imported[3], imported[4]) == (0, [WORKER_LOST])
    assert exported[3] == len(before[0])  # the catalog as it was: the category, no product
    assert catalog(url) == before
