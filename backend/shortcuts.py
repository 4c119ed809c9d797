"""Anonymous JSON reads answered in front of Django's request machinery.

A product detail costs the database about 0.2 ms; through Django's middleware and DRF's view
machinery the same answer costs the application about 1 ms more, most of it in work that a
cookie-less, anonymous `GET` for JSON does not need (sessions, CSRF, content negotiation,
authentication and permission classes). Such requests are answered here instead, by handlers
the apps register (settings.READ_SHORTCUTS), with what the full path would add and nothing
else: the host check, the security headers, the anonymous throttle, the JSON error bodies, the
request id and the log line. Anything else (a cookie, credentials, an Origin, a browser asking
for HTML, a request to redirect to HTTPS, a handler that declines) goes on to Django, and tests
hold the two paths to the same answers.

A handler is `handler(request: ShortcutRequest, **url_kwargs) -> Plan | None`: None sends the
request on to Django before anything is counted; a plan is called once the throttle has let
the request through, and returns an `Answer`.
"""

import functools
import importlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
from django.conf import settings
from django.core import signals
from django.http.request import HttpHeaders, split_domain_port, validate_host
from rest_framework.exceptions import APIException, Throttled

from backend.exceptions import (
    INTERNAL_ERROR,
    ServiceUnavailable,
    api_exception_handler,
    translate_exception,
)
from backend.logs import REQUEST_ID_HEADER, incoming_request_id, log_request
from backend.throttling import AnonRateThrottle

logger = logging.getLogger(__name__)

JSON_ACCEPTED = {"", "*/*", "application/json"}
CREDENTIALS = ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_ORIGIN")


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Anonymous:
    is_authenticated = False
    is_staff = False
    pk = None


@dataclass
class ShortcutRequest:
    """What a handler may read; `META` and `user` are what DRF's throttles ask for."""

    environ: dict
    path: str
    query_string: str
    host: str
    scheme: str
    user = _Anonymous()

    @property
    def META(self):  # DRF reads request.META
        return self.environ

    @functools.cached_property
    def headers(self) -> HttpHeaders:
        return HttpHeaders(self.environ)

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string}" if self.query_string else self.path


Plan = Callable[[], Answer]


def json_answer(status: int, data, headers: dict | None = None) -> Answer:
    return Answer(
        status, orjson.dumps(data), {"Content-Type": "application/json", **(headers or {})}
    )


def error_answer(exc: APIException, headers: dict | None = None) -> Answer:
    """A request error as the full path's exception handler words it."""
    response = api_exception_handler(exc, {})
    return json_answer(response.status_code, response.data, headers)


class ShortcutApplication:
    """WSGI middleware: an eligible request to a registered route is answered here."""

    def __init__(self, django_application):
        self.django_application = django_application
        self._routes = None
        self._security_headers = None

    def __call__(self, environ, start_response):
        request = self._eligible(environ)
        plan = self._plan(request) if request is not None else None
        if plan is None:
            return self.django_application(environ, start_response)
        return self._serve(request, plan, start_response)

    def _plan(self, request: ShortcutRequest) -> Plan | None:
        for pattern, handler in self.routes():
            match = pattern.fullmatch(request.path)
            if match:
                try:
                    return handler(request, **match.groupdict())
                except Exception:  # the full path will answer, and say what went wrong
                    logger.warning("Read shortcut declined after an error", exc_info=True)
                    return None
        return None

    def routes(self) -> list[tuple[re.Pattern, Callable]]:
        if self._routes is None:
            self._routes = [
                (re.compile(pattern), handler)
                for dotted in settings.READ_SHORTCUTS
                for pattern, handler in _imported(dotted)()
            ]
        return self._routes

    def _eligible(self, environ) -> ShortcutRequest | None:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        if any(environ.get(key) for key in CREDENTIALS):
            return None
        if environ.get("HTTP_ACCEPT", "").strip() not in JSON_ACCEPTED:
            return None
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        domain, _ = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            return None  # Django answers a bad Host with 400
        if settings.SECURE_SSL_REDIRECT or settings.SECURE_PROXY_SSL_HEADER:
            return None  # behind a TLS proxy: the full path decides redirects and HSTS
        path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
        return ShortcutRequest(environ, path, query, host, environ.get("wsgi.url_scheme", "http"))

    def _serve(self, request: ShortcutRequest, plan: Plan, start_response):
        started = time.perf_counter()
        request_id = incoming_request_id(request.environ) or uuid.uuid4().hex
        signals.request_started.send(sender=self.__class__, environ=request.environ)
        try:
            answer = _answer(request, plan)
        finally:
            signals.request_finished.send(sender=self.__class__)
        headers = answer.headers | self.security_headers() | {REQUEST_ID_HEADER: request_id}
        headers["Content-Length"] = str(len(answer.body))
        method = request.environ["REQUEST_METHOD"]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", list(headers.items()))
        log_request(method, request.path, answer.status, started, None, request_id)
        return [b"" if method == "HEAD" else answer.body]

    def security_headers(self) -> dict[str, str]:
        """What SecurityMiddleware and XFrameOptionsMiddleware add to a plain-HTTP answer."""
        if self._security_headers is None:
            headers = {"X-Frame-Options": settings.X_FRAME_OPTIONS}
            if settings.SECURE_CONTENT_TYPE_NOSNIFF:
                headers["X-Content-Type-Options"] = "nosniff"
            if settings.SECURE_REFERRER_POLICY:
                headers["Referrer-Policy"] = settings.SECURE_REFERRER_POLICY
            if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
                headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
            self._security_headers = headers
        return self._security_headers


def _answer(request: ShortcutRequest, plan: Plan) -> Answer:
    try:
        throttle = AnonRateThrottle()
        if not throttle.allow_request(request, None):
            refusal = Throttled(throttle.wait())  # DRF's message and rounding
            return json_answer(
                429, {"detail": str(refusal.detail)}, {"Retry-After": str(refusal.wait)}
            )
        return plan()
    except Exception as exc:
        return _answer_for_failure(exc)


def _answer_for_failure(exc: Exception) -> Answer:
    """What the full path's exception handler answers: 503 when the database or the cache is
    missing; anything else is logged with its traceback and is a bare 500."""
    translated = translate_exception(exc)
    if isinstance(translated, ServiceUnavailable):
        retry_after = {"Retry-After": str(translated.wait)}
        return json_answer(503, {"detail": str(translated.detail)}, retry_after)
    logger.error("Unhandled exception in a read shortcut", exc_info=exc)
    return json_answer(500, {"detail": INTERNAL_ERROR})


def _imported(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)
