"""The shared cache of catalog lists: how many rows match, which rows a page shows, and that
page's rows as rendered.

Each entry is stamped with the versions of what it depends on (`products.versions`, moved by
the database on every write) and is used only while they are unchanged:
- a count and a page's ids depend on the columns their query filters and orders by, so a write
  throws them away only when it can change them (a stock write keeps every list that neither
  filters nor orders by stock);
- a rendered page shows every column, so any catalog write throws it away; the page is then
  rendered again from rows read afresh by id, which costs one small query, not a count and a
  search.

Keys are a digest of the query's WHERE and ORDER BY as Django compiled them from parameters
the filter set validated, in the filter set's own order: unknown parameters, their order in the
URL and spelled-out defaults make no new keys, and two callers share an entry only when their
queries are the same (a visibility rule that depends on the user or the time makes its own).
The links to other pages are not cached: they are built from each request's own URL.

Other answers computed from queries alone (the product list's facet counts) are kept the same
way by `remembered()`, stamped with the versions of everything those queries read.

On only when API_CACHE_SECONDS > 0, which by default means a shared (Redis) cache is
configured.
"""

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from backend.queries import where_digest
from products import versions
from products.models import subtrees_in, subtrees_known


def enabled() -> bool:
    return settings.API_CACHE_SECONDS > 0


class ListEntries:
    """One list request's entries: the count of `matching`, and the ids and the rendered rows of
    the page that starts at row `start` (None when the page number is not a number: no page is
    cached)."""

    def __init__(self, matching: QuerySet, start: int | None, size: int):
        query = matching.query
        self.topics = {
            "count": versions.topics_of(query, ordered=False),
            "ids": versions.topics_of(query),
        }
        where = where_digest(query)
        order = hashlib.blake2b(repr(query.order_by).encode(), digest_size=8).hexdigest()
        page = None if start is None else f"catalog:page:{where}:{order}:{start}:{size}"
        self.keys = {
            "count": f"catalog:count:{where}",
            "ids": page,
            "rendered": page and f"{page}:r",
        }
        self.start = start
        self.table = matching.model._meta.db_table
        self.subtrees = subtrees_in(query.where)
        self._subtree_ids: dict[tuple, list[int]] = {}
        self._stamps: dict[str, int] = {}
        self._found: dict[str, object] | None = None

    def count(self, compute) -> int:
        value = self._current().get("count")
        if value is None:
            with self.subtrees_known():
                value = compute()
            self._store("count", value)
        return value

    def subtrees_known(self):
        """Within, the query's category subtrees are named by the ids read with the versions
        (products.models.InSubtrees): call after `count()` or `page()`."""
        return subtrees_known(self._subtree_ids)

    def page(self, start: int, kind: str):
        """The page's "ids", or its "rendered" rows, if still good."""
        if start != self.start:
            return None
        found = self._current().get(kind)
        return found[1] if kind == "rendered" and found else found

    def store_ids(self, start: int, ids: list[int]) -> None:
        if start == self.start and self.keys["ids"]:
            self._store("ids", ids)

    def store_rendered(self, start: int, ids: list[int], rendered: bytes) -> None:
        """Only for rows whose versions were read with the others: a page found anew this
        time is rendered and cached by the next request, which reads them."""
        if start == self.start and self.keys["rendered"] and set(ids) <= self._rows_read:
            stamp = self._rendered_stamp(ids)
            cache.set(self.keys["rendered"], (stamp, (ids, rendered)), self._timeout)

    def _current(self) -> dict:
        """The entries still good: one round trip to the cache, then one small query for the
        versions, those of the cached pages' rows included. A new entry is stamped with these
        versions, read before anything it holds: a write that lands meanwhile leaves it
        stamped with the versions before the write, so it is never used."""
        if self._found is None:
            kinds = {key: kind for kind, key in self.keys.items() if key}
            entries = {kinds[key]: entry for key, entry in cache.get_many(list(kinds)).items()}
            ids = [*entries.get("ids", (0, []))[1], *entries.get("rendered", (0, ([], b"")))[1][0]]
            self._rows_read = set(ids)
            self._versions, self._subtree_ids = versions.current_and_subtrees(
                [versions.row_topic(self.table, pk) for pk in ids], self.subtrees
            )
            self._stamps = {
                kind: versions.stamp(self._versions, topics) for kind, topics in self.topics.items()
            }
            self._found = {
                kind: value
                for kind, (stamp, value) in entries.items()
                if stamp
                == (self._rendered_stamp(value[0]) if kind == "rendered" else self._stamps[kind])
            }
        return self._found

    def _rendered_stamp(self, ids: list[int]) -> int:
        return versions.rendered_stamp(self._versions, self.table, ids, self.topics["ids"])

    def _store(self, kind: str, value) -> None:
        cache.set(self.keys[kind], (self._stamps[kind], value), self._timeout)

    @property
    def _timeout(self) -> int:
        return settings.API_CACHE_SECONDS


def remembered(kind: str, queries: list[QuerySet], compute: Callable[[], dict]) -> dict:
    """`compute()`, an answer found by running `queries` (a `kind` of answer runs the same
    queries in the same order), from the cache while nothing they read has changed: one round
    trip to the cache and one small query for the versions. The versions are read before
    `compute()` runs, so a write meanwhile leaves the entry stamped as before it, never used."""
    if not enabled():
        return compute()
    topics = {
        topic for query in queries for topic in versions.topics_of(query.query, ordered=False)
    }
    wheres = "|".join(where_digest(query.query) for query in queries)
    key = f"catalog:{kind}:{hashlib.blake2b(wheres.encode(), digest_size=16).hexdigest()}"
    stamp = versions.stamp(versions.current(), topics)
    found = cache.get(key)
    if found is not None and found[0] == stamp:
        return found[1]
    value = compute()
    cache.set(key, (stamp, value), settings.API_CACHE_SECONDS)
    return value
