"""The change history of each product and category (API.md, "Change history").

Database triggers record every write (`CatalogChange`), so every write path is recorded with
no caller having to remember it: the API, the admin's forms, list edits and actions, imports,
the shell, `QuerySet.update`, `bulk_create` and raw SQL alike. Who wrote, and through which
door, comes from the change context (`backend.change_context`). A row's record holds the fields
the write changed, `{column: [old, new]}`, among the resource's recorded fields
(`Resource.history_fields`); a write that changed none of them (a save of the same values) is
not recorded. A creation lists the fields it set, a deletion the fields the row had.

PostgreSQL: statement-level triggers with transition tables, so a write statement costs one
more statement however many rows it touches (an import's UPDATE of a whole catalog included);
the changed fields are found generically from the rows as JSON, among the columns the trigger
is given. SQLite (development, the first CI stage) has row-level triggers only: one INSERT a
row, with the columns spelled out; the context comes from a function each Django connection
registers, so a write from another program (the sqlite3 shell) fails rather than go unrecorded.

Why not django-pghistory: it covers PostgreSQL only, so SQLite would need triggers of our own
anyway, in another shape; and its triggers are row-level, with an upsert of the context on every
row, where a statement-level trigger writes one statement per write statement.
"""

from django.db.models import QuerySet

from backend.change_context import SETTING, SQLITE_FUNCTION, VIA_SYSTEM
from products.models import CatalogChange
from products.resources import CATEGORY, PRODUCT, Resource, utc_timestamp

RECORDS = CatalogChange._meta.db_table
INSERTED = f"INSERT INTO {RECORDS} (table_name, object_id, at, actor_id, via, request_id, changes)"

POSTGRES_RECORD = f"""
        {INSERTED}
        SELECT TG_TABLE_NAME, {{row}}.id, statement_timestamp(), (context ->> 'actor')::bigint,
               COALESCE(context ->> 'via', '{VIA_SYSTEM}'), context ->> 'request_id', d.changes
        FROM {{rows}}, catalog_change_diff({{old}}, {{new}}, TG_ARGV) AS d(changes)
        WHERE d.changes IS NOT NULL ORDER BY {{row}}.id;"""
# Each event reads the transition tables it has (an INSERT has no old rows to name).
POSTGRES_INSERTED = POSTGRES_RECORD.format(
    row="n", rows="new_rows n", old="NULL", new="to_jsonb(n)"
)
POSTGRES_UPDATED = POSTGRES_RECORD.format(
    row="n", rows="old_rows o JOIN new_rows n ON n.id = o.id", old="to_jsonb(o)", new="to_jsonb(n)"
)
POSTGRES_DELETED = POSTGRES_RECORD.format(row="o", rows="old_rows o", old="to_jsonb(o)", new="NULL")
POSTGRES_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION catalog_change_diff(old jsonb, new jsonb, columns text[])
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(
        col, jsonb_build_array(COALESCE(old -> col, 'null'), COALESCE(new -> col, 'null')))
    FROM unnest(columns) AS col
    WHERE COALESCE(old -> col, 'null') IS DISTINCT FROM COALESCE(new -> col, 'null')
$$;

CREATE OR REPLACE FUNCTION catalog_change_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    context jsonb := NULLIF(current_setting('{SETTING}', true), '')::jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN{POSTGRES_INSERTED}
    ELSIF TG_OP = 'UPDATE' THEN{POSTGRES_UPDATED}
    ELSE{POSTGRES_DELETED}
    END IF;
    RETURN NULL;
END $$;
"""

POSTGRES_TRIGGER = """
CREATE OR REPLACE TRIGGER {table}_change_{event} AFTER {event} ON {table}
    REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION catalog_change_record({columns});
