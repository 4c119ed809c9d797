"""Middleware that keeps every answer under /api/ JSON, whatever produced it, and refuses
requests the rest of the stack cannot judge (no Host, an unbounded body)."""

import io
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, is_valid_path, resolve
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from backend.exceptions import error_body
from backend.renderers import JSONRenderer

API_PREFIX = "/api/"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def json_error(status: int, detail: str | None = None) -> JsonResponse:
    """The `{"detail", "code"}` an API error has, for one answered outside DRF's views."""
    if detail is None:
        detail = "Internal server error." if status >= 500 else f"{HTTPStatus(status).phrase}."
    return JsonResponse(error_body(detail, status), status=status)


class ApiJsonErrorsMiddleware:
    """Errors that never reached a DRF view (an unknown path, Django's 404 and 500 pages, a
    CSRF or host check) are answered as `{"detail": ...}` under /api/, in DEBUG too, and so is
    APPEND_SLASH's redirect. A request with a missing, empty or unknown Host is refused first.

    The browsable API's errors are left alone: it shows them as HTML on purpose, to a browser
    that asked for HTML. Other errors DRF rendered in something else than JSON (the docs pages'
    HTML renderer, the schema's YAML: DRF renders a 406 with the view's first renderer) are
    answered as JSON with the same body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _host_is_valid(request):
            return json_error(400, HOST_REQUIRED)
        if _is_unsafe_without_slash(request):
            return json_error(404, f"Not found. Did you mean {request.path_info}/ ?")
        response = self.get_response(request)
        if not is_api_path(request.path_info) or response.status_code < 300:
            return response
        if response.status_code < 400:
            return _redirect_as_json(response)
        if _is_json(response) or _is_browsable_api(response):
            return response
        replacement = _as_json(response)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


HOST_REQUIRED = "A Host header naming this server is required."


def _host_is_valid(request) -> bool:
    """A missing, empty or unknown Host is a 400 `{"detail"}`, on every path, before anything
    builds a URL or a cache key from it (API.md: "A missing or empty Host is a 400").

    Django raises DisallowedHost from `request.get_host()` wherever that is first called: in
    CommonMiddleware a 400, but inside a DRF view (absolute pagination links, cache keys) a 500
    with a traceback. Checked once here, no later caller meets a bad host. gunicorn hands on a
    request without Host with SERVER_NAME from its bind address, which Django would accept;
    backend/gunicorn_worker.py passes it on as an empty Host instead."""
    if not request.META.get("HTTP_HOST", "x").strip():
        return False
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True


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


def _redirect_as_json(response):
    """APPEND_SLASH's 301 (`/api/v1/products` → `/api/v1/products/`) carries an HTML-less empty
    body; a client that does not follow redirects is told in JSON where to go."""
    location = response.get("Location")
    if not location or _is_json(response):
        return response
    replacement = json_error(response.status_code, f"Moved to {location}")
    replacement["Location"] = location
    return replacement


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _is_browsable_api(response) -> bool:
    """DRF picks the browsable API only for a client that accepts HTML (a 406 it cannot
    negotiate is rendered with the view's first renderer: JSON on the API's own views)."""
    renderer = getattr(response, "accepted_renderer", None)
    return isinstance(response, Response) and isinstance(renderer, BrowsableAPIRenderer)


def _as_json(response) -> HttpResponse:
    """A DRF error keeps its body (`{"detail"}` or a field map) as JSON; anything else becomes
    the `{"detail"}` its status means."""
    if isinstance(response, Response) and isinstance(response.data, dict):
        data = response.data
        if "detail" in data:  # without what an HTML renderer added (`status_code`)
            data = error_body(data["detail"], response.status_code, data.get("code"))
        body = JSONRenderer().render(data)
        return HttpResponse(body, status=response.status_code, content_type="application/json")
    return json_error(response.status_code, _detail_for(response.status_code))


def _detail_for(status: int) -> str | None:
    return {404: "Not found."}.get(status)


class RequestBodyLimitMiddleware:
    """An API body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything reads it.

    Django enforces the limit only when `request.body` or `request.POST` is read; DRF's parsers
    read the stream directly, so without this an oversized JSON body would be parsed in full.

    A chunked body (`Transfer-Encoding: chunked`, no Content-Length) is read here, under the
    same limit, and handed on as if it had come with a Content-Length: Django takes a missing
    Content-Length for an empty body, so the write would otherwise succeed having written
    nothing. Only a server that ends the input stream itself (`wsgi.input_terminated`, as
    gunicorn does) can be read to its end safely; elsewhere such a body is a 411."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if _is_chunked(request):
            limit = _body_limit(request, limit)
            return _read_chunked_body(request, limit) or self.get_response(request)
        length = _content_length(request)
        if is_api_path(request.path_info) and length > limit:
            limit = _body_limit(request, limit)
            if length > limit:
                return _too_large(limit)
        return self.get_response(request)


def _body_limit(request, default: int) -> int:
    """The limit, or a larger one the view declares (`body_limit`: an image upload). Looked up
    only for a body over the default, so other requests pay nothing for it."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return default
    return getattr(getattr(match.func, "cls", None), "body_limit", default)


def _too_large(limit: int) -> JsonResponse:
    return json_error(413, f"Request body too large: the limit is {limit} bytes.")


def _is_chunked(request) -> bool:
    coding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in coding and not request.META.get("CONTENT_LENGTH")


def _read_chunked_body(request, limit: int) -> JsonResponse | None:
    if not request.META.get("wsgi.input_terminated"):
        return json_error(411, "A request body needs a Content-Length header here.")
    try:
        body = request.META["wsgi.input"].read(limit + 1)
    except OSError:
        return json_error(400, "The request body could not be read in full.")
    if len(body) > limit:
        return _too_large(limit)
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return None


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
