"""Handing a job recorded in the database (an email of the outbox, a catalog job) to the Celery
worker once the transaction that recorded it has committed; with no broker, it runs here."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def hand_on(pk: int, *, task: str, run_here: Callable[[int], None], what: str) -> None:
    """`task`: the Celery task's dotted path, imported (and Celery with it) only when a job is
    enqueued. A failure is logged, never raised: the job is committed, and a row the worker never
    received is its sweep's to hand on again."""
    if not settings.CELERY_BROKER_URL:
        try:
            run_here(pk)
        except Exception:
            logger.warning("%s %s failed in-process", what, pk, exc_info=True)
        return
    try:
        import_string(task).delay(pk)
    except Exception:
        logger.warning("%s %s not enqueued; the sweep will hand it on", what, pk, exc_info=True)
