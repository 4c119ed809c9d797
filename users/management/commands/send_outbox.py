"""`manage.py send_outbox`: the outbox sweep, for cron where no Celery beat runs."""

from django.core.management.base import BaseCommand

from users import mail


class Command(BaseCommand):
    help = (
        "Send (with no broker) or enqueue (with CELERY_BROKER_URL) every outbox email that is "
        "still unsent and that nobody has tried for a minute."
    )

    def handle(self, *args, **options):
        count = mail.sweep()
        self.stdout.write(f"{count} outbox email(s) handed on")
