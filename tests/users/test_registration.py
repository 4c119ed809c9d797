"""POST /api/v1/auth/register/ (API.md, "Authentication", "Users", "Lists, errors, limits")."""

import re
from datetime import datetime

import pytest
from rest_framework.test import APIClient

from tests.conftest import CONFIGURED_PASSWORD_HASHERS, obtain_tokens
from tests.factories import DEFAULT_PASSWORD
from users.models import User

REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"

# API.md: API_THROTTLE_AUTH defaults to 10 a minute, per client address.
AUTH_LIMIT = 10

USER_KEYS = {
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "is_staff",
    "is_active",
    "date_joined",
    "email_verified",
    "pending_email",
    "mfa_enabled",
}
STRONG_PASSWORD = "Tr0mbone-ledger-41"
ISO_UTC_MICROSECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")


def valid_payload(**overrides) -> dict:
    payload = {
        "username": "dora",
        "email": "dora@example.com",
        "password": STRONG_PASSWORD,
        "first_name": "Dora",
        "last_name": "Maar",
    }
    return payload | overrides


def register(client, payload, **extra):
    return client.post(REGISTER_URL, payload, format="json", **extra)


def assert_rejected_under(response, field: str, users_before: int):
    """A 400 that names the field, and no account written."""
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert isinstance(response.json()[field], list)
    assert User.objects.count() == users_before


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert set(response.json()) == {"detail", "code"}
    assert int(response["Retry-After"]) > 0


# --- Success ------------------------------------------------------------------------------------


def test_registration_answers_201_with_the_user_representation(api_client):
    response = register(api_client, valid_payload())

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_KEYS
    user = User.objects.get(username="dora")
    assert body["id"] == user.pk
    assert body["username"] == "dora"
    assert body["email"] == "dora@example.com"
    assert body["first_name"] == "Dora"
    assert body["last_name"] == "Maar"
    assert body["is_staff"] is False
    assert body["is_active"] is True
    assert ISO_UTC_MICROSECONDS.match(body["date_joined"]), body["date_joined"]
    assert datetime.fromisoformat(body["date_joined"]) == user.date_joined


def test_registration_never_shows_the_password_or_its_hash(api_client):
    response = register(api_client, valid_payload())

    assert response.status_code == 201
    stored_hash = User.objects.get(username="dora").password
    assert "password" not in response.json()
    assert STRONG_PASSWORD.encode() not in response.content
    assert stored_hash.encode() not in response.content


def test_registration_stores_the_password_hashed(api_client):
    register(api_client, valid_payload())

    user = User.objects.get(username="dora")
    assert user.password != STRONG_PASSWORD
    assert user.check_password(STRONG_PASSWORD)


