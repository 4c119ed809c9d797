"""Password change and password reset (API.md, "Users" and "Authentication")."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import DEFAULT_PASSWORD, make_user
from users.models import User

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
CHANGE_URL = "/api/v1/users/me/password/"
RESET_URL = "/api/v1/auth/password-reset/"
CONFIRM_URL = "/api/v1/auth/password-reset/confirm/"

# API.md: API_THROTTLE_AUTH defaults to 10 a minute, per client address.
AUTH_LIMIT = 10

NEW_PASSWORD = "N3w-staple-orbit"
RESET_LINK_TEMPLATE = "https://spa.example.test/account/reset?uid={uid}&token={token}"
RESET_LINK = re.compile(r"https://spa\.example\.test/account/reset\?\S+")

WEAK_PASSWORDS = [
    pytest.param("Ab1!xyz", id="too-short"),
    pytest.param("iloveyou", id="common"),
    pytest.param("8302957164", id="all-numeric"),
    pytest.param("carol-9x", id="like-the-username"),
    pytest.param("carol.example", id="like-the-email"),
]


def post(client, url, data):
    return client.post(url, data, format="json")


def can_log_in(login: str, password: str) -> bool:
    response = post(APIClient(), TOKEN_URL, {"username": login, "password": password})
    assert response.status_code in {200, 401}, response.content
    return response.status_code == 200


def refresh_status(raw: str) -> int:
    return post(APIClient(), REFRESH_URL, {"refresh": raw}).status_code


def assert_password_unchanged(user: User):
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert not user.check_password(NEW_PASSWORD)


# --- Change (POST /users/me/password/) -----------------------------------------------------------


def change_password(client, current=DEFAULT_PASSWORD, new=NEW_PASSWORD):
    return post(client, CHANGE_URL, {"current_password": current, "new_password": new})


def test_password_change_is_204_and_the_new_password_logs_in(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")

    response = change_password(bearer_client(tokens["access"]))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert can_log_in("carol", NEW_PASSWORD)
    assert not can_log_in("carol", DEFAULT_PASSWORD)


def test_password_change_with_wrong_current_password_is_400(api_client, customer):
    tokens = obtain_tokens(api_client, "carol")

    response = change_password(bearer_client(tokens["access"]), current="Wr0ng-horse-battery")

    assert response.status_code == 400, response.content
    assert "current_password" in response.json()
    assert "new_password" not in response.json()
    assert_password_unchanged(customer)


@pytest.mark.parametrize("weak", WEAK_PASSWORDS)
def test_password_change_to_a_weak_password_is_400(api_client, customer, weak):
    tokens = obtain_tokens(api_client, "carol")

    response = change_password(bearer_client(tokens["access"]), new=weak)

    assert response.status_code == 400, response.content
    assert "new_password" in response.json()
    assert "current_password" not in response.json()
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)
    assert not customer.check_password(weak)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": DEFAULT_PASSWORD}, "new_password"),
        ({"current_password": 12345678901, "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": DEFAULT_PASSWORD, "new_password": 12345678901}, "new_password"),
        ({"current_password": DEFAULT_PASSWORD, "new_password": "x" * 10_000}, "new_password"),
        ({"current_password": DEFAULT_PASSWORD, "new_password": "N3w\x00orbit-7"}, "new_password"),
    ],
)
def test_password_change_with_a_missing_or_bad_field_is_400_naming_it(
    api_client, customer, body, field
):
    tokens = obtain_tokens(api_client, "carol")

    response = post(bearer_client(tokens["access"]), CHANGE_URL, body)

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert_password_unchanged(customer)


def test_password_change_by_anonymous_is_401(api_client, customer):
    response = change_password(api_client)

    assert response.status_code == 401, response.content
    assert set(response.json()) == {"detail", "code"}
    assert_password_unchanged(customer)


def test_password_change_revokes_the_callers_other_refresh_tokens(customer):
    first = obtain_tokens(APIClient(), "carol")
    second = obtain_tokens(APIClient(), "carol")

    response = change_password(bearer_client(first["access"]))

    assert response.status_code == 204, response.content
    assert refresh_status(second["refresh"]) == 401
    assert refresh_status(first["refresh"]) == 200


def test_password_change_leaves_other_users_logged_in(customer):
    other = make_user()
    others_tokens = obtain_tokens(APIClient(), other.username)
    mine = obtain_tokens(APIClient(), "carol")

    change_password(bearer_client(mine["access"]))

    assert refresh_status(others_tokens["refresh"]) == 200


# --- Reset request (POST /auth/password-reset/) -------------------------------------------------


@pytest.fixture
def reset_link_setting(settings):
    settings.PASSWORD_RESET_URL = RESET_LINK_TEMPLATE


def request_reset(client, email):
    """The email leaves once the request's transaction commits (users.mail); a test's own
    transaction never does, so its commit callbacks run here, as a commit runs them."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return post(client, RESET_URL, {"email": email})


