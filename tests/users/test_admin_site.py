"""The Django admin and the browsable API's session log-in (API.md, "Documentation and
operations", "Authentication", "Throttling")."""

import itertools
import json
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import obtain_tokens
from tests.factories import DEFAULT_PASSWORD, grant, make_staff, make_user
from users import mail
from users.models import OutboxEmail, Session, User

ADMIN_LOGIN_URL = "/admin/login/"
API_LOGIN_URL = "/api-auth/login/"
USER_CHANGELIST_URL = "/admin/users/user/"
USER_ADD_URL = "/admin/users/user/add/"
ME_URL = "/api/v1/users/me/"
REFRESH_URL = "/api/v1/auth/token/refresh/"


@pytest.fixture
def admin_client_logged_in(client, superuser):
    """Logged in through the admin's own log-in form, as a person would."""
    response = client.post(
        ADMIN_LOGIN_URL,
        {"username": "root", "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302, response.content
    return client


def changelist_usernames(response) -> list[str]:
    return sorted(user.username for user in response.context["cl"].result_list)


def test_superuser_logs_in_and_sees_the_user_changelist(admin_client_logged_in, customer):
    response = admin_client_logged_in.get(USER_CHANGELIST_URL)

    assert response.status_code == 200
    assert changelist_usernames(response) == ["carol", "root"]


def test_user_changelist_shows_first_and_last_name_in_one_column(admin_client_logged_in):
    make_user(username="ada", first_name="Ada", last_name="Lovelace")
    make_user(username="anon")

    response = admin_client_logged_in.get(USER_CHANGELIST_URL, {"o": "1"})

    content = response.content.decode()
    headers = re.findall(r'<th[^>]*class="[^"]*column-(\w+)', content)
    assert headers == [
        "username", "email_address", "full_name", "is_staff", "is_active",
        "date_joined", "last_login", "two_factor",
    ]  # fmt: skip
    names = re.findall(r'<td class="field-full_name">(.*?)</td>', content)
    assert names == ["Ada Lovelace", "-", "-"]  # ada, anon, root (by username)


def test_view_site_links_to_the_browsable_api_root(admin_client_logged_in):
    page = admin_client_logged_in.get("/admin/")

    assert page.status_code == 200
    assert page.context["site_url"] == "/api/v1/"
    assert b'<a href="/api/v1/">View site</a>' in page.content
    assert admin_client_logged_in.get(page.context["site_url"]).status_code == 200


def test_superuser_adds_a_user_with_an_email_through_the_add_form(admin_client_logged_in):
    response = admin_client_logged_in.post(
        USER_ADD_URL,
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "usable_password": "true",
            "password1": "An0ther-long-passphrase",
            "password2": "An0ther-long-passphrase",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    newbie = User.objects.get(username="newbie")
    assert newbie.email == "newbie@example.com"
    assert newbie.check_password("An0ther-long-passphrase")
    assert newbie.is_active
    assert not newbie.is_staff


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("CAROL", "fresh@example.com", "username"),
        ("fresh", "CAROL@example.com", "email"),
    ],
)
def test_admin_add_form_refuses_a_case_variant_of_a_taken_username_or_email(
    admin_client_logged_in, customer, username, email, field
):
    response = admin_client_logged_in.post(
        USER_ADD_URL,
        {
            "username": username,
            "email": email,
            "usable_password": "true",
            "password1": "An0ther-long-passphrase",
            "password2": "An0ther-long-passphrase",
            "_save": "Save",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors
    assert field in str(errors).lower()
    assert User.objects.count() == 2


def test_non_staff_user_is_sent_to_the_admin_login_page(client, customer):
    client.force_login(customer)

    for url in ("/admin/", USER_CHANGELIST_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(ADMIN_LOGIN_URL)


def test_non_staff_user_cannot_log_in_to_the_admin(client, customer):
    response = client.post(
        ADMIN_LOGIN_URL, {"username": "carol", "password": DEFAULT_PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    follow_up = client.get(USER_CHANGELIST_URL)
    assert follow_up.status_code == 302
    assert follow_up["Location"].startswith(ADMIN_LOGIN_URL)


def test_changelist_searches_by_email(admin_client_logged_in, customer):
    make_user(username="quokka", email="Quokka@zoo.example")
    make_user(username="wombat", email="wombat@zoo.example")

    response = admin_client_logged_in.get(USER_CHANGELIST_URL, {"q": "quokka@zoo"})

    assert response.status_code == 200
    assert changelist_usernames(response) == ["quokka"]


def test_deactivate_action_deactivates_the_selected_users_and_ends_their_sessions(
    admin_client_logged_in, customer
):
    dave = make_user(username="dave")
    bystander = make_user(username="erin")
    tokens = {user.username: obtain_tokens(APIClient(), user.username) for user in (customer, dave)}
    bystander_tokens = obtain_tokens(APIClient(), "erin")

    response = admin_client_logged_in.post(
        USER_CHANGELIST_URL,
        {"action": "deactivate", "_selected_action": [customer.pk, dave.pk]},
    )

    assert response.status_code == 302
    for user in (customer, dave):
        user.refresh_from_db()
        assert user.is_active is False
        assert not Session.objects.filter(user=user, ended_at__isnull=True).exists()
        me = APIClient().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {tokens[user.username]['access']}")
        assert me.status_code == 401
        assert me.json()["code"] == "session_ended"
        refresh = APIClient().post(
            REFRESH_URL, {"refresh": tokens[user.username]["refresh"]}, format="json"
        )
        assert refresh.status_code == 401
    bystander.refresh_from_db()
    assert bystander.is_active is True
    assert Session.objects.filter(user=bystander, ended_at__isnull=True).count() == 1
    refresh = APIClient().post(REFRESH_URL, {"refresh": bystander_tokens["refresh"]}, format="json")
    assert refresh.status_code == 200


@pytest.mark.parametrize(
    "url",
    ["/admin/token_blacklist/outstandingtoken/", "/admin/token_blacklist/blacklistedtoken/"],
)
def test_token_blacklist_is_in_the_admin(admin_client_logged_in, customer, url):
    obtain_tokens(APIClient(), "carol")

    response = admin_client_logged_in.get(url)

    assert response.status_code == 200


def test_browsable_api_login_gives_a_session_that_reads_the_profile(client, customer):
    page = client.get(API_LOGIN_URL)
    assert page.status_code == 200

    response = client.post(
        API_LOGIN_URL, {"username": "carol", "password": DEFAULT_PASSWORD, "next": "/api/v1/"}
    )

    assert response.status_code == 302
    me = client.get(ME_URL, HTTP_ACCEPT="application/json")
    assert me.status_code == 200
    assert me.json()["username"] == "carol"


def test_browsable_api_login_with_a_wrong_password_gives_no_session(client, customer):
    response = client.post(API_LOGIN_URL, {"username": "carol", "password": "wrong-password"})

    assert response.status_code == 200
    me = client.get(ME_URL, HTTP_ACCEPT="application/json")
    assert me.status_code in (401, 403)


def test_a_session_write_without_the_csrf_token_is_refused(customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)

    response = client.patch(
        ME_URL, json.dumps({"first_name": "Mallory"}), content_type="application/json"
    )

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert "csrf" in response.json()["detail"].lower()
    customer.refresh_from_db()
    assert customer.first_name == ""


def test_a_session_write_with_the_csrf_token_goes_ahead(customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    client.get(API_LOGIN_URL)
    csrf_token = client.cookies["csrftoken"].value

    response = client.patch(
        ME_URL,
        json.dumps({"first_name": "Caroline"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf_token,
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.first_name == "Caroline"


GUESSES = itertools.count()


def post_login_attempt(client: Client, url: str, **extra):
    """A wrong password, for a name of its own each time (the per-name backoff is not counted)."""
    guess = {"username": f"guess-{next(GUESSES)}", "password": "wrong-password"}
    return client.post(url, guess, **extra)


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, API_LOGIN_URL])
def test_the_eleventh_login_post_in_a_minute_from_one_address_is_429(client, customer, url):
    for attempt in range(10):
        response = post_login_attempt(client, url)
        assert response.status_code == 200, attempt

    response = post_login_attempt(client, url)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert int(response["Retry-After"]) <= 60


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, API_LOGIN_URL])
def test_login_throttle_counts_the_correct_password_too(client, customer, url):
    for _ in range(10):
        post_login_attempt(client, url)

    response = client.post(url, {"username": "carol", "password": DEFAULT_PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, API_LOGIN_URL])
def test_login_throttle_is_not_fooled_by_a_forged_forwarded_for_header(client, customer, url):
    for n in range(10):
        post_login_attempt(client, url, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    response = post_login_attempt(client, url, HTTP_X_FORWARDED_FOR="198.51.100.99")

    assert response.status_code == 429
    assert "Retry-After" in response


@pytest.mark.parametrize("url", [ADMIN_LOGIN_URL, API_LOGIN_URL])
def test_login_throttle_counts_per_address(client, customer, url):
    for _ in range(11):
        post_login_attempt(client, url)

    response = post_login_attempt(client, url, REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 200


# --- who may change whom, in the admin too (issue 11, items 2 and 14) ----------------------------


def admin_session_for(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_change_user_alone_may_not_edit_a_superuser_in_the_admin(superuser):
    manager = grant(make_staff(username="mona"), "users.view_user", "users.change_user")
    before = User.objects.values().get(pk=superuser.pk)

    response = admin_session_for(manager).post(
        f"/admin/users/user/{superuser.pk}/change/",
        {"username": "root", "email": "mallory@example.com", "is_active": "on"},
    )

    assert response.status_code == 403
    assert User.objects.values().get(pk=superuser.pk) == before


def test_view_only_staff_cannot_run_the_deactivate_action(customer):
    viewer = grant(make_staff(username="vera"), "users.view_user")

    admin_session_for(viewer).post(
        USER_CHANGELIST_URL, {"action": "deactivate", "_selected_action": [customer.pk]}
    )

    customer.refresh_from_db()
    assert customer.is_active is True


def test_tokens_from_before_an_admin_deactivation_stay_dead_after_reactivation(
    admin_client_logged_in, customer
):
    access = obtain_tokens(APIClient(), "carol")["access"]
    for action in ("deactivate", "reactivate"):
        admin_client_logged_in.post(
            USER_CHANGELIST_URL, {"action": action, "_selected_action": [customer.pk]}
        )

    customer.refresh_from_db()
    assert customer.is_active is True
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.get(ME_URL).status_code == 401


def test_the_outbox_shows_each_email_and_its_state_but_never_its_body(
    admin_client_logged_in, customer
):
    mail.send(subject="Reset your password", body="SECRET-LINK", to=["carol@example.com"])
    email = OutboxEmail.objects.get()

    listing = admin_client_logged_in.get("/admin/users/outboxemail/")
    detail = admin_client_logged_in.get(f"/admin/users/outboxemail/{email.pk}/change/")

    assert listing.status_code == 200
    assert "Reset your password" in listing.text
    assert "carol@example.com" in listing.text
    assert detail.status_code == 200
    assert "SECRET-LINK" not in listing.text + detail.text
    added = admin_client_logged_in.get("/admin/users/outboxemail/add/")
    assert added.status_code == 403
    deleted = admin_client_logged_in.post(
        f"/admin/users/outboxemail/{email.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert OutboxEmail.objects.count() == 1


# --- Sessions --------------------------------------------------------------------------------

SESSION_CHANGELIST_URL = "/admin/users/session/"


def test_the_user_page_lists_the_users_live_sessions(admin_client_logged_in, customer):
    obtain_tokens(APIClient(HTTP_USER_AGENT="Phone/1.0"), "carol")
    ended = obtain_tokens(APIClient(HTTP_USER_AGENT="Old/0.1"), "carol")
    APIClient().post("/api/v1/auth/logout/", {"refresh": ended["refresh"]}, format="json")

    page = admin_client_logged_in.get(f"{USER_CHANGELIST_URL}{customer.pk}/change/")

    assert page.status_code == 200
    assert "Phone/1.0" in page.content.decode()
    assert "Old/0.1" not in page.content.decode()


def test_staff_end_a_users_session_and_its_tokens_are_refused_at_once(
    admin_client_logged_in, customer
):
    tokens = obtain_tokens(APIClient(HTTP_USER_AGENT="Phone/1.0"), "carol")
    other = obtain_tokens(APIClient(HTTP_USER_AGENT="Laptop/2.0"), "carol")
    assert (
        APIClient().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 200
    )
    phone = Session.objects.get(user_agent="Phone/1.0")

    response = admin_client_logged_in.post(
        SESSION_CHANGELIST_URL, {"action": "end_sessions", "_selected_action": [phone.pk]}
    )

    assert response.status_code == 302
    me = APIClient().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 401
    assert me.json()["code"] == "session_ended"
    assert (
        APIClient().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {other['access']}").status_code == 200
    )
    phone.refresh_from_db()
    assert phone.ended_by == "ended by staff"


def test_staff_without_change_user_rights_over_a_superuser_cannot_end_their_sessions(superuser):
    obtain_tokens(APIClient(), "root")
    staff = grant(make_staff(username="sam"), "users.view_session", "users.change_session")
    client = Client()
    client.force_login(staff)

    client.post(
        SESSION_CHANGELIST_URL,
        {"action": "end_sessions", "_selected_action": [Session.objects.get().pk]},
    )

    assert Session.objects.get().ended_at is None


def test_sessions_are_never_deleted_or_added_in_the_admin(admin_client_logged_in, customer):
    obtain_tokens(APIClient(), "carol")
    session = Session.objects.get()

    assert admin_client_logged_in.get(f"{SESSION_CHANGELIST_URL}add/").status_code == 403
    assert (
        admin_client_logged_in.get(f"{SESSION_CHANGELIST_URL}{session.pk}/delete/").status_code
        == 403
    )
