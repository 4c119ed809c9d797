"""WSGI entry point: `gunicorn backend.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

from backend import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

observability.start()  # before the application loads its middleware: tracing adds its own
application = get_wsgi_application()
