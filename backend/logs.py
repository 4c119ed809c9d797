"""Structured logs: one JSON object a line on stdout, for the log shipper to parse.

Every request gets a line (method, path, status, duration, user id, request id) from
`RequestLogMiddleware`; errors carry their stack trace in the same line, on the server only.
"""

import logging
import re
import time
import uuid
from datetime import UTC, datetime

import orjson

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

request_logger = logging.getLogger("backend.requests")
ACCESS_LINE = '"%s" %s %s'  # django.core.servers.basehttp: request line, status, size


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RunserverAccessLines(logging.Filter):
    """Drops runserver's access line (`django.server`): RequestLogMiddleware logs every request
    that reaches Django, static files too (whitenoise serves them behind it), so in development
    there is one line a request, ours, as in production. runserver's other lines (a malformed
    request line, the HTTPS hint, a broken pipe) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not ("status_code" in vars(record) and record.msg == ACCESS_LINE)


class RequestLogMiddleware:
    """Logs each request when its response is ready, and tags the response with its request id:
    the caller's `X-Request-ID` when it is a sane token (so a trace spans the proxy and the
    app), otherwise a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request.id = incoming_request_id(request.META) or uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.id
        status, user_id = response.status_code, _user_id(request)
        log_request(request.method, request.path, status, started, user_id, request.id)
        return response


def log_request(method, path, status, started: float, user_id, request_id: str) -> None:
    request_logger.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user_id": user_id,
            "request_id": request_id,
        },
    )


def incoming_request_id(meta: dict) -> str | None:
    value = meta.get("HTTP_X_REQUEST_ID", "")
    return value if _VALID_REQUEST_ID.match(value) else None


def _user_id(request) -> int | None:
    """The authenticated user, as DRF or the session middleware left it."""
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None
