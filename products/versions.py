"""What a query depends on, and how often that has changed.

Triggers move the versions, so every write path does: the API, the admin, imports, the shell,
`QuerySet.update`, `bulk_create` and raw SQL alike. PostgreSQL: statement-level triggers;
inserting, deleting or truncating moves `<table>`; an UPDATE moves `<table>.<column>` for each
column whose value it changed in at least one row (found generically from the transition
tables, so a column added later needs no new trigger), and `<table>` too if it changed an id;
it also moves `<table>#<id>` for each row it changed (`CatalogRowVersion`), which is how a
rendered page knows whether any of its rows changed.
SQLite (development and tests) has row-level triggers only, with no generic way to name the
changed columns: there every write moves `<table>`, which invalidates more but never less.

The database keeps the versions itself (`CatalogVersion`, moved by the triggers of migration
0004), so no write path can skip them. A query depends on the tables it reads and on the
columns its WHERE, ORDER BY, joins, selected values and annotations use: `topics_of()` finds
them in the query Django built, so a new filter, ordering or visibility rule brings its own
topics with it. A cached answer stamped with `current()` versions stays good while they do not
move: a write of one product's stock leaves lists that neither filter nor order by stock cached.
"""

from django.db import connections, router
from django.db.models import F
from django.db.models.expressions import Col
from django.db.models.sql import Query
from django.db.models.sql.datastructures import Join
from django.db.models.sql.where import WhereNode

from products.models import (
    CatalogRowVersion,
    CatalogVersion,
    Category,
    InSubtrees,
    Product,
    ProductImage,
)

WALKED = "subtree "  # what marks a walk's ids among the versions read with it: no topic has a space


def current(rows: list[str] = ()) -> dict[str, int]:
    """Every table and column topic's version (a few dozen), and those of the `rows` topics
    asked for (`row_topic()`), in one small query."""
    return current_and_subtrees(rows)[0]


def current_and_subtrees(
    rows: list[str] = (), subtrees: list[InSubtrees] = ()
) -> tuple[dict[str, int], dict[tuple, list[int]]]:
    """`current(rows)`, and the ids each of the `subtrees` conditions walks to (by its
    `subtree`), read in the same statement: as of the moment the versions are."""
    table = CatalogVersion._meta.db_table
    parts, params = [f"SELECT topic, version FROM {table}"], list(rows)
    if rows:
        marks = ", ".join(["%s"] * len(rows))
        parts.append(
            f"SELECT topic, version FROM {CatalogRowVersion._meta.db_table}"
            f" WHERE topic IN ({marks})"
        )
    for number, subtree in enumerate(subtrees):
        parts.append(f"SELECT '{WALKED}{number}', id FROM ({subtree.walk}) AS walked")
        params += subtree.roots
    # Where the request reads the rows these versions stamp (a replica, backend.replicas): read
    # there first, the rows are never older than the stamp.
    with connections[router.db_for_read(CatalogVersion)].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        found = cursor.fetchall()
    versions, walked = {}, [[] for _ in subtrees]
    for topic, value in found:
        if topic.startswith(WALKED):
            walked[int(topic.removeprefix(WALKED))].append(value)
        else:
            versions[topic] = value
    return versions, {subtree.subtree: ids for subtree, ids in zip(subtrees, walked, strict=True)}


def row_topic(table: str, pk) -> str:
    return f"{table}#{pk}"


def rendered_stamp(versions: dict[str, int], table: str, ids: list, page_topics) -> int:
    """What a rendered page of `table`'s rows `ids` depends on: which rows the page holds
    (`page_topics`), what those rows show (their own row topics), and every other table (a
    category's name shows in its products). Other columns of other rows of `table` do not
    matter: a product's stock change so throws away only the pages that show that product."""
    columns = f"{table}."
    shown = stamp(versions, (row_topic(table, pk) for pk in ids))
    others = sum(
        v for topic, v in versions.items() if not topic.startswith(columns) and "#" not in topic
    )
    page = stamp(versions, (topic for topic in page_topics if topic.startswith(columns)))
    return shown + others + page


def stamp(versions: dict[str, int], topics) -> int:
    """One number that moves whenever any of `topics` moves: versions only ever grow, so their
    sum grows with each of them."""
    return sum(versions.get(topic, 0) for topic in topics)


