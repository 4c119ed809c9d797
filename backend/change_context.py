"""Who is writing, for the database triggers that record each change (products/history.py).

A trigger sees every write, whatever made it, but not who asked or through which door: that is
the change context, `{"actor": user id, "via": ..., "request_id": ...}`. `ChangeContextMiddleware`
sets it for a request (via "admin" under /admin/, "api" elsewhere; the actor is whoever the
request is authenticated as when it writes); `changes_via()` sets it around other writers (an
import). With none set (the shell, a migration) the triggers record "system".

How it reaches the trigger:
- PostgreSQL: the transaction-local setting `catalog.change_context` (`set_config(..., true)`),
  set just before each write to a tracked table, in that write's own transaction (a write made
  outside one gets one). A local setting ends with its transaction, so through PgBouncer in
  transaction mode it never reaches another client's transaction.
- SQLite: a function of the connection, `change_context()`, reads it from Python.
"""

import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

SETTING = "catalog.change_context"
SQLITE_FUNCTION = "change_context"
VIA_API, VIA_ADMIN, VIA_IMPORT, VIA_SYSTEM = "api", "admin", "import", "system"
VIAS = (VIA_API, VIA_ADMIN, VIA_IMPORT, VIA_SYSTEM)
ADMIN_PREFIX = "/admin/"
WRITES = ("INSERT", "UPDATE", "DELETE")

_current: ContextVar[Callable[[], dict] | None] = ContextVar("change_context", default=None)


@contextmanager
def changes_via(via: str, *, actor_id: int | None = None, request_id: str | None = None):
    token = _current.set(lambda: {"actor": actor_id, "via": via, "request_id": request_id})
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str | None:
    """The context as JSON, or None when nothing set one."""
    context = _current.get()
    return None if context is None else json.dumps(context())


class ChangeContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        via = VIA_ADMIN if request.path_info.startswith(ADMIN_PREFIX) else VIA_API
        token = _current.set(lambda: _request_context(request, via))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


def _request_context(request, via: str) -> dict:
    """Read when a write happens: by then DRF has authenticated the caller."""
    user = getattr(request, "user", None)
    actor = user.pk if user is not None and user.is_authenticated else None
    return {"actor": actor, "via": via, "request_id": getattr(request, "id", None)}


def install(connection, tables: list[str]) -> None:
    """Make the context reach the triggers of `tables` on this connection (run for each new
    connection)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 0, current, deterministic=False)
        return
    passing = _ContextPassing(tables)
    if passing not in connection.execute_wrappers:
        connection.execute_wrappers.append(passing)


class _ContextPassing:
    """Sets the context in the transaction of each write to a tracked table (PostgreSQL)."""

    def __init__(self, tables: list[str]):
        self.tables = tuple(tables)
        names = "|".join(map(re.escape, self.tables))
        self.naming = re.compile(rf"\b(?:{names})\b")  # not products_productimage

    def __eq__(self, other):
        return isinstance(other, _ContextPassing) and other.tables == self.tables

    def __hash__(self):
        return hash(self.tables)

    def __call__(self, execute, sql, params, many, context):
        if not self._writes_tracked(sql):
            return execute(sql, params, many, context)
        connection, value = context["connection"], current()
        if connection.in_atomic_block:  # also clears what an earlier write of it set
            _set(connection, context["cursor"], value)
            return execute(sql, params, many, context)
        if value is None:  # a transaction of its own starts with nothing set
            return execute(sql, params, many, context)
        with transaction.atomic(using=connection.alias):
            _set(connection, context["cursor"], value)
            return execute(sql, params, many, context)

    def _writes_tracked(self, sql: str) -> bool:
        return sql.lstrip()[:6].upper() in WRITES and self.naming.search(sql) is not None


def _set(connection, cursor, value: str | None) -> None:
    """On the driver's cursor, beneath Django's: not a query of the application's own. Its
    errors are Django's as any query's are (a lost connection is a 503, not a 500)."""
    with connection.wrap_database_errors:
        cursor.cursor.execute("SELECT set_config(%s, %s, true)", [SETTING, value or ""])
