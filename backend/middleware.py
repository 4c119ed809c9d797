"""Middleware that keeps every answer under /api/ JSON, whatever produced it."""

from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse
from django.urls import is_valid_path
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
        if _is_unsafe_without_slash(request):
            return json_error(404, f"Not found. Did you mean {request.path_info}/ ?")
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


def _is_unsafe_without_slash(request) -> bool:
    """A POST (PUT, PATCH, DELETE) to an API path that exists only with a trailing slash.

    Django's APPEND_SLASH would redirect it, dropping the body (or, in DEBUG, raise an error
    that reaches the client as a 500); the client is better told where the endpoint is."""
    path = request.path_info
    if request.method in ("GET", "HEAD", "OPTIONS") or not is_api_path(path):
        return False
    if path.endswith("/") or is_valid_path(path, getattr(request, "urlconf", None)):
        return False
    return is_valid_path(f"{path}/", getattr(request, "urlconf", None))


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
