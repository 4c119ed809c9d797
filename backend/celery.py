"""The Celery app: `celery -A backend worker` (README, "Background jobs").

Configured from Django's settings (the `CELERY_` ones). Web processes never import this at
start-up: `users.mail` imports it when it first hands a job to the broker, so a gunicorn worker
that sends no email carries none of Celery's memory."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
