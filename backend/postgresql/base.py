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


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self._still_open():
            self.close()
        self.health_check_done = True

    def _still_open(self) -> bool:
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        try:
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
            if readable:  # nothing was asked: a notice, or the server saying goodbye
                pgconn.consume_input()
        except (OSError, ValueError, base.Database.Error):
            return False
        return pgconn.status == pq.ConnStatus.OK
