"""Every `{"detail"}` error carries a machine-readable `code` (API.md, "Error codes"): DRF's own,
and the ones an SPA acts on: `token_expired` (refresh), `token_not_valid` and `session_ended`
(log in again)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import make_product, make_user
from users.tokens import SessionRefreshToken

ME_URL = "/api/v1/users/me/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VERIFY_URL = "/api/v1/auth/token/verify/"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code
    assert body["detail"]


def expired(token):
    token.set_exp(from_time=timezone.now() - timedelta(days=2))
    return str(token)


@pytest.fixture
def ada():
    return make_user(username="ada", email="ada@example.com")


def test_an_expired_access_token_says_token_expired(ada):
    access = SessionRefreshToken.for_user(ada).access_token

    assert_error(bearer_client(expired(access)).get(ME_URL), 401, "token_expired")


def test_an_expired_refresh_token_says_token_expired_at_refresh_and_verify(ada):
    refresh = expired(SessionRefreshToken.for_user(ada))
    client = APIClient()

    assert_error(
        client.post(REFRESH_URL, {"refresh": refresh}, format="json"), 401, "token_expired"
    )
    assert_error(client.post(VERIFY_URL, {"token": refresh}, format="json"), 401, "token_expired")


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"], ids=["word", "dots", "forged"]
)
def test_a_token_that_is_not_ours_says_token_not_valid(token):
    assert_error(bearer_client(token).get(ME_URL), 401, "token_not_valid")


def test_an_expired_token_with_a_forged_signature_is_not_valid_not_expired(ada):
    header, payload, signature = expired(SessionRefreshToken.for_user(ada).access_token).split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"

    assert_error(bearer_client(forged).get(ME_URL), 401, "token_not_valid")


def test_a_refresh_token_cannot_authenticate_a_request(ada):
    refresh = str(SessionRefreshToken.for_user(ada))

    assert_error(bearer_client(refresh).get(ME_URL), 401, "token_not_valid")


def test_a_deactivated_users_tokens_say_session_ended(api_client, ada):
    tokens = obtain_tokens(api_client, "ada")
    ada.is_active = False
    ada.save()

    assert_error(bearer_client(tokens["access"]).get(ME_URL), 401, "session_ended")
    response = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert_error(response, 401, "session_ended")


def test_a_deleted_users_access_token_says_session_ended(api_client, ada):
    tokens = obtain_tokens(api_client, "ada")
    ada.delete()

    assert_error(bearer_client(tokens["access"]).get(ME_URL), 401, "session_ended")


def test_drfs_own_errors_keep_drfs_codes(api_client, customer_client):
    product = make_product()
    detail = f"/api/v1/products/{product.pk}/"

    assert_error(api_client.get(ME_URL), 401, "not_authenticated")
    assert_error(customer_client.delete(detail), 403, "permission_denied")
    assert_error(api_client.get("/api/v1/products/999999/"), 404, "not_found")
    assert_error(api_client.put("/api/v1/auth/token/"), 405, "method_not_allowed")
    response = customer_client.patch(ME_URL, "{", content_type="application/json")
    assert_error(response, 400, "parse_error")
    response = customer_client.patch(ME_URL, "x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_errors_answered_outside_drf_have_codes_too(api_client):
    assert_error(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")
    response = api_client.post("/api/v1/products", {}, format="json")
    assert_error(response, 404, "not_found")
