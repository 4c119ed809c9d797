"""One form of a username wherever it is set (issue 11, item 8): NFKC, compared without case, so
a look-alike (a fullwidth `alice`) clashes with `alice`, and a clash is a field error under
`username`."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, grant, make_staff, make_user
from users.models import User

REGISTER_URL = "/api/v1/auth/register/"
ME_URL = "/api/v1/users/me/"
USERS_URL = "/api/v1/users/"
ADMIN_ADD_URL = "/admin/users/user/add/"
FULLWIDTH_ALICE = "\uff41lice"  # a fullwidth first letter
LOOK_ALIKES = [FULLWIDTH_ALICE, "\uff21LICE", "\uff21\uff2c\uff29\uff23\uff25"]


@pytest.fixture
def alice():
    return make_user(username="alice", email="alice@example.com")


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("username", LOOK_ALIKES)
def test_registering_a_look_alike_is_400_under_username(api_client, alice, username):
    body = {"username": username, "email": "other@example.com", "password": DEFAULT_PASSWORD}

    response = api_client.post(REGISTER_URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert User.objects.count() == 1


def test_a_registered_username_is_stored_in_nfkc(api_client):
    body = {"username": "\uff42ob", "email": "bob@example.com", "password": DEFAULT_PASSWORD}

    response = api_client.post(REGISTER_URL, body, format="json")

    assert response.status_code == 201
    assert response.json()["username"] == "bob"
    assert User.objects.get().username == "bob"


def test_taking_a_look_alike_through_users_me_is_400_under_username(alice, customer):
    before = User.objects.values().get(pk=customer.pk)
    body = {"username": FULLWIDTH_ALICE, "current_password": DEFAULT_PASSWORD}

    response = as_user(customer).patch(ME_URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert User.objects.values().get(pk=customer.pk) == before


def test_a_username_set_through_users_me_is_stored_in_nfkc(customer):
    body = {"username": "\uff43arla", "current_password": DEFAULT_PASSWORD}

    response = as_user(customer).patch(ME_URL, body, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.username == "carla"


def test_one_own_username_in_another_width_is_no_change(alice):
    response = as_user(alice).patch(ME_URL, {"username": FULLWIDTH_ALICE}, format="json")

    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.username == "alice"


def test_staff_setting_a_look_alike_is_400_under_username(alice, customer):
    manager = grant(make_staff(username="mona"), "users.change_user")

    response = as_user(manager).patch(
        f"{USERS_URL}{customer.pk}/", {"username": FULLWIDTH_ALICE}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    customer.refresh_from_db()
    assert customer.username == "carol"


def test_the_admin_add_form_refuses_a_look_alike(admin_client, alice):
    response = admin_client.post(
        ADMIN_ADD_URL,
        {
            "username": FULLWIDTH_ALICE,
            "email": "other@example.com",
            "usable_password": "true",
            "password1": DEFAULT_PASSWORD,
            "password2": DEFAULT_PASSWORD,
        },
    )

    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="other@example.com").exists()


def test_createsuperuser_refuses_a_look_alike(alice, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", DEFAULT_PASSWORD)

    with pytest.raises(CommandError, match="already"):
        call_command(
            "createsuperuser",
            interactive=False,
            username=FULLWIDTH_ALICE,
            email="root@example.com",
        )

    assert User.objects.count() == 1


def test_log_in_with_a_look_alike_finds_the_account(alice):
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": FULLWIDTH_ALICE, "password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 200


@pytest.mark.parametrize("username", ["bob\n", " bob", "bob\t"], ids=["newline", "space", "tab"])
def test_a_username_with_surrounding_whitespace_is_refused_not_trimmed(api_client, username):
    """The schema's pattern refuses it, so the API does too (DRF would trim it to `bob`)."""
    body = {"username": username, "email": "bob@example.com", "password": DEFAULT_PASSWORD}

    response = api_client.post(REGISTER_URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert not User.objects.exists()


def test_a_username_change_with_surrounding_whitespace_is_refused(customer):
    before = User.objects.values().get(pk=customer.pk)
    body = {"username": "carol2\n", "current_password": DEFAULT_PASSWORD}

    response = as_user(customer).patch(ME_URL, body, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert User.objects.values().get(pk=customer.pk) == before