def test_first_and_last_name_are_optional(api_client):
    response = register(
        api_client, {"username": "dora", "email": "d@example.com", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 201, response.content
    assert response.json()["first_name"] == ""
    assert response.json()["last_name"] == ""


def test_registered_user_can_log_in(api_client):
    register(api_client, valid_payload())

    tokens = obtain_tokens(APIClient(), "dora", STRONG_PASSWORD)

    assert set(tokens) == {"access", "refresh", "access_expires_at", "refresh_expires_at"}


def test_configured_hashers_store_the_password_with_argon2(api_client, settings):
    settings.PASSWORD_HASHERS = CONFIGURED_PASSWORD_HASHERS

    response = register(api_client, valid_payload())

    assert response.status_code == 201
    user = User.objects.get(username="dora")
    assert user.password.startswith("argon2")
    assert user.check_password(STRONG_PASSWORD)


def test_is_staff_and_is_superuser_in_the_body_are_ignored(api_client):
    response = register(api_client, valid_payload(is_staff=True, is_superuser=True))

    assert response.status_code == 201, response.content
    assert response.json()["is_staff"] is False
    user = User.objects.get(username="dora")
    assert not user.is_staff
    assert not user.is_superuser


# --- Username and email: missing, blank, taken ----------------------------------------------------


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_registration_without_a_required_field_is_400_under_it(api_client, field):
    payload = valid_payload()
    del payload[field]

    response = register(api_client, payload)

    assert_rejected_under(response, field, users_before=0)


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_registration_with_a_blank_required_field_is_400_under_it(api_client, field):
    response = register(api_client, valid_payload(**{field: ""}))

    assert_rejected_under(response, field, users_before=0)


@pytest.mark.parametrize("taken", ["carol", "CAROL", "Carol", "cArOl"])
def test_username_taken_in_any_letter_case_is_400(api_client, customer, taken):
    response = register(api_client, valid_payload(username=taken))

    assert_rejected_under(response, "username", users_before=1)


@pytest.mark.parametrize("taken", ["carol@example.com", "CAROL@EXAMPLE.COM", "Carol@Example.com"])
def test_email_taken_in_any_letter_case_is_400(api_client, customer, taken):
    response = register(api_client, valid_payload(email=taken))

    assert_rejected_under(response, "email", users_before=1)


# --- Password validators, run with the new user's attributes --------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("Ab1!xyz", id="too-short"),
        pytest.param("iloveyou", id="common"),
        pytest.param("qwertyuiop", id="common-long"),
        pytest.param("8302957164", id="all-numeric"),
    ],
)
def test_password_refused_by_the_validators_is_400_under_password(api_client, password):
    response = register(api_client, valid_payload(password=password))

    assert_rejected_under(response, "password", users_before=0)


def test_password_too_similar_to_the_username_is_400(api_client):
    # Would pass every validator for another user: only the new user's username refuses it.
    payload = valid_payload(
        username="quentinblake", email="qb@example.com", password="quentinblake7"
    )

    response = register(api_client, payload)

    assert_rejected_under(response, "password", users_before=0)


def test_password_too_similar_to_the_email_is_400(api_client):
    payload = valid_payload(
        username="rf1920", email="rosalind.franklin@example.com", password="rosalind.franklin"
    )

    response = register(api_client, payload)

    assert_rejected_under(response, "password", users_before=0)


def test_every_field_problem_and_the_passwords_come_in_one_answer(api_client, customer):
    # One round, not two: a taken username and a bad email do not hide the weak password.
    payload = valid_payload(username="carol", email="not-an-email", password="iloveyou")

    response = register(api_client, payload)

    assert_rejected_under(response, "password", users_before=1)
    assert set(response.json()) == {"username", "email", "password"}
    assert response.json()["password"] == ["This password is too common."]


def test_password_is_compared_with_the_attributes_sent_even_when_one_is_refused(api_client):
    # The email is malformed, yet the password is still checked against the username sent.
    payload = valid_payload(username="quentinblake", email="quentin@", password="quentinblake7")

    response = register(api_client, payload)

    assert set(response.json()) == {"email", "password"}
    assert response.json()["password"] == ["The password is too similar to the username."]
    assert User.objects.count() == 0


def test_a_strong_password_adds_nothing_to_the_other_fields_problems(api_client):
    response = register(api_client, valid_payload(email="not-an-email", username=12345))

    assert response.status_code == 400
    assert set(response.json()) == {"email", "username"}


def test_a_body_that_is_not_an_object_is_one_400(api_client):
    response = register(api_client, ["dora", STRONG_PASSWORD])

    assert response.status_code == 400
    assert set(response.json()) == {"non_field_errors"}


# --- Bad values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["not-an-email", "dora@", "@example.com", "dora@example", "dora example@example.com"]
)
def test_bad_email_is_400(api_client, email):
    response = register(api_client, valid_payload(email=email))

    assert_rejected_under(response, "email", users_before=0)


