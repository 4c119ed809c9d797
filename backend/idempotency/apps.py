from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "backend.idempotency"
    label = "idempotency"  # its tables and migrations: idempotency_*
    verbose_name = "Idempotency keys"
