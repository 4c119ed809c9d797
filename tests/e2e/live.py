"""A live server for the end-to-end tests, as production runs it: nginx terminating TLS
(deploy/nginx, tests/ops/proxy.py) in front of gunicorn, DEBUG off, collected static files served
by WhiteNoise, with known accounts and a small catalog. Two places to run it:
- by default, one instance on SQLite in a temporary directory, so `make e2e` needs no database
  service;
- with E2E_TOPOLOGY set (CI), the production topology of tests/ops/topology.py: two instances,
  PgBouncer, a PostgreSQL primary and its streaming replica, Redis and a Celery worker.

Every client reaches it at https://localhost:PORT and trusts the certificate nginx was given
for the run: Python's ssl and requests, and Node, through the standard variables set here for
this process and the ones it starts; Chromium's contexts are told to accept it."""

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.ops.proxy import Proxy
from tests.ops.servers import instance_log, stop_group
from tests.ops.topology import topology

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
# The live server's signing key: the tests may sign a token as the server would (an expired one).
SECRET_KEY = "e2e-only-signing-key-not-secret-0123456789abcdef"


def _account(name: str) -> dict:
    return {
        "username": f"e2e-{name}",
        "email": f"e2e-{name}@example.com",
        "password": f"E2e-{name}-pass-1",
    }


ACCOUNTS = {
    "admin": _account("admin"),  # superuser: the admin and every permission
    "editor": _account("editor"),  # staff: every catalog permission and users.change_user
    "customer": _account("customer"),  # an ordinary customer
}

SETUP_ACCOUNTS = """
from django.contrib.auth.models import Group, Permission
from users.models import User
accounts = {accounts!r}
editors, _ = Group.objects.get_or_create(name="Catalog editors")
editors.permissions.set(
    Permission.objects.filter(content_type__app_label="products")
    | Permission.objects.filter(content_type__app_label="users", codename="change_user")
)
for role, account in accounts.items():
    user = User.objects.create_user(**account)
    user.is_staff = role in ("admin", "editor")
    user.is_superuser = role == "admin"
    user.save()
    if role == "editor":
        user.groups.add(editors)
"""


# Run with the server's settings before it serves: the schema, static files, the accounts above
# and a small demo catalog (with pictures).
SETUP = (
    ("migrate", "--noinput", "--verbosity", "0"),
    ("collectstatic", "--noinput", "--verbosity", "0"),
    ("shell", "--command", SETUP_ACCOUNTS.format(accounts=ACCOUNTS)),
    ("seed_demo", "--products", "60"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    mail: Path  # the directory the server writes its emails to
    logs: list[Path]  # each instance's log: one JSON line per request
    cleanup: contextlib.ExitStack  # stops what was started, in reverse order

    def log_lines(self) -> list[str]:
        return [line for log in self.logs for line in log.read_text().splitlines()]

    def stop(self) -> None:
        self.cleanup.close()


def settings(directory: Path) -> dict:
    """What the live server runs with, wherever it runs."""
    return {
        "DJANGO_STATIC_ROOT": str(directory / "static"),
        "MEDIA_ROOT": str(directory / "media"),  # served by nginx (.ci/nginx reads it too)
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "true",  # behind nginx, as in production
        "API_NUM_PROXIES": "1",
        "API_THROTTLE_ANON": "100000/min",
        "API_THROTTLE_USER": "100000/min",
        "API_THROTTLE_AUTH": "100000/min",
        "DJANGO_LOG_LEVEL": "INFO",  # the request log lines are part of what is tested
    }


def sqlite_environment(directory: Path, **extra: str) -> dict:
    return (
        os.environ
        | settings(directory)
        | {
            "DATABASE_URL": f"sqlite:///{directory / 'e2e.sqlite3'}",
            "EMAIL_URL": f"filemail:///{directory / 'mail'}",
            # No broker (and no worker) even where REDIS_URL is set: each email is written to
            # the mail directory after its request commits, where the tests read it.
            "CELERY_BROKER_URL": "",
        }
        | extra
    )


def start(**extra_env: str) -> LiveServer:
    """The live server: on SQLite (as `make e2e` runs), or on the production topology where
    E2E_TOPOLOGY is set (as CI runs)."""
    if os.environ.get("E2E_TOPOLOGY"):
        return _start_on_topology(**extra_env)
    return _start_on_sqlite(**extra_env)


def _start_on_sqlite(**extra_env: str) -> LiveServer:
    """Migrate, collect static files, create the accounts and a demo catalog, start gunicorn
    behind nginx."""
    cleanup = contextlib.ExitStack()
    directory = tempfile.TemporaryDirectory(prefix="catalog-e2e-")
    cleanup.callback(directory.cleanup)
    path = Path(directory.name)
    env = sqlite_environment(path, **extra_env)
    for command in SETUP:
        subprocess.run([PYTHON, "manage.py", *command], cwd=PROJECT, env=env, check=True,
                       timeout=300, stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    log = path / "gunicorn.log"
    process = subprocess.Popen(
        [GUNICORN, "--config", "backend/gunicorn.conf.py", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "backend.wsgi:application"],
        cwd=PROJECT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    cleanup.callback(stop_group, process)
    server = LiveServer(f"http://127.0.0.1:{port}", path / "mail", [log], cleanup)
    _wait_until_ready(server)
    proxy = Proxy.start([f"127.0.0.1:{port}"], media_root=env["MEDIA_ROOT"])
    cleanup.callback(proxy.stop)
    server.url = proxy.base
    trust(proxy.directory / "cert.pem")
    return server


def _start_on_topology(**extra_env: str) -> LiveServer:
    """The same accounts, catalog and settings on tests/ops/topology.py: nginx, two gunicorn
    instances, PgBouncer in transaction mode, a PostgreSQL primary and its streaming replica, a
    Redis and a Celery worker (which sends the emails), all of the run's own."""
    cleanup = contextlib.ExitStack()
    directory = tempfile.TemporaryDirectory(prefix="catalog-e2e-")
    cleanup.callback(directory.cleanup)
    started = cleanup.enter_context(
        topology(setup=SETUP, **settings(Path(directory.name)) | extra_env)
    )
    logs = [instance_log(int(base.rsplit(":", 1)[1])) for base in started.deployment.bases]
    trust(started.proxy.directory / "cert.pem")
    server = LiveServer(started.base, started.mail, logs, cleanup)
    _wait_until_ready(server)
    return server


TRUSTED = Path(tempfile.gettempdir()) / f"catalog-e2e-trusted-{os.getpid()}.pem"
atexit.register(TRUSTED.unlink, missing_ok=True)


def trust(certificate: Path) -> None:
    """Every live server's certificate, in one bundle for the run: a server started later (the
    fuzzing has its own) must not make an earlier one's clients distrust it."""
    with TRUSTED.open("ab") as bundle:
        bundle.write(certificate.read_bytes())
    for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        os.environ[variable] = str(TRUSTED)


def _wait_until_ready(server: LiveServer, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the live server did not start; see {server.logs}")