"""
POSTGRES_TRANSITIONS = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}

SQLITE_TRIGGER = f"""
CREATE TRIGGER {{table}}_change_{{event}} AFTER {{event}} ON {{table}} FOR EACH ROW {{when}}
BEGIN
    {INSERTED}
    SELECT '{{table}}', {{row}}.id, strftime('%Y-%m-%d %H:%M:%f', 'now'),
           json_extract(context, '$.actor'), COALESCE(json_extract(context, '$.via'),
           '{VIA_SYSTEM}'), json_extract(context, '$.request_id'), changes
    FROM (SELECT {SQLITE_FUNCTION}() AS context, (
        SELECT json_group_object(col, json_array(old, new)) FROM ({{values}}) WHERE old IS NOT new
    ) AS changes);
END;
"""
SQLITE_ROWS = {"insert": ("NULL", "NEW"), "update": ("OLD", "NEW"), "delete": ("OLD", "NULL")}


def recorded() -> list[Resource]:
    return [PRODUCT, CATEGORY]


def recorded_tables() -> list[str]:
    return [resource.model._meta.db_table for resource in recorded()]


def install_triggers(connection) -> None:
    """Create (or re-create) every trigger, for the recorded columns the tables have now: a
    migration that runs before a later one adds a column gets triggers without it, and the
    re-install after every migrate (products.apps) brings them up to date."""
    with connection.cursor() as cursor:
        if RECORDS not in connection.introspection.table_names(cursor):
            return  # migrated back to before the history: nowhere to record
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_FUNCTIONS)
        for resource in recorded():
            table = resource.model._meta.db_table
            present = {
                c.name for c in connection.introspection.get_table_description(cursor, table)
            }
            columns = [column for column in resource.history_columns if column in present]
            for event in POSTGRES_TRANSITIONS:
                for sql in _trigger_sql(connection, table, event, columns):
                    cursor.execute(sql)


def _trigger_sql(connection, table: str, event: str, columns: list[str]) -> list[str]:
    if connection.vendor == "postgresql":
        quoted = ", ".join(f"'{column}'" for column in columns)
        transitions = POSTGRES_TRANSITIONS[event]
        sql = POSTGRES_TRIGGER.format(
            table=table, event=event, transitions=transitions, columns=quoted
        )
        return [sql]
    drop = f"DROP TRIGGER IF EXISTS {table}_change_{event}"
    return [drop, _sqlite_trigger(table, event, columns)]


def _sqlite_trigger(table: str, event: str, columns: list[str]) -> str:
    old, new = SQLITE_ROWS[event]
    values = " UNION ALL ".join(
        f"SELECT '{column}' AS col, {_column(old, column)} AS old, {_column(new, column)} AS new"
        for column in columns
    )
    when = ""
    if event == "update":
        when = "WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    row = "NEW" if event == "insert" else "OLD"
    return SQLITE_TRIGGER.format(table=table, event=event, when=when, values=values, row=row)


def _column(row: str, column: str) -> str:
    return "NULL" if row == "NULL" else f"{row}.{column}"


def remove_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for table in recorded_tables():
            for event in POSTGRES_TRANSITIONS:
                on = f" ON {table}" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_change_{event}{on}")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS catalog_change_record()")
            cursor.execute("DROP FUNCTION IF EXISTS catalog_change_diff(jsonb, jsonb, text[])")


# --- reading ------------------------------------------------------------------------------------


def changes_of(resource: Resource, pk: int) -> QuerySet:
    """The records of one row, newest first, as `.values()` rows for `present()`."""
    return (
        CatalogChange.objects.filter(table_name=resource.model._meta.db_table, object_id=pk)
        .order_by("-id")
        .values("at", "actor_id", "actor__username", "via", "request_id", "changes")
    )


def present(resource: Resource, row: dict) -> dict:
    actor = None
    if row["actor__username"] is not None:  # null too when the user has been deleted since
        actor = {"id": row["actor_id"], "username": row["actor__username"]}
    return {
        "at": utc_timestamp(row["at"]),
        "actor": actor,
        "via": row["via"],
        "request_id": row["request_id"],
        "changes": resource.present_changes(row["changes"]),
    }
