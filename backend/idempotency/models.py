"""What an `Idempotency-Key` reserved, and the answer it got (API.md, "Idempotency").

One row per caller and key, unique in the database: whichever of several racing copies inserts
it does the work, on whichever app instance. The answer is stored in the same transaction as
the work, so a row without an answer means no work was committed (the worker died, or failed):
once its lease has run out another copy may take it over safely.
"""

from datetime import datetime, timedelta

from django.db import models

RETENTION = timedelta(hours=24)  # a key answers the same for this long after its first use
# Longer than any request may run (gunicorn kills a worker after GUNICORN_TIMEOUT, 30 s): a row
# unanswered past its lease was abandoned.
LEASE = timedelta(seconds=60)


class IdempotencyRecordQuerySet(models.QuerySet):
    def expired(self, now: datetime):
        return self.filter(created_at__lte=now - RETENTION)


class IdempotencyRecord(models.Model):
    caller = models.CharField(max_length=80)  # "user:<id>", or "address:<keyed hash>"
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # keyed hash of method, path and body
    created_at = models.DateTimeField(db_index=True)
    owner = models.CharField(max_length=32)  # the attempt processing it
    locked_until = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True)  # null while being processed
    content_type = models.CharField(max_length=255, blank=True)
    location = models.TextField(blank=True)
    body = models.BinaryField(default=b"")

    objects = IdempotencyRecordQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotency_caller_key_unique")
        ]

    def __str__(self):
        return f"{self.caller} {self.key}"
