"""The production topology, started for a test and stopped afterwards by process id: nginx
terminating TLS in front of two gunicorn instances, PgBouncer in transaction pooling mode in
front of a PostgreSQL primary of the test's own, a streaming replica of it (pg_basebackup) that
serves the reads, a Redis of the test's own (cache and job queue) and a Celery worker. Any part
can be stopped and started again on its own address, as a fault.

Nothing here touches the machine's PostgreSQL or Redis."""

import contextlib
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ops.pooler import Cluster, PgBouncer
from tests.ops.proxy import Proxy
from tests.ops.servers import Deployment, RedisServer, deploy, trust
from tests.ops.test_outbox import start_worker

DATABASE = "catalog_topology"


@dataclass
class Topology:
    cluster: Cluster
    replica: Cluster
    bouncer: PgBouncer
    redis: RedisServer
    deployment: Deployment
    proxy: Proxy
    ports: list[int]
    mail: Path

    @property
    def base(self) -> str:
        return self.proxy.base

    def stop_instance(self, n: int) -> None:
        """As a deploy restarts one: nginx stops sending it requests (`down`, a reload), then a
        graceful stop (SIGTERM) answers what is in flight."""
        self._balance(draining=n)
        process = self.deployment.processes[n]
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=40)

    def start_instance(self, n: int) -> None:
        self.deployment.start_instance(port=self.ports[n])
        self.deployment.processes.insert(n, self.deployment.processes.pop())
        self._balance()

    def _balance(self, draining: int | None = None) -> None:
        self.proxy.balance(
            [
                f"127.0.0.1:{port}" + (" down" if n == draining else "")
                for n, port in enumerate(self.ports)
            ]
        )

    def kill_worker(self) -> None:
        worker = self.deployment.processes[-1]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=20)
        self.deployment.processes.pop()

    def start_worker(self) -> None:
        start_worker(self.deployment)


@contextlib.contextmanager
def topology(setup: tuple[tuple[str, ...], ...] = (), **extra_env: str):
    """Started in dependency order, stopped in reverse. `setup`: management commands run once
    the database is migrated, before anything serves. `extra_env` adds to (or overrides) the
    instances' and the worker's settings; a `MEDIA_ROOT` there is also what nginx serves."""
    with contextlib.ExitStack() as cleanup:
        cluster = Cluster.create()
        cleanup.callback(cluster.remove)
        bouncer = PgBouncer.start(cluster.port)
        cleanup.callback(bouncer.stop)
        redis = RedisServer.start()
        cleanup.callback(redis.halt)
        mail = Path(tempfile.mkdtemp(prefix="catalog-topology-mail-"))
        cleanup.callback(shutil.rmtree, mail, ignore_errors=True)
        settings = {
            "DATABASE_POOL_MODE": "transaction",
            "DJANGO_HTTPS": "true",
            "API_NUM_PROXIES": "1",
            "CELERY_BROKER_URL": redis.url(1),
            "EMAIL_URL": f"filemail:///{mail}",  # four slashes: an absolute directory
        }
        deployment = deploy(bouncer.url(DATABASE), redis.url(0), DATABASE, **settings | extra_env)
        for command in setup:
            deployment.manage(*command)
        replica = Cluster.replica_of(cluster)
        cleanup.callback(replica.remove)
        deployment.env["DATABASE_REPLICA_URLS"] = replica.url(DATABASE)
        cleanup.callback(deployment.stop_instances)
        bases = [deployment.start_instance(), deployment.start_instance()]
        proxy = Proxy.start(bases, media_root=extra_env.get("MEDIA_ROOT", ""))
        cleanup.callback(proxy.stop)
        trust(proxy.directory / "cert.pem")
        start_worker(deployment)
        ports = [int(base.rsplit(":", 1)[1]) for base in bases]
        yield Topology(cluster, replica, bouncer, redis, deployment, proxy, ports, mail)
