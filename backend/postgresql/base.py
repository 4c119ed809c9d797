"""Django's PostgreSQL backend with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django checks a persistent connection before the first query of each
request by sending `SELECT 1`: a round trip on every request, the same order of cost as the
primary-key lookup a detail read makes. A connection the server has closed (a restart, an
idle timeout, an administrator) is one whose socket has something to read while no query is
in flight: the server's farewell, or end-of-file. Reading that, without waiting, tells a dead
connection from a live one, and Django then opens a new one before the request's first query.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq

IDLE_READS = 4  # a notice or two, the farewell, then the end of the connection


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self._still_open():
            self.close()
        self.health_check_done = True

    def _still_open(self) -> bool:
        """Reads what the server sent while no query was in flight, until there is nothing left:
        its farewell (`terminating connection due to administrator command`) and the end of
        the connection that follows come in separate reads, and only the second shows it
        closed."""
        pgconn = self.connection.pgconn
        try:
            for _ in range(IDLE_READS):
                if pgconn.status != pq.ConnStatus.OK:
                    return False
                readable, _, _ = select.select([pgconn.socket], [], [], 0)
                if not readable:
                    return True
                pgconn.consume_input()
        except (OSError, ValueError, base.Database.Error):
            return False
        return pgconn.status == pq.ConnStatus.OK
