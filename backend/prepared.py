"""One row by primary key, with the SQL compiled once instead of on every request.

Django builds and compiles a queryset anew for each request: for a detail read on an indexed
key that costs more than the database takes to answer (about 0.5 ms of the ~1 ms a request
costs here). The question is always the same with another id, so the SQL, its parameters and
the row converters are taken from the queryset once, and each request only executes them.
"""

import time

import psycopg
from django.db import connections

MAX_ID = 2**63 - 1
_MARKER = -7_319_024_611  # an id no row has; found again in the compiled parameters


class RowByPk:
    """`rows.get(pk=...)` for a `.values()` queryset, as a dict or None."""

    def __init__(self, rows):
        query = rows.filter(pk=_MARKER)[:1].query
        self.alias = rows.db
        self.compiler = query.get_compiler(self.alias)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        self.marker_at = self.params.index(_MARKER)
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        fields = [selected[0] for selected in self.compiler.select[: self.compiler.col_count]]
        self.converters = self.compiler.get_converters(fields)

    def get(self, pk: int) -> dict | None:
        if not 0 < pk <= MAX_ID:  # a bigger id would overflow the column, not merely miss
            return None
        params = list(self.params)
        params[self.marker_at] = pk
        fetched = self._fetch(connections[self.alias], params)
        if not fetched:
            return None
        # The compiler's converters turn raw column values into Python ones, as the queryset's
        # iteration would (for instance SQLite's text timestamps).
        rows = (
            self.compiler.apply_converters(fetched, self.converters) if self.converters else fetched
        )
        return dict(zip(self.names, next(iter(rows)), strict=True))

    def _fetch(self, connection, params: list) -> list[tuple]:
        """On PostgreSQL a server-side prepared statement: after the first request the server
        skips parsing and planning (psycopg prepares it by name, per connection), and rows come
        back in binary, which is cheaper to read. Errors come out as Django's, and mark the
        connection for Django's end-of-request check."""
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                return cursor.fetchall()
        if connection.connection is None:
            connection.ensure_connection()
        started = time.monotonic()
        with connection.wrap_database_errors:
            cursor = _cursor_for(connection.connection)
            cursor.execute(self.sql, params, prepare=True, binary=True)
            fetched = cursor.fetchall()
        if connection.queries_logged:  # what Django's debug cursor records, for query counts
            seconds = f"{time.monotonic() - started:.3f}"
            connection.queries_log.append({"sql": self.sql % tuple(params), "time": seconds})
        return fetched


def _cursor_for(raw_connection) -> psycopg.Cursor:
    """One cursor per database connection, kept on it: making one costs more than using it."""
    cursor = getattr(raw_connection, "_row_by_pk_cursor", None)
    if cursor is None or cursor.closed:
        cursor = raw_connection._row_by_pk_cursor = psycopg.Cursor(raw_connection)
    return cursor
