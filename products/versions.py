"""What a query depends on, and how often that has changed.

The database keeps the versions itself (`CatalogVersion`, moved by the triggers of migration
0004), so no write path can skip them. A query depends on the tables it reads and on the
columns its WHERE, ORDER BY, joins and annotations use: `topics_of()` finds them in the query
Django built, so a new filter, ordering or visibility rule brings its own topics with it. A
cached answer stamped with `current()` versions stays good while they do not move: a write of
one product's stock leaves lists that neither filter nor order by stock cached.
"""

from django.db.models import F
from django.db.models.expressions import Col
from django.db.models.sql import Query
from django.db.models.sql.datastructures import Join
from django.db.models.sql.where import WhereNode

from products.models import CatalogVersion


def current(topics) -> dict[str, int]:
    """The versions of `topics` (0 for a topic nothing has moved yet)."""
    found = dict(CatalogVersion.objects.filter(topic__in=topics).values_list("topic", "version"))
    return {topic: found.get(topic, 0) for topic in topics}


def topics_of(query: Query, *, ordered: bool = True) -> tuple[str, ...]:
    """The tables and columns that decide which rows `query` finds (and, `ordered`, in which
    order)."""
    topics: set[str] = set()
    _walk(query, topics, ordered)
    return tuple(sorted(topics))


def _walk(query: Query, topics: set[str], ordered: bool = True) -> None:
    meta = query.get_meta()
    topics.add(meta.db_table)
    for node in [query.where, *query.annotations.values()]:
        _collect(node, topics)
    for alias in query.alias_map.values():
        if isinstance(alias, Join):
            _join_columns(alias, query.alias_map[alias.parent_alias].table_name, topics)
    if not ordered:
        return
    for name in query.order_by or (meta.ordering if query.default_ordering else ()):
        if isinstance(name, str):
            _ordering_column(meta, name, topics)
        else:
            _collect(name, topics)


def _collect(node, topics: set[str]) -> None:
    if isinstance(node, Col):
        topics.add(node.target.model._meta.db_table)
        topics.add(f"{node.target.model._meta.db_table}.{node.target.column}")
        return
    if isinstance(node, Query):
        _walk(node, topics)
        return
    if isinstance(node, F):  # unresolved ordering by expression: its name is enough
        return
    children = node.children if isinstance(node, WhereNode) else _sources(node)
    for child in children:
        _collect(child, topics)


def _sources(node) -> list:
    expressions = list(getattr(node, "get_source_expressions", list)())
    for side in ("lhs", "rhs", "query"):  # lookups and subqueries keep theirs here
        value = getattr(node, side, None)
        if value is not None and not isinstance(value, str | int | float | bool):
            expressions.append(value)
    return [expression for expression in expressions if expression is not None]


def _join_columns(join: Join, parent_table: str, topics: set[str]) -> None:
    topics.update({parent_table, join.table_name})
    for near, far in join.join_cols:
        topics.add(f"{parent_table}.{near}")
        topics.add(f"{join.table_name}.{far}")


def _ordering_column(meta, name: str, topics: set[str]) -> None:
    field_name = name.lstrip("-")
    field = meta.pk if field_name == "pk" else meta.get_field(field_name)
    topics.add(f"{meta.db_table}.{field.column}")
