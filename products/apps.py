from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Catalog"

    def ready(self):
        post_migrate.connect(_reinstall_version_triggers, sender=self)


def _reinstall_version_triggers(sender, using, plan=None, **kwargs):
    """A migration may rebuild a catalog table (SQLite does for most changes), dropping its
    triggers with it: after every migrate they are put back, so no write escapes the versions."""
    from django.db import connections

    from products.versions import install_triggers

    if plan is None or any(migration.app_label == "products" for migration, _ in plan):
        install_triggers(connections[using])
