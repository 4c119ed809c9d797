"""Staff management of accounts: /api/v1/users/ and /api/v1/users/{id}/ (API.md, "Users")."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import DEFAULT_PASSWORD, grant, make_staff, make_user
from users.models import User

USERS_URL = "/api/v1/users/"
ME_URL = "/api/v1/users/me/"
TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VERIFY_URL = "/api/v1/auth/token/verify/"
CHANGE_USER = "users.change_user"


def detail_url(user_or_id) -> str:
    pk = getattr(user_or_id, "pk", user_or_id)
    return f"{USERS_URL}{pk}/"


def stored(user: User) -> dict:
    return User.objects.values().get(pk=user.pk)


def usernames(response) -> list[str]:
    return [row["username"] for row in response.json()["results"]]


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def manager():
    """Staff who manage accounts: `users.change_user`, granted as staff would in the admin."""
    return grant(make_staff(username="mona", email="mona@example.com"), CHANGE_USER)


@pytest.fixture
def manager_client(manager):
    return client_for(manager)


# --- list: who may ---------------------------------------------------------------------------


def test_staff_list_is_a_page_of_users(staff_client, staff, customer):
    response = staff_client.get(USERS_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert body["next"] is None
    assert body["previous"] is None
    assert sorted(usernames(response)) == ["carol", "sam"]
    carol = next(row for row in body["results"] if row["username"] == "carol")
    assert set(carol) == {
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


def test_customer_may_not_list_users(customer_client):
    response = customer_client.get(USERS_URL)

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}


def test_anonymous_caller_may_not_list_users(api_client, customer):
    response = api_client.get(USERS_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"detail", "code"}


# --- list: search, filters, ordering -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({"username": "zebra_keeper"}, "zebra"),
        ({"username": "zebra_keeper"}, "ZEBRA_K"),
        ({"username": "u-email", "email": "Quokka@Example.org"}, "quokka@example"),
        ({"username": "u-email", "email": "quokka@example.org"}, "QUOKKA"),
        ({"username": "u-first", "first_name": "Wombat"}, "wombat"),
        ({"username": "u-first", "first_name": "wombat"}, "WOMBAT"),
        ({"username": "u-last", "last_name": "Platypus"}, "pLaTyPuS"),
    ],
)
def test_search_matches_username_email_and_names_in_any_case(staff_client, fields, query):
    make_user(username="bystander", email="bystander@example.com", first_name="Bob")
    make_user(**fields)

    response = staff_client.get(USERS_URL, {"search": query})

    assert response.status_code == 200
    assert usernames(response) == [fields["username"]]
    assert response.json()["count"] == 1


def test_search_that_matches_nobody_is_an_empty_page(staff_client, customer):
    response = staff_client.get(USERS_URL, {"search": "no-such-person"})

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"is_active": "true"}, ["active", "sam"]),
        ({"is_active": "false"}, ["dormant"]),
        ({"is_staff": "true"}, ["sam"]),
        ({"is_staff": "false"}, ["active", "dormant"]),
        ({"is_staff": "false", "is_active": "true"}, ["active"]),
    ],
)
def test_is_active_and_is_staff_filter_the_list(staff_client, params, expected):
    make_user(username="active")
    make_user(username="dormant", is_active=False)

    response = staff_client.get(USERS_URL, params | {"ordering": "username"})

    assert response.status_code == 200
    assert usernames(response) == expected


@pytest.mark.parametrize("parameter", ["is_active", "is_staff"])
@pytest.mark.parametrize("value", ["maybe", "yes please", "2"])
def test_a_bad_boolean_filter_is_400_naming_the_parameter(staff_client, parameter, value):
    response = staff_client.get(USERS_URL, {parameter: value})

    assert response.status_code == 400
    assert parameter in response.json()


JOINED = {
    "bravo": datetime(2021, 1, 1, tzinfo=UTC),
    "alpha": datetime(2023, 1, 1, tzinfo=UTC),
    "charlie": datetime(2022, 1, 1, tzinfo=UTC),
    "sam": datetime(2024, 1, 1, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("username", ["alpha", "bravo", "charlie", "sam"]),
        ("-username", ["sam", "charlie", "bravo", "alpha"]),
        ("date_joined", ["bravo", "charlie", "alpha", "sam"]),
        ("-date_joined", ["sam", "alpha", "charlie", "bravo"]),
    ],
)
def test_ordering_by_username_or_date_joined(staff_client, staff, ordering, expected):
    for name in ("bravo", "alpha", "charlie"):
        make_user(username=name)
    for name, joined in JOINED.items():
        User.objects.filter(username=name).update(date_joined=joined)

    response = staff_client.get(USERS_URL, {"ordering": ordering})

    assert response.status_code == 200
    assert usernames(response) == expected


# --- list: pages and their cost -----------------------------------------------------------------


def test_page_size_defaults_to_20_with_absolute_links(staff_client):
    for _ in range(24):
        make_user()

    first = staff_client.get(USERS_URL)
    second = staff_client.get(first.json()["next"])

    assert first.status_code == 200
    assert first.json()["count"] == 25
    assert len(first.json()["results"]) == 20
    assert first.json()["previous"] is None
    assert first.json()["next"].startswith("http://testserver/api/v1/users/?")
    assert second.status_code == 200
    assert len(second.json()["results"]) == 5
    assert second.json()["next"] is None
    assert second.json()["previous"].startswith("http://testserver/api/v1/users/")
    seen = usernames(first) + usernames(second)
    assert sorted(seen) == sorted(User.objects.values_list("username", flat=True))


def test_page_size_is_honoured_and_capped_at_100(staff_client):
    for _ in range(104):
        make_user()

    small = staff_client.get(USERS_URL, {"page_size": 7})
    huge = staff_client.get(USERS_URL, {"page_size": 1000})

    assert small.status_code == 200
    assert len(small.json()["results"]) == 7
    assert huge.status_code == 200
    assert huge.json()["count"] == 105
    assert len(huge.json()["results"]) == 100


@pytest.mark.parametrize("page", ["2", "99"])
def test_a_page_past_the_end_is_404(staff_client, customer, page):
    response = staff_client.get(USERS_URL, {"page": page})

    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}


def count_list_queries(client: APIClient) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(USERS_URL, {"page_size": 100})
    assert response.status_code == 200
    return len(queries)


def test_list_query_count_does_not_grow_with_the_number_of_users(staff_client):
    alone = count_list_queries(staff_client)
    for _ in range(29):
        make_user()

    crowded = count_list_queries(staff_client)

    assert User.objects.count() == 30
    assert crowded == alone


# --- detail --------------------------------------------------------------------------------------


def test_staff_read_anyone(staff_client, customer):
    response = staff_client.get(detail_url(customer))

    assert response.status_code == 200
    assert response.json()["id"] == customer.pk
    assert response.json()["username"] == "carol"
    assert response.json()["email"] == "carol@example.com"
    assert "password" not in response.json()


def test_a_user_reads_themself(customer_client, customer):
    response = customer_client.get(detail_url(customer))

    assert response.status_code == 200
    assert response.json() == customer_client.get(ME_URL).json()


def test_anyone_elses_id_is_404_not_403(customer_client, staff):
    other = make_user()

    for target in (other, staff):
        response = customer_client.get(detail_url(target))
        assert response.status_code == 404
        assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("client_fixture", ["customer_client", "staff_client"])
def test_an_unknown_id_is_404(request, client_fixture):
    client = request.getfixturevalue(client_fixture)

    response = client.get(detail_url(987654))

    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}


def test_anonymous_caller_may_not_read_a_user(api_client, customer):
    response = api_client.get(detail_url(customer))

    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}


# --- staff changes -------------------------------------------------------------------------------


def test_staff_patch_changes_the_profile_fields(manager_client, customer):
    payload = {
        "username": "caroline",
        "email": "caroline@example.org",
        "first_name": "Caroline",
        "last_name": "Jones",
    }

    response = manager_client.patch(detail_url(customer), payload, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert {name: getattr(customer, name) for name in payload} == payload


def test_staff_patch_cannot_grant_staff_or_superuser(manager_client, customer):
    before = stored(customer)
    payload = {"is_staff": True, "is_superuser": True, "date_joined": "2000-01-01T00:00:00Z"}

    response = manager_client.patch(detail_url(customer), payload, format="json")

    assert response.status_code == 200
    assert stored(customer) == before


def test_staff_patch_refuses_a_username_taken_in_another_case(manager_client, customer):
    make_user(username="dave")
    before = stored(customer)

    response = manager_client.patch(detail_url(customer), {"username": "DAVE"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert stored(customer) == before


@pytest.mark.parametrize("value", ["maybe", 1, None, "false"])
def test_staff_patch_refuses_a_non_boolean_is_active(manager_client, customer, value):
    response = manager_client.patch(detail_url(customer), {"is_active": value}, format="json")

    assert response.status_code == 400
    assert "is_active" in response.json()
    customer.refresh_from_db()
    assert customer.is_active is True


def test_staff_deactivate_and_reactivate_a_user(manager_client, customer):
    off = manager_client.patch(detail_url(customer), {"is_active": False}, format="json")
    customer.refresh_from_db()
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert customer.is_active is False

    on = manager_client.patch(detail_url(customer), {"is_active": True}, format="json")
    customer.refresh_from_db()
    assert on.status_code == 200
    assert on.json()["is_active"] is True
    assert customer.is_active is True


def test_deactivation_ends_the_users_tokens_and_logins_at_once(
    api_client, manager_client, customer
):
    tokens = obtain_tokens(api_client, "carol")
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200

    response = manager_client.patch(detail_url(customer), {"is_active": False}, format="json")
    assert response.status_code == 200

    me = bearer_client(tokens["access"]).get(ME_URL)
    assert me.status_code == 401
    assert set(me.json()) == {"detail", "code"}
    refresh = api_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert "access" not in refresh.json()
    for login in ("carol", "carol@example.com"):
        again = api_client.post(
            TOKEN_URL, {"username": login, "password": DEFAULT_PASSWORD}, format="json"
        )
        assert again.status_code == 401
        assert "access" not in again.json()


def test_reactivation_lets_the_user_log_in_again(api_client, manager_client, customer):
    manager_client.patch(detail_url(customer), {"is_active": False}, format="json")

    response = manager_client.patch(detail_url(customer), {"is_active": True}, format="json")

    assert response.status_code == 200
    tokens = obtain_tokens(api_client, "carol")
    me = bearer_client(tokens["access"]).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["username"] == "carol"


@pytest.mark.parametrize(
    "payload",
    [{"first_name": "Mallory"}, {"is_active": False}, {"email": "mallory@example.com"}],
)
def test_non_staff_patch_is_403_for_their_own_id_or_another(customer_client, customer, payload):
    other = make_user()
    before, other_before = stored(customer), stored(other)

    for target in (customer, other):
        response = customer_client.patch(detail_url(target), payload, format="json")
        assert response.status_code == 403
        assert set(response.json()) == {"detail", "code"}

    assert stored(customer) == before
    assert stored(other) == other_before


def test_anonymous_patch_is_401_and_nothing_changes(api_client, customer):
    before = stored(customer)

    response = api_client.patch(detail_url(customer), {"first_name": "Mallory"}, format="json")

    assert response.status_code == 401
    assert stored(customer) == before


def test_staff_may_not_deactivate_themselves(manager_client, manager):
    response = manager_client.patch(detail_url(manager), {"is_active": False}, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"is_active", "non_field_errors"}
    assert response.json()
    manager.refresh_from_db()
    assert manager.is_active is True


def test_staff_who_is_not_superuser_cannot_change_a_superuser(manager_client):
    root = User.objects.create_superuser("root", "root@example.com", DEFAULT_PASSWORD)
    before = stored(root)

    for payload in ({"is_active": False}, {"first_name": "Mallory"}, {"email": "m@example.com"}):
        response = manager_client.patch(detail_url(root), payload, format="json")
        assert response.status_code == 403
        assert set(response.json()) == {"detail", "code"}

    assert stored(root) == before


def test_staff_who_is_not_superuser_may_still_read_a_superuser(staff_client):
    root = User.objects.create_superuser("root", "root@example.com", DEFAULT_PASSWORD)

    response = staff_client.get(detail_url(root))

    assert response.status_code == 200
    assert response.json()["username"] == "root"


def test_a_superuser_may_change_another_superuser():
    root = User.objects.create_superuser("root", "root@example.com", DEFAULT_PASSWORD)
    other = User.objects.create_superuser("admin2", "admin2@example.com", DEFAULT_PASSWORD)

    response = client_for(root).patch(detail_url(other), {"first_name": "Ada"}, format="json")

    assert response.status_code == 200
    other.refresh_from_db()
    assert other.first_name == "Ada"


@pytest.mark.parametrize("method", ["put", "delete", "post"])
def test_put_delete_and_post_on_a_user_are_405(staff_client, customer, method):
    before = stored(customer)
    payload = {"username": "x", "email": "x@example.com"}

    response = getattr(staff_client, method)(detail_url(customer), payload, format="json")

    assert response.status_code == 405
    assert set(response.json()) == {"detail", "code"}
    assert stored(customer) == before
    assert User.objects.count() == 2


@pytest.mark.parametrize("method", ["put", "delete", "post"])
def test_put_delete_and_post_on_the_list_are_405(staff_client, customer, method):
    payload = {"username": "x", "email": "x@example.com", "password": DEFAULT_PASSWORD}

    response = getattr(staff_client, method)(USERS_URL, payload, format="json")

    assert response.status_code == 405
    assert set(response.json()) == {"detail", "code"}
    assert User.objects.count() == 2


def test_another_staff_member_is_also_listed_and_managed(manager_client):
    colleague = make_staff(username="sara")

    response = manager_client.patch(detail_url(colleague), {"last_name": "Lee"}, format="json")

    assert response.status_code == 200
    colleague.refresh_from_db()
    assert colleague.last_name == "Lee"


# --- who may change whom (issue 11, item 2) ------------------------------------------------------


def test_staff_without_change_user_cannot_take_over_another_staff_member(
    editor, mailoutbox, django_capture_on_commit_callbacks
):
    """A catalog editor used to be able to set a colleague's email, then reset its password."""
    colleague = make_staff(username="sara", email="sara@example.com")
    before = stored(colleague)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(editor).patch(
            detail_url(colleague), {"email": "mallory@example.com"}, format="json"
        )

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert stored(colleague) == before
    assert mailoutbox == []


