"""JWT log-in, refresh, verify and logout (API.md, "Authentication")."""

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import DEFAULT_PASSWORD, make_user
from users.models import User
from users.tokens import SessionRefreshToken

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VERIFY_URL = "/api/v1/auth/token/verify/"
LOGOUT_URL = "/api/v1/auth/logout/"
ME_URL = "/api/v1/users/me/"

GARBAGE_TOKENS = ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "x" * 10_000]


class CountingMD5PasswordHasher(MD5PasswordHasher):
    """Counts password hashes computed. MD5's verify() hashes through encode(), so every hash,
    whether made for storing or for checking, is one encode() call."""

    hashes: list[str] = []

    def encode(self, password, salt):
        self.hashes.append(password)
        return super().encode(password, salt)


def post(client, url, data):
    return client.post(url, data, format="json")


def log_in(client, login, password=DEFAULT_PASSWORD):
    return post(client, TOKEN_URL, {"username": login, "password": password})


def refresh(client, token):
    return post(client, REFRESH_URL, {"refresh": token})


TOKEN_PAIR = {"access", "refresh", "access_expires_at", "refresh_expires_at"}


def assert_token_pair(response):
    """The tokens, and when each expires: the `exp` of its claims, as every timestamp is
    written (ISO 8601, UTC), so a client can refresh ahead of time."""
    assert response.status_code == 200, response.content
    pair = response.json()
    assert set(pair) == TOKEN_PAIR
    for kind in ("access", "refresh"):
        expires = datetime.fromisoformat(pair[f"{kind}_expires_at"].replace("Z", "+00:00"))
        assert expires == datetime.fromtimestamp(b64url_json(pair[kind].split(".")[1])["exp"], UTC)
        assert pair[f"{kind}_expires_at"].endswith("Z")
    lifetimes = settings.SIMPLE_JWT
    issued = datetime.fromtimestamp(b64url_json(pair["access"].split(".")[1])["iat"], UTC)
    assert expires_in(pair, "access", issued) == lifetimes["ACCESS_TOKEN_LIFETIME"]
    assert expires_in(pair, "refresh", issued) == lifetimes["REFRESH_TOKEN_LIFETIME"]
    assert "no-store" in response["Cache-Control"]


def expires_in(pair: dict, kind: str, issued: datetime) -> timedelta:
    expires = datetime.fromisoformat(pair[f"{kind}_expires_at"].replace("Z", "+00:00"))
    return expires - issued


def assert_refused(response):
    assert response.status_code == 401, response.content
    assert "detail" in response.json()


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def b64url_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- Log-in ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "login",
    ["carol", "CAROL", "Carol", "carol@example.com", "CAROL@EXAMPLE.COM", "Carol@Example.Com"],
)
def test_log_in_by_username_or_email_in_any_letter_case(api_client, customer, login):
    response = log_in(api_client, login)

    assert_token_pair(response)


def test_access_token_authenticates_as_bearer(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")

    response = bearer_client(tokens["access"]).get(ME_URL)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == customer.pk
    assert response.json()["username"] == "carol"


def test_request_without_a_token_is_401(api_client):
    assert api_client.get(ME_URL).status_code == 401


def refused_log_in_cases():
    make_user(username="ivy", email="ivy@example.com", is_active=False)
    return {
        "wrong password": {"username": "carol", "password": "Wr0ng-horse-battery"},
        "unknown user": {"username": "nobody", "password": DEFAULT_PASSWORD},
        "unknown email": {"username": "nobody@example.com", "password": DEFAULT_PASSWORD},
        "inactive user": {"username": "ivy", "password": DEFAULT_PASSWORD},
    }


def test_wrong_password_unknown_and_inactive_users_get_one_and_the_same_401(api_client, customer):
    bodies = {}
    for case, credentials in refused_log_in_cases().items():
        response = post(api_client, TOKEN_URL, credentials)
        assert response.status_code == 401, (case, response.content)
        bodies[case] = response.json()

    first = bodies["wrong password"]
    assert set(first) == {"detail", "code"}
    assert all(body == first for body in bodies.values()), bodies


def test_wrong_password_unknown_and_inactive_users_cost_one_hash_each(
    api_client, customer, settings
):
    """Timing must not tell an attacker which it was: each refusal costs exactly one hash."""
    cases = refused_log_in_cases()
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingMD5PasswordHasher"]
    costs = {}
    for case, credentials in cases.items():
        CountingMD5PasswordHasher.hashes.clear()
        response = post(api_client, TOKEN_URL, credentials)
        assert response.status_code == 401, (case, response.content)
        costs[case] = len(CountingMD5PasswordHasher.hashes)

    assert costs == dict.fromkeys(cases, 1)


def test_successful_log_in_costs_one_hash_too(api_client, customer, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingMD5PasswordHasher"]
    CountingMD5PasswordHasher.hashes.clear()

    assert_token_pair(log_in(api_client, "carol"))
    assert len(CountingMD5PasswordHasher.hashes) == 1


def test_a_password_with_spaces_around_it_logs_in_as_it_was_set(api_client):
    make_user(username="spacey", password="  Tr0ub4dor&3 ")

    assert_token_pair(log_in(api_client, "spacey", "  Tr0ub4dor&3 "))
    assert log_in(api_client, "spacey", "Tr0ub4dor&3").status_code == 401


def test_a_password_of_nothing_but_whitespace_is_a_wrong_password(api_client, customer):
    """The schema admits it (one character or more, no NUL): a 401 like any wrong password,
    not a 400 for a blank field."""
    response = log_in(api_client, "carol", "   ")

    assert response.status_code == 401, response.content


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "carol"},
        {"password": DEFAULT_PASSWORD},
        {"username": "", "password": DEFAULT_PASSWORD},
        {"username": "carol", "password": ""},
    ],
)
def test_log_in_without_credentials_is_400(api_client, customer, body):
    response = post(api_client, TOKEN_URL, body)

    assert response.status_code == 400, response.content
    assert not OutstandingToken.objects.exists()


