"""The one exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]): every error is JSON.

`{"detail": ..., "code": ...}` for request-level errors (the code is what a client acts on:
DRF's own, `token_expired`, `session_ended`, `idempotency_in_progress`, …), `{"field": [...]}`
for validation errors, and
`{"detail": "Internal server error.", "code": "server_error"}` for anything unexpected, whose
traceback goes to the log and never to the client.
"""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, InternalError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import UnreadablePostError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal server error."
DATABASE_UNAVAILABLE = "The database is unavailable. Try again shortly."
CACHE_UNAVAILABLE = "The cache is unavailable. Try again shortly."
IN_USE = "This object is still referenced by others and cannot be deleted."
SUSPICIOUS_REQUEST = "Bad request: the request is malformed (for example its Host header)."
BODY_UNREADABLE = "The request body could not be read in full: it stopped arriving."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = IN_USE
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since you read it (If-Match does not match)."
    default_code = "precondition_failed"


class IdempotencyInProgress(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed: retry shortly."
    default_code = "idempotency_in_progress"
    wait = 1  # seconds, sent as Retry-After: most requests are done by then


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was already used for another request (another body or "
        "endpoint): send a new key with a new request."
    )
    default_code = "idempotency_key_reused"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable. Try again shortly."
    default_code = "service_unavailable"
    wait = 5  # seconds, sent as Retry-After


SERVER_ERROR = "server_error"


def api_exception_handler(exc, context):
    exc = translate_exception(exc)
    response = exception_handler(exc, context)
    if response is not None:
        return _detail_and_code(response, getattr(exc, "extra_fields", {}))
    set_rollback()
    logger.error("Unhandled exception in %s", _view_name(context), exc_info=exc)
    return Response(
        {"detail": INTERNAL_ERROR, "code": SERVER_ERROR},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _detail_and_code(response: Response, extra_fields: dict) -> Response:
    """Request-level errors are `{"detail": "...", "code": "..."}`, the code the exception was
    raised with (simplejwt puts it beside `detail`, with a `messages` list naming its token
    classes, which clients need not see), and only the fields the exception declares in
    `extra_fields` besides (a two-factor log-in's `challenge`)."""
    if isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        code = response.data.get("code") or getattr(detail, "code", None)
        response.data = error_body(detail, response.status_code, code) | extra_fields
    return response


def error_body(detail, status_code: int, code=None) -> dict:
    """The one shape of a request-level error: its message, and the code it was raised with
    (else the one its status means)."""
    return {"detail": str(detail), "code": str(code or code_for_status(status_code))}


def code_for_status(status_code: int) -> str:
    """The code of an error raised without one: its status, as DRF names them."""
    return STATUS_CODES.get(status_code, SERVER_ERROR)


STATUS_CODES = {
    301: "moved_permanently",
    400: "parse_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}


def translate_exception(exc: Exception) -> Exception:
    """Django's and the services' exceptions as the API errors they mean."""
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, ProtectedError | RestrictedError):
        return Conflict()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):  # a bad Host, too many fields: the client's doing
        logger.warning("Suspicious request: %s", exc)
        return exceptions.ParseError(SUSPICIOUS_REQUEST)
    if isinstance(exc, UnreadablePostError):  # the client stalled or hung up mid-body
        return exceptions.ParseError(BODY_UNREADABLE)
    if isinstance(exc, OperationalError | InterfaceError | InternalError):
        # InternalError too: a connection cut mid-conversation (a restart behind PgBouncer) can
        # leave psycopg reading a reply that does not fit ("received 2 results from command
        # 'BEGIN'"); like a refused connection, the database is not answering properly.
        logger.warning("Database unavailable: %s", exc)
        return ServiceUnavailable(DATABASE_UNAVAILABLE)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        logger.warning("Cache unavailable: %s", exc)
        return ServiceUnavailable(CACHE_UNAVAILABLE)
    return exc


def _view_name(context) -> str:
    view = context.get("view")
    return type(view).__name__ if view is not None else "a view"