@pytest.mark.parametrize("payload", [{"is_active": False}, {"first_name": "Mallory"}])
def test_staff_without_change_user_may_not_change_anyone(staff_client, customer, payload):
    before = stored(customer)

    response = staff_client.patch(detail_url(customer), payload, format="json")

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert stored(customer) == before


def test_staff_without_change_user_still_read_and_list_accounts(staff_client, editor):
    assert staff_client.get(detail_url(editor)).status_code == 200
    assert "eddie" in usernames(staff_client.get(USERS_URL))


def test_change_user_alone_may_not_change_a_user_holding_more(manager_client, editor):
    before = stored(editor)

    for payload in ({"email": "mallory@example.com"}, {"is_active": False}, {"last_name": "M"}):
        response = manager_client.patch(detail_url(editor), payload, format="json")
        assert response.status_code == 403
        assert set(response.json()) == {"detail", "code"}

    assert stored(editor) == before


def test_permissions_held_through_a_group_count_too(manager_client):
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="change_product"))
    target = make_staff(username="gina")
    target.groups.add(editors)
    before = stored(target)

    response = manager_client.patch(detail_url(target), {"email": "m@example.com"}, format="json")

    assert response.status_code == 403
    assert stored(target) == before


def test_an_inactive_user_holding_more_is_not_changeable_either(manager_client, editor):
    """Django answers no permissions for an inactive user; reactivated, they would all be back."""
    User.objects.filter(pk=editor.pk).update(is_active=False)
    before = stored(editor)

    for payload in ({"email": "mallory@example.com"}, {"is_active": True}):
        response = manager_client.patch(detail_url(editor), payload, format="json")
        assert response.status_code == 403

    assert stored(editor) == before


