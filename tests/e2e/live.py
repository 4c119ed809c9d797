"""A live server for the end-to-end tests, as production runs it: nginx terminating TLS
(deploy/nginx, tests/ops/proxy.py) in front of gunicorn, DEBUG off, collected static files served
by WhiteNoise, on a database of its own (SQLite in a temporary directory, so `make e2e` needs
no database service), with known accounts and a small catalog.

Every client reaches it at https://localhost:PORT and trusts the certificate nginx was given
for the run: Python's ssl and requests, and Node, through the standard variables set here for
this process and the ones it starts; Chromium's contexts are told to accept it."""

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.ops.proxy import Proxy

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    directory: tempfile.TemporaryDirectory
    log: Path
    proxy: Proxy | None = None

    def stop(self) -> None:
        if self.proxy:
            self.proxy.stop()
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.directory.cleanup()


def environment(directory: Path, **extra: str) -> dict:
    return (
        os.environ
        | {
            "DATABASE_URL": f"sqlite:///{directory / 'e2e.sqlite3'}",
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
            "EMAIL_URL": f"filemail:///{directory / 'mail'}",
            # No broker (and no worker) even where REDIS_URL is set: each email is written to
            # the mail directory after its request commits, where the tests read it.
            "CELERY_BROKER_URL": "",
            "DJANGO_LOG_LEVEL": "INFO",  # the request log lines are part of what is tested
        }
        | extra
    )


def start(**extra_env: str) -> LiveServer:
    """Migrate, collect static files, create the accounts and a demo catalog, start gunicorn."""
    directory = tempfile.TemporaryDirectory(prefix="catalog-e2e-")
    path = Path(directory.name)
    env = environment(path, **extra_env)
    manage = [PYTHON, "manage.py"]
    for command in (
        ["migrate", "--noinput", "--verbosity", "0"],
        ["collectstatic", "--noinput", "--verbosity", "0"],
        ["shell", "--command", SETUP_ACCOUNTS.format(accounts=ACCOUNTS)],
        ["seed_demo", "--products", "60"],
    ):
        subprocess.run([*manage, *command], cwd=PROJECT, env=env, check=True, timeout=300,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    log = path / "gunicorn.log"
    process = subprocess.Popen(
        [GUNICORN, "--config", "backend/gunicorn.conf.py", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "backend.wsgi:application"],
        cwd=PROJECT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    server = LiveServer(f"http://127.0.0.1:{port}", process, directory, log)
    _wait_until_ready(server)
    server.proxy = Proxy.start([f"127.0.0.1:{port}"], media_root=env["MEDIA_ROOT"])
    server.url = server.proxy.base
    trust(server.proxy.directory / "cert.pem")
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
    raise RuntimeError(f"the live server did not start; see {server.log}")
