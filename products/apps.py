from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Catalog"

    def ready(self):
        post_migrate.connect(_reinstall_triggers, sender=self)
        connection_created.connect(_pass_change_context)


def _reinstall_triggers(sender, using, plan=None, **kwargs):
    """A migration may rebuild a catalog table (SQLite does for most changes), dropping its
    triggers with it: after every migrate they are put back (the history's with the columns the
    tables have now), so no write escapes the versions or the history."""
    from django.db import connections

    from products import history, versions

    if plan is None or any(migration.app_label == "products" for migration, _ in plan):
        versions.install_triggers(connections[using])
        history.install_triggers(connections[using])


def _pass_change_context(sender, connection, **kwargs):
    """Each new connection carries the change context to the history's triggers."""
    from backend import change_context
    from products.history import recorded_tables

    change_context.install(connection, recorded_tables())
