"""Errors under /api/ are JSON, never HTML, and nothing is written by a refused request
(API.md, "Lists, errors, limits")."""

import json
import logging
import time

import pytest
from django.db import InternalError, OperationalError
from rest_framework.test import APIClient

from backend import renderers
from tests.factories import DEFAULT_PASSWORD
from users.models import User
from users.views.accounts import MeView

REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/users/me/"
SESSIONS_URL = "/api/v1/users/me/sessions/"
INTERNAL_ERROR = {"detail": "Internal server error.", "code": "server_error"}


def registration(**overrides) -> dict:
    return {
        "username": "newbie",
        "email": "newbie@example.com",
        "password": "An0ther-long-passphrase",
    } | overrides


def assert_detail_error(response, status: int) -> str:
    """A request-level error: exactly `{"detail": "..."}`, served as JSON."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body["detail"]


def raw_post(client: APIClient, url: str, body: bytes | str, content_type="application/json"):
    return client.generic("POST", url, body, content_type=content_type)


# --- paths and methods ---------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v1/no/such/thing", "/api/"])
def test_unknown_api_path_is_json_404(settings, api_client, debug, method, path):
    settings.DEBUG = debug

    response = getattr(api_client, method)(path, {"a": 1}, format="json")

    assert_detail_error(response, 404)


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post", "patch", "put", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/auth/register"])
def test_an_api_path_without_its_trailing_slash_is_never_html(
    settings, customer, debug, method, path
):
    settings.DEBUG = debug
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(customer)

    response = getattr(client, method)(path, {"first_name": "Mallory"}, format="json")

    if 300 <= response.status_code < 400:
        assert response["Location"].split("?")[0] == path + "/"
        assert response.json() == {
            "detail": f"Moved to {response['Location']}",
            "code": "moved_permanently",
        }
    else:
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in response.json()
    customer.refresh_from_db()
    assert customer.first_name == ""


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
def test_a_write_to_a_path_without_its_trailing_slash_is_not_a_server_error(
    settings, customer, debug, method
):
    """A missing slash is the client's mistake: it must not look like a crash (a 500) to the
    SPA developer running the server in DEBUG, as the README does."""
    settings.DEBUG = debug
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(customer)

    response = getattr(client, method)("/api/v1/users/me", {"first_name": "M"}, format="json")

    assert response.status_code < 500, response.content


@pytest.mark.parametrize(("method", "path"), [("delete", SESSIONS_URL), ("post", ME_URL)])
def test_a_method_the_endpoint_does_not_take_is_json_405(customer_client, method, path):
    response = getattr(customer_client, method)(path, {}, format="json")

    assert_detail_error(response, 405)
    assert "GET" in response["Allow"]
    assert User.objects.count() == 1


def test_a_method_the_endpoint_does_not_take_is_json_405_in_debug_too(settings, customer_client):
    settings.DEBUG = True

    response = customer_client.delete(SESSIONS_URL)

    assert_detail_error(response, 405)


NOT_ACCEPTABLE = "Could not satisfy the request Accept header."


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/", "/api/v1/schema/"])
@pytest.mark.parametrize("accept", ["application/json", "application/xml", "text/csv"])
def test_a_docs_page_or_schema_it_cannot_render_as_asked_is_json_406(api_client, path, accept):
    if path == "/api/v1/schema/" and accept == "application/json":
        accept = "text/html"  # the schema is JSON or YAML; it has no HTML

    response = api_client.get(path, HTTP_ACCEPT=accept)

    assert_detail_error(response, 406)
    assert response.json() == {"detail": NOT_ACCEPTABLE, "code": "not_acceptable"}


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
@pytest.mark.parametrize("accept", ["text/html,application/xhtml+xml,*/*;q=0.8", "*/*"])
def test_a_browser_still_gets_the_docs_pages_as_html(api_client, path, accept):
    response = api_client.get(path, HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_browsable_api_still_shows_its_errors_as_html(api_client):
    response = api_client.get("/api/v1/users/me/", HTTP_ACCEPT="text/html")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")


# --- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "text/html", "application/x-yaml"]
)
def test_a_body_in_an_unsupported_content_type_is_json_415_and_nothing_is_stored(
    api_client, content_type
):
    response = raw_post(api_client, REGISTER_URL, json.dumps(registration()), content_type)

    detail = assert_detail_error(response, 415)
    assert content_type in detail
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "newbie", "email": "newbie@example.com",',
        b'{"username": "newbie", "email": "newbie@example.com", }',
        b"{'username': 'newbie'}",
        b'{"username": "newbie"}}',
        b"\x00\x01\x02",
        b'{"username": "newbie", "stock": Infinity}',
    ],
)
def test_malformed_json_is_400_whose_detail_mentions_json_and_nothing_is_stored(api_client, body):
    response = raw_post(api_client, REGISTER_URL, body)

    detail = assert_detail_error(response, 400)
    assert "json" in detail.lower()
    assert not User.objects.exists()


def deeply_nested(depth: int, value: str) -> str:
    return "[" * depth + value + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        deeply_nested(5000, "1"),
        '{"a": ' * 5000 + "1" + "}" * 5000,
        json.dumps(registration())[:-1] + ', "first_name": ' + deeply_nested(5000, '"x"') + "}",
        json.dumps(registration())[:-1] + ', "username": ' + deeply_nested(5000, '"x"') + "}",
    ],
)
def test_json_nested_5000_deep_is_400_not_500_and_nothing_is_stored(api_client, body):
    response = raw_post(api_client, REGISTER_URL, body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)
    assert not User.objects.exists()


def test_an_oversized_registration_body_is_json_413_and_nothing_is_stored(api_client):
    body = json.dumps(registration(first_name="x" * (2 * 1024 * 1024)))

    response = raw_post(api_client, REGISTER_URL, body)

    assert_detail_error(response, 413)
    assert not User.objects.exists()


def test_an_oversized_profile_patch_is_json_413_and_nothing_changes(customer_client, customer):
    body = json.dumps({"first_name": "Mallory", "last_name": "x" * (2 * 1024 * 1024)})

    response = customer_client.generic("PATCH", ME_URL, body, content_type="application/json")

    assert_detail_error(response, 413)
    customer.refresh_from_db()
    assert customer.first_name == ""


def test_a_body_just_under_the_limit_is_parsed(api_client):
    """The 413 is about size, not about every long body: a 900 kB body gets a field error."""
    body = json.dumps(registration(first_name="x" * (900 * 1024)))

    response = raw_post(api_client, REGISTER_URL, body)

    assert response.status_code == 400
    assert "first_name" in response.json()
    assert not User.objects.exists()


@pytest.mark.parametrize("body", [b"[]", b'["newbie"]', b'"newbie"', b"123", b"true", b"null"])
def test_a_json_body_that_is_not_an_object_is_400_and_nothing_is_stored(api_client, body):
    response = raw_post(api_client, REGISTER_URL, body)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)
    assert response.json()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", 12345),
        ("email", ["newbie@example.com"]),
        ("first_name", {"x": 1}),
        ("username", "newbie\x00"),
        ("username", "n" * 10_000),
        ("password", 12345678901234),
    ],
)
def test_a_bad_registration_value_is_400_under_its_field_and_nothing_is_stored(
    api_client, field, value
):
    response = api_client.post(REGISTER_URL, registration(**{field: value}), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


# --- failures inside the server ------------------------------------------------------------------


def test_an_unexpected_exception_is_a_bare_json_500_and_its_traceback_is_logged(
    customer_client, monkeypatch, caplog
):
    def explode(self):
        raise RuntimeError("secret-internal-state")

    monkeypatch.setattr(MeView, "get_object", explode)

    with caplog.at_level(logging.ERROR):
        response = customer_client.get(ME_URL)

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == INTERNAL_ERROR
    assert b"secret-internal-state" not in response.content
    assert b"Traceback" not in response.content
    logged = [record for record in caplog.records if record.exc_info]
    assert any(record.exc_info[0] is RuntimeError for record in logged), caplog.records
    assert "secret-internal-state" in caplog.text


def test_an_unexpected_exception_during_a_write_stores_nothing(customer_client, monkeypatch):
    def explode(self, instance, validated_data):
        User.objects.filter(pk=instance.pk).update(first_name="Half-written")
        raise RuntimeError("after a partial write")

    monkeypatch.setattr("users.serializers.accounts.UserSerializer.update", explode, raising=True)

    response = customer_client.patch(ME_URL, {"first_name": "Mallory"}, format="json")

    assert response.status_code == 500
    assert response.json() == INTERNAL_ERROR
    assert User.objects.get(username="carol").first_name == ""


@pytest.mark.parametrize("debug", [False, True])
def test_an_exception_outside_the_view_is_still_a_bare_json_500(
    settings, customer, monkeypatch, debug
):
    settings.DEBUG = debug

    def explode(self, data, accepted_media_type=None, renderer_context=None):
        raise RuntimeError("secret-renderer-state")

    monkeypatch.setattr(renderers.JSONRenderer, "render", explode)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(customer)

    response = client.get(ME_URL, HTTP_ACCEPT="application/json")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == INTERNAL_ERROR


@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("could not connect to server at secret-db-host"),
        InternalError("received 2 results from command 'BEGIN' at secret-db-host"),
    ],
    ids=["unreachable", "cut mid-conversation"],
)
def test_a_database_failure_is_json_503_with_retry_after(customer_client, monkeypatch, failure):
    def unreachable(self):
        raise failure

    monkeypatch.setattr(MeView, "get_object", unreachable)

    response = customer_client.get(ME_URL)

    assert_detail_error(response, 503)
    assert int(response["Retry-After"]) > 0
    assert b"secret-db-host" not in response.content


@pytest.fixture
def unreachable_cache(settings):
    """A Redis cache on a port where nothing listens; put back before the cache is cleared."""
    locmem = settings.CACHES
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield
    settings.CACHES = locmem


@pytest.mark.usefixtures("unreachable_cache")
def test_an_unreachable_cache_is_json_503_within_seconds(api_client, customer):
    started = time.monotonic()

    response = api_client.post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert time.monotonic() - started < 5
    assert_detail_error(response, 503)
    assert "access" not in response.content.decode()