def mailed_link(message) -> tuple[str, str]:
    """The uid and token in the link of a reset email."""
    links = RESET_LINK.findall(message.body)
    assert len(links) == 1, message.body
    query = parse_qs(urlsplit(links[0]).query, strict_parsing=True)
    assert set(query) == {"uid", "token"}, links[0]
    return query["uid"][0], query["token"][0]


def test_reset_request_answers_the_same_202_whether_or_not_the_email_exists(
    api_client, customer, mailoutbox, reset_link_setting
):
    known = request_reset(api_client, "carol@example.com")
    unknown = request_reset(api_client, "nobody@example.com")

    assert known.status_code == 202, known.content
    assert unknown.status_code == 202, unknown.content
    assert known.content == unknown.content
    assert set(known.json()) == {"detail"}
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["carol@example.com"]


def test_reset_request_matches_the_email_in_any_letter_case(
    api_client, customer, mailoutbox, reset_link_setting
):
    response = request_reset(api_client, "CAROL@Example.COM")

    assert response.status_code == 202
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["carol@example.com"]


def test_reset_email_holds_a_link_built_from_the_reset_url_setting(
    api_client, customer, mailoutbox, reset_link_setting
):
    request_reset(api_client, "carol@example.com")

    uid, token = mailed_link(mailoutbox[0])
    assert RESET_LINK_TEMPLATE.format(uid=uid, token=token) in mailoutbox[0].body
    assert uid
    assert token


def test_no_reset_mail_for_an_inactive_account(api_client, mailoutbox, reset_link_setting):
    make_user(email="gone@example.com", is_active=False)

    response = request_reset(api_client, "gone@example.com")

    assert response.status_code == 202
    assert mailoutbox == []


@pytest.mark.parametrize("email", ["not-an-email", "carol@", "carol@example.c"])
def test_reset_request_for_what_is_no_address_is_the_same_202(
    api_client, customer, mailoutbox, email
):
    """Nobody's address, malformed or not, gets the answer every address gets (the schema's
    `format: email` and Django's validator disagree on some addresses, such as `a@b.c`)."""
    response = request_reset(api_client, email)

    assert response.status_code == 202, response.content
    assert response.json() == request_reset(api_client, "nobody@example.com").json()
    assert mailoutbox == []


@pytest.mark.parametrize("email", [" ", "\x1d", "\t\n", "\u00a0"])
def test_reset_request_for_nothing_but_whitespace_is_the_same_202(
    api_client, customer, mailoutbox, email
):
    """The schema admits any string of one character or more without NUL: whitespace alone
    is nobody's address, not a blank field."""
    response = request_reset(api_client, email)

    assert response.status_code == 202, response.content
    assert response.json() == request_reset(api_client, "nobody@example.com").json()
    assert mailoutbox == []


def test_reset_request_looks_the_address_up_without_the_whitespace_around_it(
    api_client, customer, mailoutbox, reset_link_setting
):
    response = request_reset(api_client, " carol@example.com\n")

    assert response.status_code == 202, response.content
    assert [message.to for message in mailoutbox] == [["carol@example.com"]]


@pytest.mark.parametrize(
    "email",
    ["", 12345, ["carol@example.com"], None, "car\x00ol@example.com", "c" * 255],
)
def test_reset_request_with_a_malformed_email_is_400(api_client, customer, mailoutbox, email):
    response = request_reset(api_client, email)

    assert response.status_code == 400, response.content
    assert "email" in response.json()
    assert mailoutbox == []


