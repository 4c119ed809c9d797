"""WSGI entry point: `gunicorn backend.wsgi:application`."""

import os

import django
from django.core.handlers.wsgi import WSGIHandler

from backend import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

# Django's get_wsgi_application(), with metrics and traces started in between: after the apps
# are loaded, before the handler loads the middleware (tracing adds its own).
django.setup(set_prefix=False)
observability.start()
application = observability.served(WSGIHandler())
