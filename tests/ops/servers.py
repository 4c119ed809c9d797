"""Real processes for the operations tests: a PostgreSQL database of their own, gunicorn
instances as production runs them, and a Redis of their own for a test that stops it. The
machine's PostgreSQL and Redis are used, never stopped: a test that takes a service down
starts one of its own (`RedisServer` here, `tests.ops.pooler.Cluster` for PostgreSQL).

Every process started here is stopped by its process group when the test ends."""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
SECRET = "ops-tests-signing-key-not-secret-0123456789abcdef"
ADMIN = {"username": "opsadmin", "email": "opsadmin@example.com", "password": "Ops-admin-pass-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_named(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_connection(url: str):
    return psycopg.connect(database_url_named(url, "postgres"), autocommit=True)


@dataclass
class Response:
    status: int  # 0: no answer (refused, reset or timed out)
    headers: dict
    body: object
    seconds: float

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/json")


# Certificates the HTTPS calls trust, besides the system's: the ones a test's nginx made.
TRUSTED = ssl.create_default_context()


def trust(certificate: Path) -> None:
    TRUSTED.load_verify_locations(cafile=str(certificate))


def call(
    base: str, method: str, path: str, body=None, token=None, timeout=25.0, headers=None
) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=TRUSTED) as answer:
            return _response(answer.status, answer.headers, answer.read(), started)
    except urllib.error.HTTPError as error:
        return _response(error.code, error.headers, error.read(), started)
    except (OSError, urllib.error.URLError):
        return Response(0, {}, None, time.monotonic() - started)


def _response(status, headers, raw: bytes, started: float) -> Response:
    headers = {key.lower(): value for key, value in headers.items()}
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Response(status, headers, body, time.monotonic() - started)


@dataclass
class Deployment:
    """A database of its own, migrated, with a superuser; and gunicorn instances on it."""

    database_url: str
    redis_url: str
    env: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)
    bases: list = field(default_factory=list)

    def manage(self, *args: str) -> None:
        subprocess.run(
            [PYTHON, "manage.py", *args], cwd=PROJECT, env=self.env, check=True, timeout=300
        )

    def start_instance(self, timeout: float = 40, port: int | None = None) -> str:
        """A gunicorn instance, on a free port or the one given (a restart behind a proxy)."""
        port = port or free_port()
        command = [
            GUNICORN, "--config", "backend/gunicorn.conf.py", "--workers", "2",
            "--bind", f"127.0.0.1:{port}", "--timeout", "20", "backend.wsgi:application",
        ]  # fmt: skip
        log = instance_log(port).open("wb")
        process = subprocess.Popen(
            command, cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if call(base, "GET", "/healthz", timeout=2).status == 200:
                if base not in self.bases:
                    self.bases.append(base)
                return base
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn on {port} did not start; see {log.name}")

    def stop_instances(self) -> None:
        for process in self.processes:
            stop_group(process)
        self.processes.clear()


def instance_log(port: int) -> Path:
    """Where the instance on `port` writes its output."""
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"ops-gunicorn-{port}.log"


def stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def deploy(
    database_url: str, redis_url: str, name: str, template: str = "", **extra_env: str
) -> Deployment:
    """A fresh database, and an empty cache (the CI's own Redis database): throttle counters and
    sessions of an earlier test must not decide this one's answers.

    The database is migrated and given its superuser, or copied from `template`, a database on
    the same server that `prepare_template()` made so (a copy takes a second, migrating ten)."""
    redis.Redis.from_url(redis_url).flushdb()
    with admin_connection(database_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    url = database_url_named(database_url, name)
    deployment = Deployment(url, redis_url, _environment(url, redis_url) | extra_env)
    if not template:
        _migrate(deployment)
    return deployment


def prepare_template(database_url: str, redis_url: str, name: str) -> None:
    """A migrated database with the superuser, for `deploy(template=name)` to copy."""
    deploy(database_url, redis_url, name)


def _migrate(deployment: Deployment) -> None:
    deployment.manage("migrate", "--noinput", "--verbosity", "0")
    deployment.manage("createsuperuser", "--noinput", "--verbosity", "0")


def _environment(database_url: str, redis_url: str) -> dict:
    return os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": SECRET,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_ANON": "100000/min",
        "API_THROTTLE_USER": "100000/min",
        "DJANGO_SUPERUSER_USERNAME": ADMIN["username"],
        "DJANGO_SUPERUSER_EMAIL": ADMIN["email"],
        "DJANGO_SUPERUSER_PASSWORD": ADMIN["password"],
        "DJANGO_LOG_LEVEL": "WARNING",
        # No broker unless a test starts a worker (test_outbox.py): emails leave in-process.
        "CELERY_BROKER_URL": "",
    }


def drop(deployment: Deployment, database_url: str, name: str) -> None:
    deployment.stop_instances()
    with admin_connection(database_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def token_for(base: str) -> str:
    answer = call(base, "POST", "/api/v1/auth/token/", ADMIN)
    assert answer.status == 200, answer
    return answer.body["access"]


# --- services of the tests' own ------------------------------------------------------------------


def postgres_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


@dataclass
class RedisServer:
    """A Redis of a test's own, on a free port, stopped and started again as a fault."""

    port: int
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> "RedisServer":
        server = cls(free_port())
        server.resume()
        return server

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def resume(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                   "--save", "", "--appendonly", "no"]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, timeout=20)

    def halt(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def _answers(self) -> bool:
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        return subprocess.run(ping, capture_output=True).returncode == 0


def wait_for(condition, timeout: float = 60, every: float = 0.25) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(every)
    raise TimeoutError(f"still not true after {timeout} s")
