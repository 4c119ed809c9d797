"""API sessions: the list, ending one, logging out everywhere, and the sessions that end with
a password change, a reset or a closed account (API.md, "Sessions")."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail as django_mail
from django.core.cache import cache
from django.test import TestCase
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import DEFAULT_PASSWORD, make_user
from users import sessions
from users.models import Session, User

SESSIONS_URL = "/api/v1/users/me/sessions/"
LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/users/me/"
PASSWORD_URL = "/api/v1/users/me/password/"
RESET_URL = "/api/v1/auth/password-reset/"
RESET_CONFIRM_URL = "/api/v1/auth/password-reset/confirm/"
NEW_PASSWORD = "a-new-and-long-passphrase"


def log_in_from(user_agent: str, login: str = "carol") -> dict:
    """A log-in as a device makes it. Its commit callbacks run here, as a commit runs them (a
    test's own transaction never commits): the new session's state goes in the cache."""
    client = APIClient(HTTP_USER_AGENT=user_agent)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return obtain_tokens(client, login)


def session_url(session_id) -> str:
    return f"{SESSIONS_URL}{session_id}/"


def assert_session_ended(tokens: dict) -> None:
    """Both halves of the session are refused: the access token on its next request, and the
    refresh token."""
    me = bearer_client(tokens["access"]).get(ME_URL)
    assert me.status_code == 401
    assert me.json() == {"detail": "This session has ended. Log in again.", "code": "session_ended"}
    refreshed = APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401


def assert_session_live(tokens: dict) -> None:
    assert bearer_client(tokens["access"]).get(ME_URL).status_code == 200


# --- The list ------------------------------------------------------------------------------------


def test_each_log_in_is_a_session_listed_with_the_callers_own_marked_current(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")

    response = bearer_client(laptop["access"]).get(SESSIONS_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    by_agent = {session["user_agent"]: session for session in body["results"]}
    assert by_agent["Laptop/2.0"]["current"] is True
    assert by_agent["Phone/1.0"]["current"] is False
    assert set(by_agent["Laptop/2.0"]) == {
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "ip",
        "current",
    }
    assert by_agent["Laptop/2.0"]["ip"] == "127.0.0.1"
    assert phone["access"] != laptop["access"]


def test_the_list_shows_only_the_callers_live_sessions(customer):
    mine = log_in_from("Mine/1.0")
    ended = log_in_from("Ended/1.0")
    make_user(username="dave")
    log_in_from("Dave/1.0", login="dave")
    APIClient().post(LOGOUT_URL, {"refresh": ended["refresh"]}, format="json")

    results = bearer_client(mine["access"]).get(SESSIONS_URL).json()["results"]

    assert [session["user_agent"] for session in results] == ["Mine/1.0"]


def test_the_list_needs_a_log_in(api_client):
    response = api_client.get(SESSIONS_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_refresh_keeps_the_session_and_marks_it_used(customer):
    tokens = log_in_from("Phone/1.0")
    session = Session.objects.get()
    Session.objects.filter(pk=session.pk).update(last_used_at=session.created_at.replace(year=2020))

    renewed = APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json").json()

    listed = bearer_client(renewed["access"]).get(SESSIONS_URL).json()["results"]
    assert [entry["id"] for entry in listed] == [str(session.pk)]
    assert listed[0]["current"] is True
    assert listed[0]["last_used_at"].startswith(str(session.created_at.year))


def test_a_user_agent_with_a_nul_or_of_any_length_is_stored_cut_to_fit(customer):
    log_in_from("A\x00B" + "x" * 1000)

    assert Session.objects.get().user_agent == "AB" + "x" * 253


# --- Ending one ----------------------------------------------------------------------------------


def test_ending_a_session_refuses_its_tokens_from_the_next_request_and_keeps_the_others(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")
    assert_session_live(phone)  # its state is now in the cache
    phone_id = Session.objects.get(user_agent="Phone/1.0").pk

    response = bearer_client(laptop["access"]).delete(session_url(phone_id))

    assert response.status_code == 204
    assert_session_ended(phone)
    assert_session_live(laptop)
    assert Session.objects.get(pk=phone_id).ended_by == "revoked"


def test_ending_ones_own_session_logs_this_client_out(customer):
    tokens = log_in_from("Phone/1.0")
    own = Session.objects.get().pk

    assert bearer_client(tokens["access"]).delete(session_url(own)).status_code == 204

    assert_session_ended(tokens)


def test_someone_elses_session_is_404_and_goes_on(customer):
    make_user(username="dave")
    daves = log_in_from("Dave/1.0", login="dave")
    carols = log_in_from("Carol/1.0")
    daves_id = Session.objects.get(user__username="dave").pk

    response = bearer_client(carols["access"]).delete(session_url(daves_id))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert_session_live(daves)


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_an_unknown_session_is_404(customer, session_id):
    tokens = log_in_from("Phone/1.0")

    response = bearer_client(tokens["access"]).delete(session_url(session_id))

    assert response.status_code == 404
    assert Session.objects.live().count() == 1


def test_a_session_already_ended_is_404(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")
    phone_id = Session.objects.get(user_agent="Phone/1.0").pk
    client = bearer_client(laptop["access"])
    client.delete(session_url(phone_id))

    assert client.delete(session_url(phone_id)).status_code == 404
    assert_session_ended(phone)


def test_logout_ends_the_session_at_once(customer):
    tokens = log_in_from("Phone/1.0")
    assert_session_live(tokens)

    response = APIClient().post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert_session_ended(tokens)
    assert Session.objects.get().ended_by == "logout"


# --- Logging out everywhere ---------------------------------------------------------------------


def test_logout_all_ends_every_session_of_the_caller_and_no_one_elses(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")
    make_user(username="dave")
    daves = log_in_from("Dave/1.0", login="dave")
    for tokens in (phone, laptop, daves):
        assert_session_live(tokens)

    response = bearer_client(laptop["access"]).post(LOGOUT_ALL_URL)

    assert response.status_code == 204
    assert response.content == b""
    assert_session_ended(phone)
    assert_session_ended(laptop)
    assert_session_live(daves)


def test_logout_all_ends_the_callers_browser_log_ins_too(client, customer):
    client.force_login(customer)
    tokens = log_in_from("Phone/1.0")
    assert client.get(ME_URL).status_code == 200

    bearer_client(tokens["access"]).post(LOGOUT_ALL_URL)

    assert client.get(ME_URL).status_code in (401, 403)


def test_logout_all_needs_a_log_in(api_client):
    response = api_client.post(LOGOUT_ALL_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_new_log_in_after_logout_all_works(customer):
    tokens = log_in_from("Phone/1.0")
    bearer_client(tokens["access"]).post(LOGOUT_ALL_URL)

    assert_session_live(log_in_from("Phone/1.0"))


# --- Passwords ------------------------------------------------------------------------------------


def test_a_password_change_ends_the_other_sessions_at_once_and_keeps_the_callers(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")
    assert_session_live(phone)

    response = bearer_client(laptop["access"]).post(
        PASSWORD_URL,
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 204
    assert_session_ended(phone)
    assert_session_live(laptop)


def test_a_password_reset_ends_every_session_at_once(customer):
    tokens = log_in_from("Phone/1.0")
    assert_session_live(tokens)
    with TestCase.captureOnCommitCallbacks(execute=True):
        APIClient().post(RESET_URL, {"email": customer.email}, format="json")
    (message,) = django_mail.outbox
    uid, token = message.body.split("uid=")[1].split()[0].split("&token=")

    response = APIClient().post(
        RESET_CONFIRM_URL,
        {"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 204
    assert_session_ended(tokens)


# --- The per-request check --------------------------------------------------------------------


@pytest.fixture
def shared_cache(settings):
    """The session state kept in the cache, as with Redis (a single test process may use its
    memory cache for it)."""
    settings.SESSION_STATE_IN_CACHE = True


def test_an_authenticated_request_costs_the_user_row_and_no_session_query(
    shared_cache, customer, django_assert_num_queries
):
    tokens = log_in_from("Phone/1.0")
    client = bearer_client(tokens["access"])

    # The user, with the authenticator app the profile shows as `mfa_enabled`: nothing else.
    with django_assert_num_queries(1):
        assert client.get(ME_URL).status_code == 200
    with django_assert_num_queries(1):
        assert client.get(ME_URL).status_code == 200


def test_with_the_cache_emptied_the_session_is_asked_of_the_database_once(
    shared_cache, customer, django_assert_num_queries
):
    tokens = log_in_from("Phone/1.0")
    client = bearer_client(tokens["access"])
    cache.clear()

    # The user (with its app), the session, and last_used_at written.
    with django_assert_num_queries(3):
        assert client.get(ME_URL).status_code == 200
    with django_assert_num_queries(1):
        assert client.get(ME_URL).status_code == 200


def test_without_a_shared_cache_the_session_costs_one_query(
    settings, customer, django_assert_num_queries
):
    settings.SESSION_STATE_IN_CACHE = False
    tokens = log_in_from("Phone/1.0")
    client = bearer_client(tokens["access"])

    with django_assert_num_queries(2):  # the user (with its app), and the session
        assert client.get(ME_URL).status_code == 200


def test_without_a_shared_cache_last_used_at_is_written_once_a_minute(settings, customer):
    settings.SESSION_STATE_IN_CACHE = False
    tokens = log_in_from("Phone/1.0")
    session = Session.objects.get()
    long_ago = session.created_at - timedelta(minutes=5)
    Session.objects.filter(pk=session.pk).update(last_used_at=long_ago)

    bearer_client(tokens["access"]).get(ME_URL)

    session.refresh_from_db()
    assert session.last_used_at > long_ago + timedelta(minutes=4)


def test_an_ended_session_is_refused_even_with_the_cache_emptied(shared_cache, customer):
    tokens = log_in_from("Phone/1.0")
    APIClient().post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")
    cache.clear()

    assert_session_ended(tokens)


def test_while_the_cache_is_down_the_database_answers(shared_cache, customer, monkeypatch):
    log_in_from("Phone/1.0")
    live = Session.objects.get()
    ended = Session.objects.create(user=customer)
    sessions.end(Session.objects.filter(pk=ended.pk), reason="revoked")

    def down(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(cache, "get_many", down)

    assert sessions.is_live(live.pk) is True
    assert sessions.is_live(ended.pk) is False


# --- Closing the account ----------------------------------------------------------------------


def close(tokens: dict, body):
    return bearer_client(tokens["access"]).delete(ME_URL, body, format="json")


def test_closing_the_account_deletes_it_and_ends_its_sessions(customer):
    phone = log_in_from("Phone/1.0")
    laptop = log_in_from("Laptop/2.0")
    assert_session_live(phone)

    response = close(laptop, {"password": DEFAULT_PASSWORD})

    assert response.status_code == 204
    assert not User.objects.filter(username="carol").exists()
    assert not Session.objects.exists()
    assert_session_ended(phone)


def test_after_closing_a_log_in_fails_exactly_as_for_an_unknown_user(customer):
    close(log_in_from("Phone/1.0"), {"password": DEFAULT_PASSWORD})

    closed = APIClient().post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )
    unknown = APIClient().post(
        TOKEN_URL, {"username": "nobody", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert closed.status_code == unknown.status_code == 401
    assert closed.json() == unknown.json()


def test_closing_with_a_wrong_password_is_400_and_keeps_everything(customer):
    tokens = log_in_from("Phone/1.0")

    response = close(tokens, {"password": "not-my-password"})

    assert response.status_code == 400
    assert response.json() == {"password": ["Your password is not correct."]}
    assert User.objects.filter(username="carol").exists()
    assert_session_live(tokens)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "This field is required."),
        ({"password": 12345678}, "Expected a string, got a number."),
        ({"password": None}, "This field may not be null."),
        ({"password": "x" * 10_000}, "Ensure this field has no more than 128 characters."),
        ({"password": "pass\x00word"}, "Null characters are not allowed."),
    ],
)
def test_closing_with_bad_input_is_400_naming_the_password(customer, body, problem):
    tokens = log_in_from("Phone/1.0")

    response = close(tokens, body)

    assert response.status_code == 400
    assert response.json() == {"password": [problem]}
    assert User.objects.filter(username="carol").exists()


def test_closing_needs_a_log_in(api_client, customer):
    response = api_client.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 401
    assert User.objects.filter(username="carol").exists()


def test_the_last_active_superuser_cannot_close_their_account(superuser):
    tokens = log_in_from("Phone/1.0", login="root")
    User.objects.create_superuser("retired", "retired@example.com", "x", is_active=False)

    response = close(tokens, {"password": DEFAULT_PASSWORD})

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "last active superuser" in response.json()["detail"]
    assert User.objects.filter(username="root").exists()
    assert_session_live(tokens)


def test_a_superuser_may_close_their_account_while_another_remains(superuser):
    User.objects.create_superuser("other", "other@example.com", "x")
    tokens = log_in_from("Phone/1.0", login="root")

    assert close(tokens, {"password": DEFAULT_PASSWORD}).status_code == 204
    assert not User.objects.filter(username="root").exists()
