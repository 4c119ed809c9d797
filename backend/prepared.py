"""Querysets compiled once instead of on every request.

Django builds and compiles a queryset anew for each request: for a detail read on an indexed
key that costs more than the database takes to answer (about 0.5 ms of the ~1 ms a request
costs here), and for a list page it is much of what the application spends. When the question
is always the same (or the same with another id), the SQL, its parameters and the row
converters are taken from the queryset once, and each request only executes them.
"""

import time

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections

MAX_ID = 2**63 - 1
_MARKER = -7_319_024_611  # an id no row has; found again in the compiled parameters


class CompiledRows:
    """A `.values()` queryset's rows, as dicts, from SQL compiled when this is made."""

    def __init__(self, rows):
        self._compile(rows.query, rows.db)

    def _compile(self, query, alias: str) -> None:
        self.alias = alias
        self.compiler = query.get_compiler(alias)
        try:
            self.sql, params = self.compiler.as_sql()
        except EmptyResultSet:  # Django knows there can be no row (`pk__in=[]`, say): no query
            self.sql, params = None, []
        self.params = list(params)
        self.names = [*query.extra_select, *query.values_select, *query.annotation_select]
        fields = [selected[0] for selected in self.compiler.select[: self.compiler.col_count]]
        self.converters = self.compiler.get_converters(fields)

    def fetch(self, params: list | None = None) -> list[dict]:
        if self.sql is None:
            return []
        fetched = _fetch(
            connections[self.alias], self.sql, self.params if params is None else params
        )
        # The compiler's converters turn raw column values into Python ones, as the queryset's
        # iteration would (for instance SQLite's text timestamps).
        rows = (
            self.compiler.apply_converters(fetched, self.converters) if self.converters else fetched
        )
        return [dict(zip(self.names, row, strict=True)) for row in rows]


class RowByPk(CompiledRows):
    """`rows.get(pk=...)` for a `.values()` queryset, as a dict or None."""

    def __init__(self, rows):
        self._compile(rows.filter(pk=_MARKER)[:1].query, rows.db)
        self.marker_at = self.params.index(_MARKER)

    def get(self, pk: int) -> dict | None:
        if not 0 < pk <= MAX_ID:  # a bigger id would overflow the column, not merely miss
            return None
        params = list(self.params)
        params[self.marker_at] = pk
        found = self.fetch(params)
        return found[0] if found else None


class CompiledCount:
    """`queryset.count()`, from SQL compiled when this is made."""

    def __init__(self, queryset):
        self.alias = queryset.db
        matching = queryset.order_by().values("pk").query
        try:
            inner, params = matching.get_compiler(self.alias).as_sql()
        except EmptyResultSet:
            self.sql, self.params = None, []
            return
        self.sql = f"SELECT COUNT(*) FROM ({inner}) matching"
        self.params = list(params)

    def fetch(self) -> int:
        if self.sql is None:
            return 0
        return _fetch(connections[self.alias], self.sql, self.params)[0][0]


def _fetch(connection, sql: str, params: list) -> list[tuple]:
    """On PostgreSQL a server-side prepared statement: after the first request the server skips
    parsing and planning (psycopg prepares it by name, per connection), and rows come back in
    binary, which is cheaper to read. Errors come out as Django's, and mark the connection for
    Django's end-of-request check."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    if connection.connection is None:
        connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors:
        cursor = _cursor_for(connection.connection)
        cursor.execute(sql, params, prepare=True, binary=True)
        fetched = cursor.fetchall()
    if connection.queries_logged:  # what Django's debug cursor records, for query counts
        seconds = f"{time.monotonic() - started:.3f}"
        connection.queries_log.append({"sql": sql % tuple(params), "time": seconds})
    return fetched


def _cursor_for(raw_connection) -> psycopg.Cursor:
    """One cursor per database connection, kept on it: making one costs more than using it."""
    cursor = getattr(raw_connection, "_row_by_pk_cursor", None)
    if cursor is None or cursor.closed:
        cursor = raw_connection._row_by_pk_cursor = psycopg.Cursor(raw_connection)
    return cursor
