"""What the apps' admins share: change-list columns, and a read-only admin."""

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.html import format_html


def with_compact_timestamps(model: type[models.Model], names: tuple[str, ...]) -> tuple:
    """`list_display` from `names`, each date-time field's column written compactly."""
    return tuple(compact_timestamp(model, name) if _is_datetime(model, name) else name
                 for name in names)  # fmt: skip


def _is_datetime(model: type[models.Model], name: str) -> bool:
    try:
        return isinstance(model._meta.get_field(name), models.DateTimeField)
    except FieldDoesNotExist:
        return False


def compact_timestamp(model: type[models.Model], name: str):
    """A change-list column showing the date-time field `name` as `2026-01-31` over `12:00`
    (TIME_ZONE), the full instant in its tooltip. Django's own `Jan. 31, 2026, noon` on one
    line takes twice the width, which a list at 1280 px with both sidebars open lacks. The
    column keeps the field's name (its `column-<name>` class) and sorts by the field."""
    label = model._meta.get_field(name).verbose_name

    @admin.display(description=label, ordering=name)
    def column(obj):
        value = getattr(obj, name)
        if value is None:
            return None  # the admin's empty value, "-"
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}" title="{}">{}<br>{}</time>',
            value.isoformat(),
            local.strftime("%Y-%m-%d %H:%M:%S %Z"),
            local.strftime("%Y-%m-%d"),
            local.strftime("%H:%M"),
        )

    column.__name__ = name
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the application (an outbox, a job record): shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
