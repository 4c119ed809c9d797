"""`manage.py clear_idempotency_keys`: forget keys past their 24 hours, for cron where no Celery
beat runs (a key is also forgotten when it is next sent after them)."""

from django.core.management.base import BaseCommand

from backend.idempotency.tasks import clear_expired_keys


class Command(BaseCommand):
    help = "Delete every Idempotency-Key record older than 24 hours, with its stored answer."

    def handle(self, *args, **options):
        self.stdout.write(f"{clear_expired_keys()} expired idempotency key(s) deleted")
