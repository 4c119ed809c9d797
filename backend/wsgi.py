"""WSGI entry point: `gunicorn backend.wsgi:application`.

Anonymous JSON reads of the catalog are answered by `backend.shortcuts` before Django's
request machinery; everything else is Django's."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

django_application = get_wsgi_application()


def _with_shortcuts(django_app):
    from backend.shortcuts import ShortcutApplication  # needs the settings configured

    return ShortcutApplication(django_app)


application = _with_shortcuts(django_application)
