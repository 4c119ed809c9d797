"""Middleware that keeps every answer under /api/ JSON, whatever produced it."""

from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse
from rest_framework.response import Response

API_PREFIX = "/api/"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def json_error(status: int, detail: str | None = None) -> JsonResponse:
    if detail is None:
        detail = "Internal server error." if status >= 500 else f"{HTTPStatus(status).phrase}."
    return JsonResponse({"detail": detail}, status=status)


class ApiJsonErrorsMiddleware:
    """Errors that never reached a DRF view (an unknown path, Django's 404 and 500 pages, a
    CSRF or host check) are answered as `{"detail": ...}` under /api/, in DEBUG too.

    Responses DRF rendered are left alone: the browsable API shows its errors as HTML on
    purpose, to a browser that asked for HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not is_api_path(request.path_info) or response.status_code < 400:
            return response
        if isinstance(response, Response) or _is_json(response):
            return response
        replacement = json_error(response.status_code, _detail_for(response.status_code))
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _detail_for(status: int) -> str | None:
    return {404: "Not found."}.get(status)


class RequestBodyLimitMiddleware:
    """An API body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything reads it.

    Django enforces the limit only when `request.body` or `request.POST` is read; DRF's parsers
    read the stream directly, so without this an oversized JSON body would be parsed in full."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if is_api_path(request.path_info) and _content_length(request) > limit:
            return json_error(413, f"Request body too large: the limit is {limit} bytes.")
        return self.get_response(request)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