def test_reset_request_longer_than_an_address_is_400_even_with_whitespace_around(
    api_client, customer, mailoutbox
):
    """The schema's maxLength counts what is sent, whitespace included."""
    response = request_reset(api_client, "carol@example.com" + " " * 240)

    assert response.status_code == 400, response.content
    assert "email" in response.json()
    assert mailoutbox == []


def test_reset_request_without_an_email_is_400(api_client, mailoutbox):
    response = post(api_client, RESET_URL, {})

    assert response.status_code == 400, response.content
    assert "email" in response.json()
    assert mailoutbox == []


def test_eleventh_reset_request_in_a_minute_is_429(api_client, customer, mailoutbox):
    statuses = [
        request_reset(api_client, f"nobody{n}@example.com").status_code for n in range(AUTH_LIMIT)
    ]

    response = request_reset(api_client, "carol@example.com")

    assert statuses == [202] * AUTH_LIMIT
    assert response.status_code == 429, response.content
    assert set(response.json()) == {"detail", "code"}
    assert int(response["Retry-After"]) > 0
    assert mailoutbox == []


# --- Reset confirm (POST /auth/password-reset/confirm/) -----------------------------------------


@pytest.fixture
def reset_link(api_client, customer, mailoutbox, reset_link_setting) -> tuple[str, str]:
    response = request_reset(api_client, "carol@example.com")
    assert response.status_code == 202
    return mailed_link(mailoutbox[0])


def confirm(uid, token, new_password=NEW_PASSWORD):
    body = {"uid": uid, "token": token, "new_password": new_password}
    return post(APIClient(), CONFIRM_URL, body)


def test_reset_confirm_is_204_and_sets_the_new_password(customer, reset_link):
    response = confirm(*reset_link)

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert can_log_in("carol", NEW_PASSWORD)
    assert not can_log_in("carol", DEFAULT_PASSWORD)


def test_reset_confirm_revokes_every_refresh_token_of_the_user(
    api_client, customer, mailoutbox, reset_link_setting
):
    # Logged in first: Django's reset tokens also expire when the user logs in after the mail.
    sessions = [obtain_tokens(APIClient(), "carol")["refresh"] for _ in range(2)]
    other = make_user()
    others_refresh = obtain_tokens(APIClient(), other.username)["refresh"]
    request_reset(api_client, "carol@example.com")

    assert confirm(*mailed_link(mailoutbox[0])).status_code == 204

    assert [refresh_status(raw) for raw in sessions] == [401, 401]
    assert refresh_status(others_refresh) == 200


def test_reset_link_works_only_once(customer, reset_link):
    assert confirm(*reset_link).status_code == 204

    response = confirm(*reset_link, new_password="An0ther-fresh-phrase")

    assert response.status_code == 400, response.content
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)
    assert not customer.check_password("An0ther-fresh-phrase")


@pytest.mark.parametrize(
    "uid", ["", "garbage", "MTIzNDU2Nzg5", "!!!", "x" * 10_000, "OTIyMzM3MjAzNjg1NDc3NTgwOQ"]
)
def test_reset_confirm_with_a_bad_uid_is_400(customer, reset_link, uid):
    _, token = reset_link

    response = confirm(uid, token)

    assert response.status_code == 400, response.content
    assert_password_unchanged(customer)


@pytest.mark.parametrize("token", ["", "garbage", "abc-def", "x" * 10_000])
def test_reset_confirm_with_a_bad_token_is_400(customer, reset_link, token):
    uid, _ = reset_link

    response = confirm(uid, token)

    assert response.status_code == 400, response.content
    assert_password_unchanged(customer)


def test_uid_of_one_link_with_the_token_of_another_is_400(
    api_client, customer, mailoutbox, reset_link
):
    other = make_user(email="olga@example.com")
    request_reset(api_client, "olga@example.com")
    others_uid, _ = mailed_link(mailoutbox[1])
    _, carols_token = reset_link

    response = confirm(others_uid, carols_token)

    assert response.status_code == 400, response.content
    other.refresh_from_db()
    assert other.check_password(DEFAULT_PASSWORD)
    assert_password_unchanged(customer)


@pytest.mark.parametrize("weak", WEAK_PASSWORDS)
def test_reset_confirm_with_a_weak_password_is_400(customer, reset_link, weak):
    response = confirm(*reset_link, new_password=weak)

    assert response.status_code == 400, response.content
    assert "new_password" in response.json()
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)
    assert not customer.check_password(weak)
