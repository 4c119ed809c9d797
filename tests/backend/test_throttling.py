"""The log-in throttle (API.md, Throttling): a sliding window in the shared cache, one budget per
address for every way to check a password. These run on local memory, and on Redis with
REDIS_URL set."""

import itertools

import pytest
from rest_framework.test import APIClient

from backend import throttling
from tests.conftest import FakeTime
from tests.factories import DEFAULT_PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
CHANGE_URL = "/api/v1/users/me/password/"
ME_URL = "/api/v1/users/me/"
REGISTER_URL = "/api/v1/auth/register/"
SESSION_LOGIN_URLS = ["/api-auth/login/", "/admin/login/"]
AUTH_LIMIT = 10  # API_THROTTLE_AUTH's default, 10 a minute
GUESSES = itertools.count()


def wrong():
    """A wrong password for a name of its own: the per-name backoff (users/backoff.py) stays out
    of what these tests count."""
    return {"username": f"guess-{next(GUESSES)}", "password": "wrong-password"}


@pytest.fixture
def clock(monkeypatch):
    # Two seconds before a clock minute ends, where fixed windows reset.
    fake = FakeTime(1_800_000_000 // 60 * 60 + 58.0)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def wrong_log_in(client=None, **extra):
    return (client or APIClient()).post(TOKEN_URL, wrong(), format="json", **extra)


def test_no_more_than_the_limit_passes_across_a_clock_minute_boundary(clock, customer):
    before = [wrong_log_in().status_code for _ in range(AUTH_LIMIT)]
    clock.now += 4  # a new clock minute, 4 s after the first attempts

    after = wrong_log_in()

    assert before == [401] * AUTH_LIMIT
    assert after.status_code == 429
    assert set(after.json()) == {"detail", "code"}
    assert int(after["Retry-After"]) == 56  # when the first attempt leaves the 60 s window


def test_retry_after_is_when_the_oldest_attempt_leaves_the_window(clock, customer):
    for _ in range(AUTH_LIMIT):
        wrong_log_in()
        clock.now += 1
    clock.now += 20  # 30 s after the first attempt

    refused = wrong_log_in()
    clock.now += int(refused["Retry-After"])
    allowed = wrong_log_in()
    again = wrong_log_in()

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 30
    assert allowed.status_code == 401  # the first attempt has left the window: one more
    assert again.status_code == 429
    assert int(again["Retry-After"]) == 1


def test_refused_attempts_do_not_push_the_window_on(clock, customer):
    for _ in range(AUTH_LIMIT):
        wrong_log_in()
    for _ in range(5):
        clock.now += 10
        assert wrong_log_in().status_code == 429
    clock.now += 10  # 60 s after the first attempts

    response = APIClient().post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200


@pytest.mark.parametrize("url", SESSION_LOGIN_URLS)
def test_the_session_log_in_pages_spend_the_token_endpoints_budget(clock, client, customer, url):
    for _ in range(AUTH_LIMIT // 2):
        wrong_log_in()
    for _ in range(AUTH_LIMIT // 2):
        assert client.post(url, wrong()).status_code == 200  # the form again, with its error

    page = client.post(url, {"username": "carol", "password": DEFAULT_PASSWORD})
    token = APIClient().post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert page.status_code == 429
    assert int(page["Retry-After"]) == 60
    assert "_auth_user_id" not in client.session
    assert token.status_code == 429


def test_both_session_log_in_pages_share_one_budget(clock, client, customer):
    for n in range(AUTH_LIMIT):
        client.post(SESSION_LOGIN_URLS[n % 2], wrong())

    assert client.post(SESSION_LOGIN_URLS[0], wrong()).status_code == 429
    assert client.post(SESSION_LOGIN_URLS[1], wrong()).status_code == 429
    assert wrong_log_in().status_code == 429


def test_password_changes_spend_the_log_in_budget(clock, customer, customer_client):
    for _ in range(AUTH_LIMIT):
        wrong_log_in()

    response = customer_client.post(
        CHANGE_URL,
        {"current_password": DEFAULT_PASSWORD, "new_password": "N3w-staple-orbit"},
        format="json",
    )

    assert response.status_code == 429
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)


def test_guessing_through_password_changes_is_throttled_too(clock, customer, customer_client):
    guesses = [
        customer_client.post(
            CHANGE_URL,
            {"current_password": f"guess-{n}", "new_password": "N3w-staple-orbit"},
            format="json",
        ).status_code
        for n in range(AUTH_LIMIT)
    ]

    right = customer_client.post(
        CHANGE_URL,
        {"current_password": DEFAULT_PASSWORD, "new_password": "N3w-staple-orbit"},
        format="json",
    )

    assert guesses == [400] * AUTH_LIMIT
    assert right.status_code == 429
    assert int(right["Retry-After"]) == 60
    assert wrong_log_in().status_code == 429


def test_a_profile_write_carrying_a_password_spends_the_log_in_budget(
    clock, customer, customer_client
):
    for _ in range(AUTH_LIMIT):
        wrong_log_in()

    guess = customer_client.patch(
        ME_URL, {"email": "new@example.com", "current_password": DEFAULT_PASSWORD}, format="json"
    )
    plain = customer_client.patch(ME_URL, {"first_name": "Caroline"}, format="json")

    assert guess.status_code == 429
    customer.refresh_from_db()
    assert customer.email == "carol@example.com"
    assert plain.status_code == 200  # no password, nothing to guess: not counted


def test_registrations_keep_a_budget_of_their_own(clock, customer):
    for _ in range(AUTH_LIMIT):
        wrong_log_in()

    response = APIClient().post(
        REGISTER_URL,
        {"username": "dora", "email": "dora@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_each_address_has_its_own_budget(clock, customer):
    for _ in range(AUTH_LIMIT):
        wrong_log_in(REMOTE_ADDR="198.51.100.1")

    assert wrong_log_in(REMOTE_ADDR="198.51.100.2").status_code == 401
    assert wrong_log_in(REMOTE_ADDR="198.51.100.1").status_code == 429


def test_attempts_in_one_millisecond_are_each_counted(clock):
    key = "throttle:test:same-moment"

    answers = [throttling.spend_in_window(key, 3, 60) for _ in range(4)]

    assert [(wait, remaining) for wait, remaining, _ in answers] == [
        (0, 2),
        (0, 1),
        (0, 0),
        (60, 0),
    ]


def test_anonymous_reads_are_still_limited_with_retry_after(clock, api_client, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        | {"anon": "3/min"}
    }
    statuses = [api_client.get("/api/v1/categories/").status_code for _ in range(3)]

    refused = api_client.get("/api/v1/categories/")

    assert statuses == [200] * 3
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 2  # the fixed window ends with the clock minute
