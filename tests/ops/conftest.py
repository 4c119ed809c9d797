"""Operations tests: real gunicorn processes on the machine's PostgreSQL and Redis, which
they never stop (a test that takes a service down starts its own).

They are marked `ops` and left out of a plain `pytest`/`make test`; `.ci/run` runs them
after the suite has passed on PostgreSQL and Redis (`pytest -m ops tests/ops`), with
DATABASE_URL and REDIS_URL pointing at those services."""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from tests.ops.servers import admin_connection, deploy, drop, prepare_template

pytestmark = pytest.mark.ops


@pytest.fixture(scope="session")
def service_urls():
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url.startswith("redis"):
        pytest.fail("operations tests need DATABASE_URL=postgres://… and REDIS_URL=redis://…")
    return database_url, redis_url


@pytest.fixture(scope="session")
def template(service_urls):
    """The database every test's own is copied from: migrated once for the whole run."""
    database_url, redis_url = service_urls
    name = f"catalog_ops_template_{os.getpid()}"
    prepare_template(database_url, redis_url, name)
    yield name
    with admin_connection(database_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def deployment(service_urls, template, request):
    """A fresh database for this test."""
    database_url, redis_url = service_urls
    name = f"catalog_ops_{request.node.name[:40].lower()}_{os.getpid()}"
    current = deploy(database_url, redis_url, name, template=template)
    yield current
    drop(current, database_url, name)


@pytest.fixture
def broker_url(service_urls):
    """A Redis database for the queue alone, so nothing else the tests do touches it."""
    parts = urlsplit(service_urls[1])
    own = (int(parts.path.strip("/") or 0) - 1) % 16
    url = urlunsplit(parts._replace(path=f"/{own}"))
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()
