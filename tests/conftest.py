"""Clients and actors shared by every test."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as configured
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, grant, make_staff, make_user
from users.models import User

CATALOG_PERMISSIONS = [
    f"products.{action}_{model}"
    for model in ("product", "category")
    for action in ("add", "change", "delete", "view")
]

# The end-to-end tests need requirements-e2e.txt, which `make e2e` installs; `make test` (and a
# plain `pytest`) leaves them out, as it leaves out their marker.
if not all(importlib.util.find_spec(name) for name in ("playwright", "schemathesis")):
    collect_ignore = ["e2e"]

# What settings.py configures, before the fast test hasher below replaces it.
CONFIGURED_PASSWORD_HASHERS = list(configured.PASSWORD_HASHERS)

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, db, tmp_path):
    """A fast hasher (Argon2 is slow on purpose), static files without a collectstatic manifest,
    and a fresh cache so throttle counters never leak from one test into the next.

    The catalog's response and count caches start off, so each test sees the cost of building
    an answer; tests/products/test_caching.py turns them on (with whichever cache is configured:
    local memory, or Redis when REDIS_URL is set). Uploaded images land in the test's own
    directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CATALOG_JOBS_ROOT = tmp_path / "jobs"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.API_CACHE_SECONDS = 0
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def customer():
    return make_user(username="carol", email="carol@example.com")


@pytest.fixture
def staff():
    return make_staff(username="sam", email="sam@example.com")


@pytest.fixture
def editor():
    """Staff with every catalog permission, granted as staff would in the admin."""
    return grant(make_staff(username="eddie", email="eddie@example.com"), *CATALOG_PERMISSIONS)


@pytest.fixture
def editor_client(editor):
    client = APIClient()
    client.force_authenticate(editor)
    return client


@pytest.fixture
def customer_client(customer):
    client = APIClient()
    client.force_authenticate(customer)
    return client


@pytest.fixture
def staff_client(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def superuser():
    return User.objects.create_superuser("root", "root@example.com", DEFAULT_PASSWORD)


@pytest.fixture
def admin_client(client, superuser):
    """Django's test client with a superuser's admin session (replaces pytest-django's own)."""
    client.force_login(superuser)
    return client


class FakeTime:
    """Stands in for a module's `time` (monkeypatched): the test says what time it is."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


def obtain_tokens(client, login: str, password: str = DEFAULT_PASSWORD) -> dict:
    """Log in over HTTP as an SPA does; returns the token answer (tokens, expiry times)."""
    response = client.post(TOKEN_URL, {"username": login, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def bearer_client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def manage_on(database: Path, *args: str) -> subprocess.CompletedProcess:
    """`manage.py ARGS` in a process of its own, on the SQLite file `database` (the configured
    database is the test run's own), without Redis."""
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SECRET_KEY": "command-line-test-key",
        "DJANGO_DEBUG": "false",
    }
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=configured.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
