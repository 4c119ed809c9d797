"""Celery jobs of the idempotency app: the hourly clean-up beat schedules (backend/settings.py)."""

from django.utils import timezone

from backend.celery import app
from backend.idempotency.models import IdempotencyRecord


@app.task
def clear_expired_keys() -> int:
    deleted, _ = IdempotencyRecord.objects.expired(timezone.now()).delete()
    return deleted