@pytest.mark.parametrize(
    "username",
    ["carol@example.com", "dora@home", "dora maar", "dora\tmaar", "dora/maar", "x" * 151],
)
def test_username_outside_the_allowed_characters_is_400(api_client, username):
    response = register(api_client, valid_payload(username=username))

    assert_rejected_under(response, "username", users_before=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", 12345),
        ("username", True),
        ("username", ["dora"]),
        ("username", {"name": "dora"}),
        ("username", None),
        ("email", ["dora@example.com"]),
        ("email", 42),
        ("email", {"address": "dora@example.com"}),
        ("password", 830295716412),
        ("password", ["Tr0mbone-ledger-41"]),
        ("password", None),
        ("first_name", 7),
        ("last_name", False),
    ],
)
def test_wrong_json_type_is_400_naming_the_field(api_client, field, value):
    response = register(api_client, valid_payload(**{field: value}))

    assert_rejected_under(response, field, users_before=0)


@pytest.mark.parametrize("field", ["username", "email", "password", "first_name", "last_name"])
def test_ten_thousand_character_string_is_400_naming_the_field(api_client, field):
    value = "x" * 10_000 if field != "email" else "x" * 9_988 + "@example.com"

    response = register(api_client, valid_payload(**{field: value}))

    assert_rejected_under(response, field, users_before=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "do\x00ra"),
        ("email", "do\x00ra@example.com"),
        ("password", "Tr0mbone\x00ledger-41"),
        ("first_name", "Do\x00ra"),
        ("last_name", "Ma\x00ar"),
    ],
)
def test_nul_byte_is_400_naming_the_field(api_client, field, value):
    response = register(api_client, valid_payload(**{field: value}))

    assert_rejected_under(response, field, users_before=0)


# --- Throttling ---------------------------------------------------------------------------------


def register_many(client, count: int, prefix: str, **extra) -> list[int]:
    statuses = []
    for n in range(count):
        payload = valid_payload(username=f"{prefix}{n}", email=f"{prefix}{n}@example.com")
        statuses.append(register(client, payload, **extra).status_code)
    return statuses


def test_eleventh_registration_in_a_minute_from_one_address_is_429(api_client):
    assert register_many(api_client, AUTH_LIMIT, "early") == [201] * AUTH_LIMIT

    response = register(api_client, valid_payload(username="late", email="late@example.com"))

    assert_throttled(response)
    assert not User.objects.filter(username="late").exists()
    assert User.objects.count() == AUTH_LIMIT


def test_throttle_counts_each_client_address_on_its_own(api_client):
    register_many(api_client, AUTH_LIMIT, "first", REMOTE_ADDR="198.51.100.1")

    response = register(api_client, valid_payload(), REMOTE_ADDR="198.51.100.2")

    assert response.status_code == 201, response.content


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_client, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {"NUM_PROXIES": 0}
    statuses = []
    for n in range(AUTH_LIMIT):
        payload = valid_payload(username=f"spoof{n}", email=f"spoof{n}@example.com")
        forwarded = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n + 1}"}
        statuses.append(register(api_client, payload, **forwarded).status_code)

    response = register(api_client, valid_payload(), HTTP_X_FORWARDED_FOR="203.0.113.200")

    assert statuses == [201] * AUTH_LIMIT
    assert_throttled(response)
    assert not User.objects.filter(username="dora").exists()


def test_x_forwarded_for_names_the_client_through_one_trusted_proxy(api_client, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {"NUM_PROXIES": 1}
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    statuses = register_many(
        api_client, AUTH_LIMIT, "alice", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy
    )

    # The client may prepend whatever it likes; the proxy's appended entry is what counts.
    spoofed = register(
        api_client,
        valid_payload(username="alice-again", email="alice-again@example.com"),
        HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7",
        **proxy,
    )
    other_client = register(
        api_client, valid_payload(), HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy
    )

    assert statuses == [201] * AUTH_LIMIT
    assert_throttled(spoofed)
    assert not User.objects.filter(username="alice-again").exists()
    assert other_client.status_code == 201, other_client.content


def test_registrations_do_not_use_up_token_log_ins(api_client, customer):
    assert register_many(api_client, AUTH_LIMIT, "signup") == [201] * AUTH_LIMIT

    response = api_client.post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert_throttled(register(api_client, valid_payload()))
