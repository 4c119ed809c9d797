"""Liveness and readiness probes (API.md, "Documentation and operations")."""

import time
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connections

HEALTHZ_URL = "/healthz"
READYZ_URL = "/readyz"


@contextmanager
def database_down():
    """Every attempt to open a cursor fails, as when the database server is unreachable.

    A context, not a fixture: the test database's own teardown needs a cursor again."""

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(connections["default"]), "cursor", refuse)
        yield


@pytest.fixture
def redis_configured_but_down(settings):
    """REDIS_URL set, and the Redis cache on a port where nothing listens; the local cache comes
    back before the shared fixture clears it."""
    locmem = settings.CACHES
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield
    settings.CACHES = locmem


def test_healthz_is_ok_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(HEALTHZ_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_healthz_stays_ok_when_the_database_is_down(client):
    with database_down():
        response = client.get(HEALTHZ_URL)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_the_database_answers(client):
    response = client.get(READYZ_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "database" not in response.json().get("detail", "")


def test_readyz_is_503_naming_the_database_when_it_does_not_answer(client):
    with database_down():
        response = client.get(READYZ_URL)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert "database" in response.json()["detail"]
    assert "cache" not in response.json()["detail"]


def test_readyz_is_503_naming_the_database_when_the_probe_reports_it_down(client, monkeypatch):
    monkeypatch.setattr("backend.health._database_answers", lambda: False)

    response = client.get(READYZ_URL)

    assert response.status_code == 503
    assert "database" in response.json()["detail"]


@pytest.mark.usefixtures("redis_configured_but_down")
def test_readyz_is_503_naming_the_cache_when_redis_is_configured_and_down(client):
    started = time.monotonic()

    response = client.get(READYZ_URL)

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert "cache" in response.json()["detail"]
    assert "database" not in response.json()["detail"]


def test_readyz_ignores_the_cache_when_no_redis_is_configured(client, settings):
    settings.REDIS_URL = ""

    response = client.get(READYZ_URL)

    assert response.status_code == 200


@pytest.mark.parametrize("url", [HEALTHZ_URL, READYZ_URL])
def test_probes_are_never_cached(client, url):
    response = client.get(url)

    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
