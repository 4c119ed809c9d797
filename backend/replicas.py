"""Read replicas (API.md, "Read replicas"): reads go to a replica, except where they must see a
write; a replica that is down or lagging is skipped, never a 5xx.

Installed only when DATABASE_REPLICA_URLS names replicas (settings: the aliases `replica1`...,
`ReplicaRouter` and `ReplicaMiddleware`). Which reads may go to a replica:

- only reads inside a request (`ReplicaMiddleware` opens a `RequestReads`): jobs, commands and
  the shell read from the primary, as they often read what was just written;
- never the accounts' state (`PRIMARY_ONLY_APPS`): a deactivated account, a revoked permission,
  an ended session or a browser log-out is refused at once, and a session or account made by the
  request before is found; throttling counts in the cache and reads no database;
- not the rest of a request that wrote, nor any of a request that may write (not GET, HEAD or
  OPTIONS: its checks, an SKU clash or an If-Match, must see the rows it writes over), nor a
  read for update (`select_for_update`, `get_or_create`: Django routes those as writes);
- not the same user's, or for an anonymous caller the same address's, requests for
  REPLICA_PIN_SECONDS after a write (a key in the shared cache, so every instance knows).

One request reads from one replica, chosen when it first reads: the catalog's list cache stamps
an entry with the versions it read before the rows (`products.cache`), and a replica replays the
primary's writes in order, so rows read after the versions from the same replica are never
older than the stamp. A request that goes from the replica to the primary meets newer rows,
which is safe; never the other way.

A replica is checked at most once a second per process (reachable, and its lag), and one that
could not be reached is left alone for five seconds; when a safe request fails with a 5xx after
reading from a replica that then turns out to be down, the request is run again on the primary.
"""

import contextlib
import contextvars
import logging
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA_PREFIX = "replica"
# Accounts, permissions, API sessions, browser sessions and refresh-token blacklists.
PRIMARY_ONLY_APPS = frozenset({"users", "auth", "sessions", "token_blacklist", "contenttypes"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHECK_EVERY_SECONDS = 1.0  # how long a reachable replica's verdict (usable or lagging) holds
DOWN_FOR_SECONDS = 5.0  # how long an unreachable replica is left alone before it is tried again

# How far behind the primary a replica is, in seconds: none when it has replayed everything it
# received and is still receiving (an idle primary writes nothing to replay, which is not lag);
# else the age of the last transaction replayed (none yet: as old as can be). Not a replica: 0.
# (pg_stat_wal_receiver shows its row, pid at least, to any user while the receiver runs.)
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
         AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
END
"""


def replica_aliases() -> list[str]:
    return [alias for alias in connections if alias.startswith(REPLICA_PREFIX)]


@dataclass
class Health:
    usable: bool
    check_again_at: float


_health: dict[str, Health] = {}  # per process; a race between threads only checks twice


def lag_of(alias: str) -> float:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(LAG_SQL if connection.vendor == "postgresql" else "SELECT 0")
        return float(cursor.fetchone()[0])


def is_usable(alias: str) -> bool:
    """Reachable and not lagging past REPLICA_MAX_LAG_SECONDS, as last checked."""
    known = _health.get(alias)
    if known is not None and time.monotonic() < known.check_again_at:
        return known.usable
    return check(alias)


def check(alias: str) -> bool:
    """Checked now. A lagging replica is reachable and cheap to ask again, and catching up: it
    is asked again after CHECK_EVERY_SECONDS, like a usable one; an unreachable one, whose
    connection attempt may wait for a timeout, after DOWN_FOR_SECONDS."""
    try:
        lag = lag_of(alias)
    except DatabaseError as error:
        logger.warning("Replica %s unreachable, reads go to the primary: %s", alias, error)
        mark_down(alias)
        return False
    usable = lag <= settings.REPLICA_MAX_LAG_SECONDS
    if not usable:
        logger.warning("Replica %s is %.1f s behind, reads go to the primary", alias, lag)
    _health[alias] = Health(usable, time.monotonic() + CHECK_EVERY_SECONDS)
    return usable


def mark_down(alias: str) -> None:
    _health[alias] = Health(False, time.monotonic() + DOWN_FOR_SECONDS)
    with contextlib.suppress(DatabaseError):  # a connection already broken: closed all the same
        connections[alias].close()


def choose_replica() -> str | None:
    candidates = replica_aliases()
    random.shuffle(candidates)
    return next((alias for alias in candidates if is_usable(alias)), None)


# --- what one request may read where ---------------------------------------------------------


def pin_key(request) -> str:
    """The user's, else the client address's (DRF's rule, through API_NUM_PROXIES)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"replica-pin:user:{user.pk}"
    return f"replica-pin:address:{BaseThrottle().get_ident(request)}"


def is_pinned(request) -> bool:
    """Wrote in the last REPLICA_PIN_SECONDS; a cache that does not answer: pinned, to be safe."""
    try:
        return cache.get(pin_key(request)) is not None
    except RedisError:
        return True


def pin(request) -> None:
    try:
        cache.set(pin_key(request), 1, timeout=settings.REPLICA_PIN_SECONDS)
    except RedisError:
        logger.warning("Cache down: this client's next reads may not see its write yet")


class RequestReads:
    """Where this request reads: decided at its first read that could go to a replica, and from
    then on only ever moved to the primary."""

    def __init__(self, request, *, on_primary: bool = False):
        self.request = request
        self.on_primary = on_primary or request.method not in SAFE_METHODS
        self.wrote = False
        self.replica: str | None = None
        self.decided = self.on_primary

    def alias(self) -> str:
        if not self.decided:
            self.decided = True
            self.on_primary = is_pinned(self.request)
            self.replica = None if self.on_primary else choose_replica()
        if self.on_primary or self.replica is None:
            return PRIMARY
        return self.replica

    def writing(self) -> None:
        self.wrote = self.decided = self.on_primary = True


_reads: contextvars.ContextVar[RequestReads | None] = contextvars.ContextVar(
    "replica_reads", default=None
)


class ReplicaRouter:
    """DATABASE_ROUTERS, with replicas: writes and migrations on the primary only."""

    def db_for_read(self, model, **hints):
        reads = _reads.get()
        if reads is None or model._meta.app_label in PRIMARY_ONLY_APPS:
            return PRIMARY
        return reads.alias()

    def db_for_write(self, model, **hints):
        reads = _reads.get()
        if reads is not None:
            reads.writing()
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same data

    def allow_migrate(self, db, app_label, **hints):
        return db == PRIMARY


class ReplicaMiddleware:
    """Opens each request's `RequestReads`, pins its caller when it wrote, and runs a safe
    request again on the primary when it failed on a replica that is down."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reads = RequestReads(request)
        response = self._run(request, reads)
        if reads.replica and response.status_code >= 500 and not check(reads.replica):
            logger.warning("Replica %s failed mid-request: run again on the primary", reads.replica)
            again = RequestReads(request, on_primary=True)
            response = self._run(request, again)
            reads.wrote |= again.wrote
        if reads.wrote:
            pin(request)
        return response

    def _run(self, request, reads: RequestReads):
        token = _reads.set(reads)
        try:
            return self.get_response(request)
        finally:
            _reads.reset(token)
