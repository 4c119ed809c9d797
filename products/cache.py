"""The shared cache of what a catalog list costs to find: how many rows match, and which rows a
page shows. The rows themselves are read afresh on every request, by id, so a cached answer
never shows a stale product; the cache spares the count and the search for the page.

Each entry is stamped with the versions of what its query depends on (`products.versions`,
moved by the database on every write) and is used only while they are unchanged, so a write
throws away only the entries it can affect, and the very next read sees it.

Keys are a digest of the query's WHERE and ORDER BY as Django compiled them from parameters
the filter set validated, in the filter set's own order: unknown parameters, their order in the
URL and spelled-out defaults make no new keys, and two callers share an entry only when their
queries are the same (a visibility rule that depends on the user or the time makes its own).

On only when API_CACHE_SECONDS > 0, which by default means a shared (Redis) cache is
configured.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db.models import QuerySet

from products import versions


def enabled() -> bool:
    return settings.API_CACHE_SECONDS > 0


class ListEntries:
    """One list request's entries: the count of `matching`, and the ids of the page that
    starts at row `start` (None when the page number is not a number: nothing is cached)."""

    def __init__(self, matching: QuerySet, start: int | None, size: int):
        query = matching.query
        self.topics = {
            "count": versions.topics_of(query, ordered=False),
            "page": versions.topics_of(query),
        }
        where = _where_digest(query)
        self.count_key = f"catalog:count:{where}"
        order = hashlib.blake2b(repr(query.order_by).encode(), digest_size=8).hexdigest()
        self.page_key = None if start is None else f"catalog:page:{where}:{order}:{start}:{size}"
        self.start = start
        self._stamps = None
        self._found = None

    def count(self, compute) -> int:
        value = self._current().get(self.count_key)
        if value is None:
            value = compute()
            self._store(self.count_key, value)
        return value

    def page_ids(self, start: int) -> list[int] | None:
        return self._current().get(self.page_key) if start == self.start else None

    def store_page(self, start: int, ids: list[int]) -> None:
        if start == self.start and self.page_key:
            self._store(self.page_key, ids)

    def _current(self) -> dict:
        """The entries still good, in one round trip to the cache after one to the database.
        The versions are read first: a write that lands while an entry is being built leaves
        it stamped with the versions before the write, so it is never used."""
        if self._found is None:
            now = versions.current({*self.topics["count"], *self.topics["page"]})
            self._stamps = {
                kind: tuple(now[topic] for topic in topics) for kind, topics in self.topics.items()
            }
            keys = {self.count_key: "count", self.page_key: "page"}
            self._found = {
                key: value
                for key, (stamp, value) in cache.get_many([k for k in keys if k]).items()
                if stamp == self._stamps[keys[key]]
            }
        return self._found

    def _store(self, key: str, value) -> None:
        kind = "count" if key == self.count_key else "page"
        stamp = self._stamps[kind]
        cache.set(key, (stamp, value), timeout=settings.API_CACHE_SECONDS)


def _where_digest(query) -> str:
    compiler = query.get_compiler(using=query.model.objects.db)
    try:
        sql, params = compiler.compile(query.where)
    except FullResultSet:
        sql, params = "", ()
    except EmptyResultSet:
        sql, params = "NOTHING", ()
    text = f"{query.model._meta.label}|{query.distinct}|{sql}|{params!r}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
