"""The catalog's versions, moved by the database itself (products/versions.py says how they are
read). Every write path goes through these triggers: the API, the admin, imports, the shell,
`QuerySet.update`, `bulk_create` and raw SQL alike.

PostgreSQL: statement-level triggers. Inserting, deleting or truncating moves `<table>`; an
UPDATE moves `<table>.<column>` for each column whose value it changed in at least one row
(found generically from the transition tables, so a column added later is covered with no new
trigger), and `<table>` too if it changed an id. SQLite (development and tests) has row-level
triggers only, without a generic way to name the changed columns: there every write moves
`<table>`, which invalidates more but never less.
"""

from django.db import migrations, models

TABLES = ["products_product", "products_category"]

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
    RETURN NULL;
END $$;
"""

POSTGRES_TRIGGERS = """
CREATE TRIGGER {table}_version_rows AFTER INSERT OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_rows_changed();
CREATE TRIGGER {table}_version_columns AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_columns_changed();
"""

SQLITE_TRIGGER = """
CREATE TRIGGER {table}_version_{event} AFTER {event} ON {table} FOR EACH ROW BEGIN
    INSERT INTO products_catalogversion (topic, version) VALUES ('{table}', 1)
    ON CONFLICT (topic) DO UPDATE SET version = version + 1;
END;
"""
SQLITE_EVENTS = ["insert", "update", "delete"]


def create_triggers(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute(POSTGRES_FUNCTIONS)
        for table in TABLES:
            execute(POSTGRES_TRIGGERS.format(table=table))
    else:
        for table in TABLES:
            for event in SQLITE_EVENTS:
                execute(SQLITE_TRIGGER.format(table=table, event=event))


def drop_triggers(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            execute(f"DROP TRIGGER IF EXISTS {table}_version_rows ON {table}")
            execute(f"DROP TRIGGER IF EXISTS {table}_version_columns ON {table}")
        for function in ("rows_changed()", "columns_changed()", "move(text[])"):
            execute(f"DROP FUNCTION IF EXISTS catalog_version_{function}")
    else:
        for table in TABLES:
            for event in SQLITE_EVENTS:
                execute(f"DROP TRIGGER IF EXISTS {table}_version_{event}")


class Migration(migrations.Migration):
    dependencies = [("products", "0003_on_sale_index")]

    operations = [
        migrations.CreateModel(
            name="CatalogVersion",
            fields=[
                ("topic", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
