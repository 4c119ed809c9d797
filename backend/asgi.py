"""ASGI entry point, for servers that speak ASGI."""

import os

import django
from django.core.handlers.asgi import ASGIHandler

from backend import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

# Django's get_asgi_application(), with metrics and traces started as in backend/wsgi.py.
django.setup(set_prefix=False)
observability.start()
application = observability.served_asgi(ASGIHandler())