def topics_of(query: Query, *, ordered: bool = True) -> tuple[str, ...]:
    """The tables and columns that decide which rows `query` finds (and, `ordered`, in which
    order)."""
    topics: set[str] = set()
    _walk(query, topics, ordered)
    return tuple(sorted(topics))


def _walk(query: Query, topics: set[str], ordered: bool = True) -> None:
    meta = query.get_meta()
    topics.add(meta.db_table)
    for node in [query.where, *query.select, *query.annotations.values()]:
        _collect(node, topics)
    for part in query.combined_queries:  # a UNION's own queries
        _walk(part, topics, ordered=False)
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
    topics.update(getattr(node, "topics", ()))  # what SQL written by hand reads (InSubtrees)
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


# --- the triggers -----------------------------------------------------------------------------

POSTGRES_FUNCTIONS = """
CREATE OR REPLACE FUNCTION catalog_version_move(topics text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO products_catalogversion (topic, version)
    SELECT topic, 1 FROM unnest(topics) AS topic ORDER BY topic
    ON CONFLICT (topic) DO UPDATE SET version = products_catalogversion.version + 1
$$;

CREATE OR REPLACE FUNCTION catalog_version_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog_version_move(ARRAY[TG_TABLE_NAME::text]);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION catalog_version_columns_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog_version_move(ARRAY(
        SELECT DISTINCT TG_TABLE_NAME || '.' || changed.key
        FROM old_rows o JOIN new_rows n ON n.id = o.id,
             LATERAL jsonb_each(to_jsonb(n)) AS changed
        WHERE to_jsonb(o) -> changed.key IS DISTINCT FROM changed.value
    ));
    IF EXISTS (SELECT id FROM new_rows EXCEPT SELECT id FROM old_rows) THEN
        PERFORM catalog_version_move(ARRAY[TG_TABLE_NAME::text]);
    END IF;
    INSERT INTO products_catalogrowversion (topic, version)
    SELECT TG_TABLE_NAME || '#' || n.id, 1
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE to_jsonb(o) IS DISTINCT FROM to_jsonb(n)
    ORDER BY 1
    ON CONFLICT (topic) DO UPDATE SET version = products_catalogrowversion.version + 1;
    RETURN NULL;
END $$;
"""

POSTGRES_TRIGGERS = """
CREATE OR REPLACE TRIGGER {table}_version_rows AFTER INSERT OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_rows_changed();
CREATE OR REPLACE TRIGGER {table}_version_columns AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_columns_changed();
"""

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {table}_version_{event} AFTER {event} ON {table} FOR EACH ROW BEGIN
    INSERT INTO products_catalogversion (topic, version) VALUES ('{table}', 1)
    ON CONFLICT (topic) DO UPDATE SET version = version + 1;
END;
"""
SQLITE_EVENTS = ["insert", "update", "delete"]


def versioned_tables() -> list[str]:
    """Every table a catalog answer shows: a product's images are part of it, so adding,
    changing or removing one moves the versions too (its table's, which every rendered page
    depends on: `rendered_stamp`)."""
    return [Product._meta.db_table, Category._meta.db_table, ProductImage._meta.db_table]


def install_triggers(connection) -> None:
    """Create (or re-create) every trigger; safe to run again at any time. A table a later
    migration creates is skipped until then (that migration's `migrate` puts its triggers on)."""
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        tables = [table for table in versioned_tables() if table in existing]
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_FUNCTIONS)
            for table in tables:
                cursor.execute(POSTGRES_TRIGGERS.format(table=table))
            return
        for table in tables:
            for event in SQLITE_EVENTS:
                cursor.execute(SQLITE_TRIGGER.format(table=table, event=event))


def remove_triggers(connection) -> None:
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        for table in [table for table in versioned_tables() if table in existing]:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_version_rows ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_version_columns ON {table}")
            else:
                for event in SQLITE_EVENTS:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_version_{event}")
        if connection.vendor == "postgresql":
            for function in ("rows_changed()", "columns_changed()", "move(text[])"):
                cursor.execute(f"DROP FUNCTION IF EXISTS catalog_version_{function}")
