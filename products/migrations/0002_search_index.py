"""A trigram index for product search, on PostgreSQL (SQLite has no such index; it scans)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from products.models import search_index


def add_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("products", "Product"), search_index())


def remove_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("products", "Product"), search_index())


class Migration(migrations.Migration):
    dependencies = [("products", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(add_search_index, remove_search_index),
    ]
