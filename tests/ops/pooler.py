"""A PostgreSQL of the test's own (a primary, or a replica streaming from one), and PgBouncer in
front of it, as production runs the app (API.md, "Connection poolers": transaction pooling).

The cluster is throwaway (initdb in a temporary directory, its own port), so it can be
restarted without touching the machine's. PgBouncer is started and stopped by `.ci/pgbouncer`,
the one place its configuration is written. Both are stopped by their process ids."""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ops.servers import PROJECT, free_port, postgres_version

PGBOUNCER = str(PROJECT / ".ci" / "pgbouncer")


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root, and PgBouncer switches away from it."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _private_directory(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    return directory


@dataclass
class Cluster:
    """PostgreSQL in a temporary directory, on 127.0.0.1 only, no password (trust)."""

    directory: Path
    port: int

    @classmethod
    def create(cls) -> "Cluster":
        cluster = cls(_private_directory("catalog-pgb-cluster-"), free_port())
        cluster._pg("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        cluster.start()
        return cluster

    @classmethod
    def replica_of(cls, primary: "Cluster") -> "Cluster":
        """A hot standby streaming from `primary` (which initdb's defaults allow: wal_level
        replica, WAL senders, replication trusted on 127.0.0.1); -R makes it follow. The
        primary's checkpoint is taken at once, not spread over minutes as by default."""
        replica = cls(_private_directory("catalog-replica-cluster-"), free_port())
        replica._pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(replica.data), "-X", "stream", "-R", "--no-sync",
                    "--checkpoint=fast")  # fmt: skip
        replica.start()
        return replica

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _pg(self, program: str, *args: str) -> None:
        binary = f"/usr/lib/postgresql/{postgres_version()}/bin/{program}"
        subprocess.run(
            [*_as_postgres(), binary, *args], check=True, timeout=90, stdout=subprocess.DEVNULL
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.directory} -c fsync=off -c full_page_writes=off"
        )
        log = str(self.directory / "server.log")
        self._pg("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, as in a restart or a failover."""
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


@dataclass
class PgBouncer:
    """PgBouncer in transaction pooling mode, every database name sent to one server."""

    directory: Path
    port: int

    upstream_port: int

    @classmethod
    def start(cls, upstream_port: int) -> "PgBouncer":
        directory = Path(tempfile.mkdtemp(prefix="catalog-pgb-bouncer-"))
        bouncer = cls(directory, free_port(), upstream_port)
        bouncer.resume()
        return bouncer

    def resume(self) -> None:
        where = [str(self.directory), str(self.port), str(self.upstream_port)]
        subprocess.run([PGBOUNCER, "start", *where], check=True, timeout=300)

    def halt(self) -> None:
        subprocess.run([PGBOUNCER, "stop", str(self.directory)], check=True, timeout=30)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"