def test_a_user_holding_no_more_than_the_caller_is_changeable(manager, manager_client):
    peer = grant(make_staff(username="pete"), CHANGE_USER)

    response = manager_client.patch(detail_url(peer), {"last_name": "Lee"}, format="json")

    assert response.status_code == 200
    peer.refresh_from_db()
    assert peer.last_name == "Lee"


def test_a_superuser_may_change_a_user_holding_any_permission(superuser, editor):
    response = client_for(superuser).patch(detail_url(editor), {"last_name": "Q"}, format="json")

    assert response.status_code == 200
    editor.refresh_from_db()
    assert editor.last_name == "Q"


def test_an_email_set_by_staff_is_announced_to_the_old_address(
    manager_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.patch(
            detail_url(customer), {"email": "carol@new.example"}, format="json"
        )

    assert response.status_code == 200
    assert [message.to for message in mailoutbox] == [["carol@example.com"]]
    assert "carol@new.example" in mailoutbox[0].body


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_a_managers_own_email_through_their_id_needs_the_password(
    manager_client, manager, password
):
    payload = {"email": "mona@new.example"}
    if password:
        payload["current_password"] = password
    before = stored(manager)

    response = manager_client.patch(detail_url(manager), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["current_password"]
    assert stored(manager) == before


# --- deactivation is for good (issue 11, item 14) ------------------------------------------------


def test_reactivation_does_not_revive_tokens_issued_before_deactivation(
    api_client, manager_client, customer
):
    old = obtain_tokens(api_client, "carol")
    manager_client.patch(detail_url(customer), {"is_active": False}, format="json")

    response = manager_client.patch(detail_url(customer), {"is_active": True}, format="json")

    assert response.status_code == 200
    me = bearer_client(old["access"]).get(ME_URL)
    assert me.status_code == 401
    assert set(me.json()) == {"detail", "code"}
    verify = api_client.post(VERIFY_URL, {"token": old["access"]}, format="json")
    assert verify.status_code == 401
    refresh = api_client.post(REFRESH_URL, {"refresh": old["refresh"]}, format="json")
    assert refresh.status_code == 401
    new = obtain_tokens(api_client, "carol")
    assert bearer_client(new["access"]).get(ME_URL).status_code == 200


def test_reactivation_does_not_revive_a_browser_session(manager_client, customer):
    browser = Client()
    browser.force_login(customer)
    assert browser.get(ME_URL, HTTP_ACCEPT="application/json").status_code == 200

    manager_client.patch(detail_url(customer), {"is_active": False}, format="json")
    manager_client.patch(detail_url(customer), {"is_active": True}, format="json")

    assert browser.get(ME_URL, HTTP_ACCEPT="application/json").status_code in (401, 403)
