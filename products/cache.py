"""The catalog's shared caches (rendered list pages and list counts) and the version that keeps
them true.

Every catalog write, through the API, the admin or an import, calls `catalog_changed()` inside
its transaction; when the transaction commits, before the write is answered, the version in
the shared cache moves on, and every cached answer stored under an older version is never
served again. Entries also expire after API_CACHE_SECONDS, which bounds how long a write made
behind the application's back (raw SQL, a shell) can stay unseen.

The caches are on only when API_CACHE_SECONDS > 0, which by default means a shared (Redis)
cache is configured: with per-process memory caches, one process could not tell the others.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "catalog:version"


def enabled() -> bool:
    return settings.API_CACHE_SECONDS > 0


def catalog_changed() -> None:
    """Call from inside the write's transaction (or after the write, outside one)."""
    if enabled():
        transaction.on_commit(_move_version)


def _move_version() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet (a fresh or flushed cache): nothing to invalidate
        _start_version()


def _start_version() -> int:
    """A new version never equals one used before a flush: it is the clock, in nanoseconds."""
    version = time.time_ns()
    if cache.add(VERSION_KEY, version, timeout=None):
        return version
    return cache.get(VERSION_KEY) or version


def lookup(key: str) -> tuple[int, object | None]:
    """The current version and what is cached under `key` for it (None if nothing current).
    One round trip to the cache."""
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY) or _start_version()
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        return version, entry[1]
    return version, None


def store(key: str, version: int, value) -> None:
    cache.set(key, (version, value), timeout=settings.API_CACHE_SECONDS)


def cached(key: str, compute):
    """`compute()`'s value, shared by every process until the catalog next changes."""
    version, value = lookup(key)
    if value is None:
        value = compute()
        store(key, version, value)
    return value
