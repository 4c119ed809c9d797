"""The caller's own profile: GET, PUT and PATCH /api/v1/users/me/ (API.md, "Users")."""

import re
from datetime import UTC, datetime

import pytest

from tests.factories import DEFAULT_PASSWORD, make_user
from users.models import User

ME_URL = "/api/v1/users/me/"
ISO_UTC_MICROSECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def stored(user: User) -> dict:
    """Every column of the user's row, as the database holds it now."""
    return User.objects.values().get(pk=user.pk)


@pytest.mark.parametrize("method", ["get", "put", "patch"])
def test_anonymous_caller_gets_401_with_a_bearer_challenge(api_client, customer, method):
    before = stored(customer)

    response = getattr(api_client, method)(ME_URL, {"first_name": "Mallory"}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail", "code"}
    assert stored(customer) == before


def test_profile_is_the_exact_representation_of_the_caller(customer_client, customer):
    customer.first_name, customer.last_name = "Carol", "Jones"
    customer.save()

    response = customer_client.get(ME_URL)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": customer.pk,
        "username": "carol",
        "email": "carol@example.com",
        "first_name": "Carol",
        "last_name": "Jones",
        "is_staff": False,
        "is_active": True,
        "date_joined": body["date_joined"],
        "email_verified": False,
        "pending_email": "",
        "mfa_enabled": False,
    }
    assert ISO_UTC_MICROSECONDS.match(body["date_joined"]), body["date_joined"]
    joined = datetime.strptime(body["date_joined"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert joined == customer.date_joined


def test_profile_never_shows_the_password_or_its_hash(customer_client, customer):
    response = customer_client.get(ME_URL)

    assert response.status_code == 200
    assert "password" not in response.json()
    assert customer.password not in response.content.decode()


def test_patch_stores_the_first_name(customer_client, customer):
    response = customer_client.patch(ME_URL, {"first_name": "Caroline"}, format="json")

    assert response.status_code == 200
    assert response.json()["first_name"] == "Caroline"
    customer.refresh_from_db()
    assert customer.first_name == "Caroline"
    assert customer.username == "carol"


def test_put_replaces_the_profile_fields(customer_client, customer):
    payload = {
        "username": "caroline",
        "email": "caroline@example.org",
        "first_name": "Caroline",
        "last_name": "Smith",
    }

    response = customer_client.put(
        ME_URL, payload | {"current_password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert "current_password" not in response.json()
    customer.refresh_from_db()
    # The new email waits for its link (tests/users/test_email_verification.py).
    assert {name: getattr(customer, name) for name in payload} == payload | {
        "email": "carol@example.com"
    }
    assert customer.pending_email == "caroline@example.org"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_privileged_and_read_only_fields_in_the_body_are_ignored(customer_client, customer, method):
    before = stored(customer)
    payload = {
        "username": "carol",
        "email": "carol@example.com",
        "first_name": "Carol",
        "is_staff": True,
        "is_superuser": True,
        "is_active": False,
        "date_joined": "2000-01-01T00:00:00.000000Z",
        "id": customer.pk + 1000,
    }

    response = getattr(customer_client, method)(ME_URL, payload, format="json")

    assert response.status_code == 200
    assert response.json()["is_staff"] is False
    assert response.json()["id"] == customer.pk
    after = stored(customer)
    for name in ("id", "is_staff", "is_superuser", "is_active", "date_joined", "password"):
        assert after[name] == before[name], name
    assert after["first_name"] == "Carol"
    assert not User.objects.filter(pk=customer.pk + 1000).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "DAVE"),
        ("username", "Dave"),
        ("email", "DAVE@EXAMPLE.COM"),
        ("email", "dave@Example.com"),
    ],
)
def test_username_or_email_taken_by_someone_else_in_any_case_is_400(
    customer_client, customer, field, value
):
    dave = make_user(username="dave", email="dave@example.com")
    before, dave_before = stored(customer), stored(dave)

    response = customer_client.patch(ME_URL, {field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field]
    assert stored(customer) == before
    assert stored(dave) == dave_before


def test_changing_only_the_case_of_ones_own_username_is_allowed(customer_client, customer):
    response = customer_client.patch(ME_URL, {"username": "Carol"}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.username == "Carol"


def test_changing_only_the_case_of_ones_own_email_is_allowed(customer_client, customer):
    response = customer_client.patch(ME_URL, {"email": "Carol@example.com"}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.email.lower() == "carol@example.com"
    assert customer.email != "carol@example.com"


@pytest.mark.parametrize("missing", ["username", "email"])
def test_put_without_username_or_email_is_400_under_that_field(customer_client, customer, missing):
    before = stored(customer)
    payload = {
        "username": "caroline",
        "email": "caroline@example.org",
        "first_name": "Caroline",
        "last_name": "Smith",
    }
    del payload[missing]

    response = customer_client.put(ME_URL, payload, format="json")

    assert response.status_code == 400
    assert missing in response.json()
    assert stored(customer) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", 123),
        ("email", 123),
        ("first_name", 123),
        ("last_name", 1.5),
        ("first_name", True),
        ("first_name", {"name": "Carol"}),
        ("last_name", ["Jones"]),
        ("username", ["carol2"]),
        ("email", {"address": "x@example.com"}),
        ("first_name", None),
        ("username", None),
        ("username", ""),
        ("email", ""),
        ("username", "x" * 10_000),
        ("email", "x" * 10_000 + "@example.com"),
        ("first_name", "x" * 10_000),
        ("last_name", "x" * 10_000),
        ("username", "car\x00ol"),
        ("email", "car\x00ol@example.com"),
        ("first_name", "Car\x00ol"),
        ("last_name", "\x00"),
        ("username", "carol@example.org"),
        ("username", "carol smith"),
        ("email", "not-an-email"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_bad_field_value_is_400_naming_the_field_and_nothing_changes(
    customer_client, customer, method, field, value
):
    before = stored(customer)
    payload = {"username": "carol2", "email": "carol2@example.com", "first_name": "C"}
    payload[field] = value

    response = getattr(customer_client, method)(ME_URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()
    messages = response.json()[field]
    assert messages
    assert all(isinstance(message, str) and message for message in messages)
    assert stored(customer) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"first_name": "Mallory",}',
        b'{"first_name": ',
        b"{first_name: 'Mallory'}",
        b'{"first_name": NaN}',
        b'{"first_name": "Mallory"} trailing',
        b'\xff\xfe{"first_name": "Mallory"}',
    ],
)
def test_malformed_json_is_400_whose_detail_mentions_json(customer_client, customer, body):
    before = stored(customer)

    response = customer_client.generic("PATCH", ME_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {"detail", "code"}
    assert "json" in response.json()["detail"].lower()
    assert stored(customer) == before


def test_lone_surrogate_in_json_is_refused_and_nothing_changes(customer_client, customer):
    before = stored(customer)

    response = customer_client.generic(
        "PATCH", ME_URL, b'{"first_name": "\\ud800"}', content_type="application/json"
    )

    assert 400 <= response.status_code < 500
    assert stored(customer) == before


@pytest.mark.parametrize("body", [b"[]", b'["first_name"]', b'"Mallory"', b"42", b"null"])
def test_a_json_body_that_is_not_an_object_is_400(customer_client, customer, body):
    before = stored(customer)

    response = customer_client.generic("PATCH", ME_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert response.json()
    assert stored(customer) == before


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_text_plain_body_is_415_and_nothing_changes(customer_client, customer, method):
    before = stored(customer)

    response = customer_client.generic(
        method, ME_URL, "first_name=Mallory", content_type="text/plain"
    )

    assert response.status_code == 415
    assert set(response.json()) == {"detail", "code"}
    assert "text/plain" in response.json()["detail"]
    assert stored(customer) == before


# --- a new username or email needs the password (issue 11, item 3) -------------------------------


NEW_LOGINS = [
    pytest.param({"email": "mallory@example.com"}, id="email"),
    pytest.param({"username": "mallory"}, id="username"),
    pytest.param({"username": "mallory", "email": "mallory@example.com"}, id="both"),
]


@pytest.mark.parametrize("change", NEW_LOGINS)
@pytest.mark.parametrize("password", [None, "wrong-password", ""])
def test_a_new_username_or_email_without_the_right_password_is_400(
    customer_client, customer, mailoutbox, django_capture_on_commit_callbacks, change, password
):
    """A stolen access token must not be enough to move the account to another address."""
    body = change | {"first_name": "Mallory"}
    if password is not None:
        body["current_password"] = password
    before = stored(customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.patch(ME_URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["current_password"]
    assert stored(customer) == before
    assert mailoutbox == []


def test_put_with_a_new_email_needs_the_password_too(customer_client, customer):
    before = stored(customer)
    payload = {"username": "carol", "email": "mallory@example.com", "first_name": "M"}

    response = customer_client.put(ME_URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["current_password"]
    assert stored(customer) == before


@pytest.mark.parametrize("change", NEW_LOGINS)
def test_a_new_username_or_email_with_the_password_is_stored(
    customer_client, customer, change, django_capture_on_commit_callbacks
):
    body = change | {"current_password": DEFAULT_PASSWORD}

    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.patch(ME_URL, body, format="json")

    assert response.status_code == 200
    assert "current_password" not in response.json()
    customer.refresh_from_db()
    # A new email is stored as pending until its link is opened.
    if "email" in change:
        change = change | {"pending_email": change.pop("email")}
    assert {name: getattr(customer, name) for name in change} == change
    assert customer.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_sending_back_the_same_username_and_email_needs_no_password(
    customer_client, customer, mailoutbox, django_capture_on_commit_callbacks, method
):
    body = {"username": "carol", "email": "carol@example.com", "first_name": "Caroline"}

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(customer_client, method)(ME_URL, body, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.first_name == "Caroline"
    assert mailoutbox == []


def test_the_old_address_hears_of_a_new_email(
    customer_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    body = {"email": "carol@new.example", "current_password": DEFAULT_PASSWORD}

    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.patch(ME_URL, body, format="json")

    assert response.status_code == 200
    notices = [message for message in mailoutbox if message.to == ["carol@example.com"]]
    assert len(notices) == 1
    assert "carol@new.example" in notices[0].body
    assert "carol" in notices[0].body


def test_no_notice_when_the_new_email_is_refused(
    customer_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    make_user(username="dave", email="dave@example.com")
    body = {"email": "dave@example.com", "current_password": DEFAULT_PASSWORD}

    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.patch(ME_URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert mailoutbox == []
