"""A known staff login for the local demo (`make run`), refused anywhere else."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from users.models import User

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "catalog-demo"
DEMO_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "Create (or reset) the demo superuser admin/catalog-demo. Local SQLite + DEBUG only."

    def handle(self, *args, **options):
        on_sqlite = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
        if not (settings.DEBUG and on_sqlite):
            raise CommandError(
                "The demo login is only for the local SQLite setup with DJANGO_DEBUG=true. "
                "Elsewhere, create real accounts: python manage.py createsuperuser"
            )
        user = User.objects.with_username(DEMO_USERNAME).first() or User(username=DEMO_USERNAME)
        user.email = DEMO_EMAIL
        user.email_verified = True
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        self.stdout.write(f"Demo staff login: {DEMO_USERNAME} / {DEMO_PASSWORD}")
