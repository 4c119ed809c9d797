"""Liveness and readiness probes for the load balancer and the orchestrator."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """Alive: the process answers. Touches no database, so a database outage does not get
    healthy processes restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """Ready: the database (and the cache, when one is configured) answer. 503 names the
    missing services, so the balancer stops sending traffic and the operator knows why."""
    checks = {"database": _database_answers()}
    if settings.REDIS_URL:
        checks["cache"] = _cache_answers()
    missing = sorted(name for name, ok in checks.items() if not ok)
    status = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    if missing:
        detail = f"Unavailable: {', '.join(missing)}."
        body = {"status": "unavailable", "detail": detail, "missing": missing, "checks": status}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": status})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("Readiness: database unavailable", exc_info=True)
        return False


def _cache_answers() -> bool:
    try:
        cache.get("readyz-probe")
        return True
    except Exception:
        logger.warning("Readiness: cache unavailable", exc_info=True)
        return False
