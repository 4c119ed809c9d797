"""The catalog's versions: their table, and the triggers that move them
(`products.versions.install_triggers`; every `migrate` runs it again afterwards, so a table a
later migration rebuilds keeps them)."""

from django.db import migrations, models

from products.versions import install_triggers, remove_triggers


def create_triggers(apps, schema_editor):
    install_triggers(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    remove_triggers(schema_editor.connection)


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