# --- Refresh ------------------------------------------------------------------------------------


def test_refresh_answers_a_new_pair_and_is_not_cached(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")

    response = refresh(api_client, tokens["refresh"])

    assert_token_pair(response)
    assert response.json()["refresh"] != tokens["refresh"]
    assert response.json()["access"] != tokens["access"]


def test_refreshed_tokens_work(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")
    renewed = refresh(api_client, tokens["refresh"]).json()

    assert bearer_client(renewed["access"]).get(ME_URL).status_code == 200
    assert_token_pair(refresh(api_client, renewed["refresh"]))


def test_refresh_token_works_only_once(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")
    assert refresh(api_client, tokens["refresh"]).status_code == 200
    outstanding = OutstandingToken.objects.count()

    response = refresh(api_client, tokens["refresh"])

    assert_refused(response)
    assert OutstandingToken.objects.count() == outstanding


def tamper_payload(token: str, **claims) -> str:
    header, payload, signature = token.split(".")
    return ".".join([header, b64url(b64url_json(payload) | claims), signature])


def tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return ".".join([header, payload, signature[:middle] + flipped + signature[middle + 1 :]])


def test_tampered_refresh_token_is_401(api_client, customer, staff):
    raw = obtain_tokens(api_client, "carol")["refresh"]

    for tampered in [tamper_payload(raw, user_id=staff.pk), tamper_signature(raw)]:
        assert_refused(refresh(api_client, tampered))
    assert OutstandingToken.objects.count() == 1


def test_expired_refresh_token_is_401(api_client, customer):
    token = SessionRefreshToken.for_user(customer)
    token.set_exp(lifetime=-timedelta(seconds=1))

    assert_refused(refresh(api_client, str(token)))
    assert OutstandingToken.objects.count() == 1


def test_blacklisted_refresh_token_is_401(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]
    SessionRefreshToken(raw).blacklist()

    assert_refused(refresh(api_client, raw))
    assert OutstandingToken.objects.count() == 1


def test_access_token_given_as_refresh_is_401(api_client, customer):
    access = obtain_tokens(api_client, "carol")["access"]

    assert_refused(refresh(api_client, access))
    assert OutstandingToken.objects.count() == 1


@pytest.mark.parametrize("garbage", GARBAGE_TOKENS)
def test_garbage_refresh_token_is_401(api_client, garbage):
    assert_refused(refresh(api_client, garbage))
    assert not OutstandingToken.objects.exists()


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": 123}, {"refresh": None}])
def test_refresh_without_a_refresh_token_is_400(api_client, body):
    response = post(api_client, REFRESH_URL, body)

    assert response.status_code == 400, response.content
    assert "refresh" in response.json()
    assert not OutstandingToken.objects.exists()


def test_refresh_of_a_deactivated_user_is_401(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]
    User.objects.filter(pk=customer.pk).update(is_active=False)

    assert_refused(refresh(api_client, raw))
    assert OutstandingToken.objects.count() == 1


# --- A refresh token works once, even when requests race ---------------------------------------


def test_refresh_token_works_once_even_when_the_blacklist_pre_check_is_passed(
    api_client, customer, monkeypatch
):
    """Two racing requests can both pass the blacklist look-up before either writes; the
    spend itself must still let only one through. Skipping the look-up replays that race."""
    raw = obtain_tokens(api_client, "carol")["refresh"]
    monkeypatch.setattr(SessionRefreshToken, "check_blacklist", lambda self: None)

    statuses = sorted(refresh(APIClient(), raw).status_code for _ in range(2))

    assert statuses == [200, 401]
    assert OutstandingToken.objects.count() == 2
    assert BlacklistedToken.objects.count() == 1


RACERS = 20


@pytest.mark.django_db(transaction=True)
def test_refresh_token_works_once_when_requests_race(customer):
    raw = obtain_tokens(APIClient(), "carol")["refresh"]
    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def racer():
        try:
            client = APIClient()
            barrier.wait(timeout=10)
            response = refresh(client, raw)
            with lock:
                results.append((response.status_code, response.content))
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (RACERS - 1), results
    assert OutstandingToken.objects.count() == 2
    assert BlacklistedToken.objects.count() == 1


# --- Verify -------------------------------------------------------------------------------------


def verify(client, token):
    return post(client, VERIFY_URL, {"token": token})


def test_verify_valid_access_token_is_200_and_empty(api_client, customer):
    access = obtain_tokens(api_client, "carol")["access"]

    response = verify(api_client, access)

    assert response.status_code == 200, response.content
    assert response.json() == {}


@pytest.mark.parametrize("garbage", GARBAGE_TOKENS)
def test_verify_garbage_is_401(api_client, garbage):
    assert_refused(verify(api_client, garbage))


def test_verify_tampered_access_token_is_401(api_client, customer, staff):
    access = obtain_tokens(api_client, "carol")["access"]

    assert_refused(verify(api_client, tamper_payload(access, user_id=staff.pk)))
    assert_refused(verify(api_client, tamper_signature(access)))


def test_verify_blacklisted_refresh_token_is_401(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]
    SessionRefreshToken(raw).blacklist()

    assert_refused(verify(api_client, raw))


def test_verify_token_of_a_deactivated_user_is_401(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")
    User.objects.filter(pk=customer.pk).update(is_active=False)

    assert_refused(verify(api_client, tokens["access"]))
    assert_refused(verify(api_client, tokens["refresh"]))


def test_access_token_of_a_deactivated_user_stops_working_at_once(api_client, customer):
    access = obtain_tokens(api_client, "carol")["access"]
    User.objects.filter(pk=customer.pk).update(is_active=False)

    assert bearer_client(access).get(ME_URL).status_code == 401


# --- Logout -------------------------------------------------------------------------------------


def logout(client, token):
    return post(client, LOGOUT_URL, {"refresh": token})


def test_logout_is_204_and_blacklists_the_refresh_token(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]

    response = logout(api_client, raw)

    assert response.status_code == 204, response.content
    assert response.content == b""
    jti = SessionRefreshToken(raw, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()


def test_logout_twice_is_401(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]
    logout(api_client, raw)

    assert_refused(logout(api_client, raw))
    assert BlacklistedToken.objects.count() == 1


def test_refresh_after_logout_is_401(api_client, customer):
    raw = obtain_tokens(api_client, "carol")["refresh"]
    logout(api_client, raw)

    assert_refused(refresh(api_client, raw))
    assert OutstandingToken.objects.count() == 1


def test_logout_ends_only_that_session(api_client, customer):
    first = obtain_tokens(api_client, "carol")["refresh"]
    second = obtain_tokens(api_client, "carol")["refresh"]

    logout(api_client, first)

    assert_token_pair(refresh(api_client, second))


@pytest.mark.parametrize("garbage", GARBAGE_TOKENS)
def test_logout_with_garbage_is_401(api_client, garbage):
    assert_refused(logout(api_client, garbage))
    assert not BlacklistedToken.objects.exists()


def test_logout_with_an_access_token_is_401(api_client, customer):
    access = obtain_tokens(api_client, "carol")["access"]

    assert_refused(logout(api_client, access))
    assert not BlacklistedToken.objects.exists()


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": 123}, {"token": "x"}])
def test_logout_without_a_refresh_token_is_400(api_client, body):
    response = post(api_client, LOGOUT_URL, body)

    assert response.status_code == 400, response.content
    assert "refresh" in response.json()
    assert not BlacklistedToken.objects.exists()
