"""Email verification (API.md, "Accounts a SPA can rely on"): the emailed link, POST
/auth/verify-email/ and its resend, the three ACCOUNT_EMAIL_VERIFICATION modes, released
(never verified, stale) accounts, and pending email changes through /users/me/."""

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from tests.backend.test_settings import RESULT_MARKER, configured, start
from tests.conftest import obtain_tokens
from tests.factories import DEFAULT_PASSWORD, grant, make_staff, make_user
from users import services, verification
from users.models import OutboxEmail, User, UserQuerySet
from users.serializers.verification import INVALID_VERIFICATION_LINK, PENDING_ADDRESS_TAKEN
from users.views.verification import RESEND_ACCEPTED

REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"
VERIFY_URL = "/api/v1/auth/verify-email/"
RESEND_URL = "/api/v1/auth/verify-email/resend/"
RESET_URL = "/api/v1/auth/password-reset/"
ME_URL = "/api/v1/users/me/"

LINK_TEMPLATE = "https://spa.example.test/verify?uid={uid}&token={token}"
LINK = re.compile(r"https://spa\.example\.test/verify\?\S+")
STRONG_PASSWORD = "Vivid-lantern-42"
AUTH_LIMIT = 10  # API_THROTTLE_AUTH's default, a minute per client address

BAD_STRINGS = [
    pytest.param(123, id="number"),
    pytest.param(["x"], id="list"),
    pytest.param({"x": "y"}, id="object"),
    pytest.param(None, id="null"),
    pytest.param(True, id="boolean"),
    pytest.param("", id="blank"),
    pytest.param("x" * 10_000, id="10000-chars"),
    pytest.param("ab\x00cd", id="nul"),
]


@pytest.fixture(autouse=True)
def _links_to_the_spa(settings):
    settings.EMAIL_VERIFICATION_URL = LINK_TEMPLATE


@pytest.fixture(params=["optional", "mandatory"])
def verifying_mode(request, settings):
    """Both modes that send links behave alike, but for log-in."""
    settings.ACCOUNT_EMAIL_VERIFICATION = request.param
    return request.param


def post(client, url, data):
    """Emails leave once the request's transaction commits (users.mail): run the commit
    callbacks here, as a commit would, so they reach Django's test mailbox."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data, format="json")


def patch(client, url, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.patch(url, data, format="json")


def register(client=None, **overrides):
    payload = {"username": "dora", "email": "dora@example.com", "password": STRONG_PASSWORD}
    return post(client or APIClient(), REGISTER_URL, payload | overrides)


def link_in(message) -> dict:
    """The uid and token of the one verification link in an email."""
    links = LINK.findall(message.body)
    assert len(links) == 1, message.body
    query = parse_qs(urlsplit(links[0]).query, strict_parsing=True)
    assert set(query) == {"uid", "token"}, links[0]
    return {"uid": query["uid"][0], "token": query["token"][0]}


def links_to(mailoutbox, address: str) -> list[dict]:
    return [
        link_in(message)
        for message in mailoutbox
        if message.to == [address] and message.subject == verification.VERIFY_SUBJECT
    ]


def verify(link: dict):
    return post(APIClient(), VERIFY_URL, link)


def resend(email, client=None):
    return post(client or APIClient(), RESEND_URL, {"email": email})


def log_in(login: str, password: str = DEFAULT_PASSWORD):
    return APIClient().post(TOKEN_URL, {"username": login, "password": password}, format="json")


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def stored(user: User) -> dict:
    return User.objects.values().get(pk=user.pk)


def joined_days_ago(user: User, days: float) -> User:
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=days))
    return User.objects.get(pk=user.pk)


def assert_invalid_link(response):
    assert response.status_code == 400, response.content
    assert response.json() == {"token": [INVALID_VERIFICATION_LINK]}


# --- settings -----------------------------------------------------------------------------------


def test_settings_default_to_optional_seven_days_and_the_local_spa():
    values = configured(
        {},
        "settings.ACCOUNT_EMAIL_VERIFICATION",
        "settings.ACCOUNT_UNVERIFIED_DAYS",
        "settings.EMAIL_VERIFICATION_URL",
    )

    assert list(values.values()) == [
        "optional",
        7,
        "http://localhost:3000/verify-email?uid={uid}&token={token}",
    ]


def test_settings_variables_set_mode_days_and_link():
    url = "https://spa.example/verify/{uid}/{token}"
    variables = {
        "ACCOUNT_EMAIL_VERIFICATION": "mandatory",
        "ACCOUNT_UNVERIFIED_DAYS": "30",
        "EMAIL_VERIFICATION_URL": url,
    }

    values = configured(
        variables,
        "settings.ACCOUNT_EMAIL_VERIFICATION",
        "settings.ACCOUNT_UNVERIFIED_DAYS",
        "settings.EMAIL_VERIFICATION_URL",
    )

    assert list(values.values()) == ["mandatory", 30, url]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCOUNT_EMAIL_VERIFICATION", "sometimes"),
        ("ACCOUNT_EMAIL_VERIFICATION", "Mandatory"),
        ("ACCOUNT_UNVERIFIED_DAYS", "0"),
        ("ACCOUNT_UNVERIFIED_DAYS", "-1"),
        ("ACCOUNT_UNVERIFIED_DAYS", "7.5"),
        ("ACCOUNT_UNVERIFIED_DAYS", "a week"),
        ("EMAIL_VERIFICATION_URL", "https://spa.example/verify?token={token}"),
        ("EMAIL_VERIFICATION_URL", "https://spa.example/verify?uid={uid}"),
        ("EMAIL_VERIFICATION_URL", "https://spa.example/{lang}/verify?uid={uid}&t={token}"),
        ("EMAIL_VERIFICATION_URL", "https://spa.example/verify?uid={uid}&t={token"),
    ],
)
def test_a_bad_setting_refuses_to_start(variable, value):
    process = start({"DJANGO_SECRET_KEY": "k" * 50, variable: value}, "settings.DEBUG")

    assert process.returncode != 0
    assert variable in process.stderr
    assert RESULT_MARKER not in process.stdout


# --- registration sends the link ------------------------------------------------------------------


def test_registration_mails_a_link_built_from_the_setting(verifying_mode, mailoutbox):
    response = register()

    assert response.status_code == 201, response.content
    assert response.json()["email_verified"] is False
    assert response.json()["pending_email"] == ""
    assert [message.to for message in mailoutbox] == [["dora@example.com"]]
    assert mailoutbox[0].subject == verification.VERIFY_SUBJECT
    link = link_in(mailoutbox[0])
    assert LINK_TEMPLATE.format(**link) in mailoutbox[0].body
    assert "dora" in mailoutbox[0].body


def test_registration_with_verification_off_mails_nothing(settings, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"

    response = register()

    assert response.status_code == 201, response.content
    assert mailoutbox == []
    assert not OutboxEmail.objects.exists()


def test_a_refused_registration_mails_nothing(mailoutbox):
    response = register(password="short")

    assert response.status_code == 400
    assert mailoutbox == []
    assert not OutboxEmail.objects.exists()


# --- opening the link -----------------------------------------------------------------------------


@pytest.fixture
def dora_link(verifying_mode, mailoutbox) -> dict:
    assert register().status_code == 201
    return link_in(mailoutbox[0])


def test_opening_the_link_verifies_the_address(dora_link):
    response = verify(dora_link)

    assert response.status_code == 204, response.content
    assert response.content == b""
    dora = User.objects.get(username="dora")
    assert dora.email_verified is True
    assert dora.email == "dora@example.com"
    assert client_of(dora).get(ME_URL).json()["email_verified"] is True


def test_a_link_works_once(dora_link):
    assert verify(dora_link).status_code == 204
    before = stored(User.objects.get(username="dora"))

    response = verify(dora_link)

    assert_invalid_link(response)
    assert stored(User.objects.get(username="dora")) == before


def test_an_expired_link_is_400(dora_link, monkeypatch):
    later = datetime.now() + timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(verification.EmailVerificationTokenGenerator, "_now", lambda self: later)

    response = verify(dora_link)

    assert_invalid_link(response)
    assert User.objects.get(username="dora").email_verified is False


def test_a_link_still_works_just_before_it_expires(dora_link, monkeypatch):
    later = datetime.now() + timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT - 60)
    monkeypatch.setattr(verification.EmailVerificationTokenGenerator, "_now", lambda self: later)

    assert verify(dora_link).status_code == 204


@pytest.mark.parametrize(
    "uid", ["garbage", "MTIzNDU2Nzg5", "!!!", "OTIyMzM3MjAzNjg1NDc3NTgwOQ", "LTE", "MA"]
)
def test_a_bad_uid_is_400_with_the_message_of_a_bad_token(dora_link, uid):
    response = verify(dora_link | {"uid": uid})

    assert_invalid_link(response)
    assert User.objects.get(username="dora").email_verified is False


@pytest.mark.parametrize("token", ["garbage", "abc-def", "c4d5e6-0123456789abcdef0123456789abcdef"])
def test_a_bad_token_is_400(dora_link, token):
    response = verify(dora_link | {"token": token})

    assert_invalid_link(response)
    assert User.objects.get(username="dora").email_verified is False


def test_the_uid_of_one_link_with_the_token_of_another_is_400(dora_link, mailoutbox):
    assert register(username="eve", email="eve@example.com").status_code == 201
    eves_link = links_to(mailoutbox, "eve@example.com")[0]

    response = verify({"uid": eves_link["uid"], "token": dora_link["token"]})

    assert_invalid_link(response)
    assert not User.objects.filter(email_verified=True).exists()


def test_a_password_reset_token_is_no_verification_token(verifying_mode, customer, mailoutbox):
    post(APIClient(), RESET_URL, {"email": "carol@example.com"})
    reset = parse_qs(urlsplit(re.findall(r"https?://\S+", mailoutbox[0].body)[0]).query)

    response = verify({"uid": reset["uid"][0], "token": reset["token"][0]})

    assert_invalid_link(response)
    customer.refresh_from_db()
    assert customer.email_verified is False


def test_the_link_of_a_deactivated_account_is_400(dora_link):
    User.objects.filter(username="dora").update(is_active=False)

    assert_invalid_link(verify(dora_link))
    assert User.objects.get(username="dora").email_verified is False


@pytest.mark.parametrize("field", ["uid", "token"])
@pytest.mark.parametrize("value", BAD_STRINGS)
def test_a_malformed_uid_or_token_is_400_naming_it(dora_link, field, value):
    response = verify(dora_link | {field: value})

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert User.objects.get(username="dora").email_verified is False


@pytest.mark.parametrize("field", ["uid", "token"])
def test_a_missing_uid_or_token_is_400_naming_it(dora_link, field):
    body = {name: value for name, value in dora_link.items() if name != field}

    response = verify(body)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_verifying_ignores_credentials_sent_along(dora_link):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert post(client, VERIFY_URL, dora_link).status_code == 204


# --- mandatory: no tokens before the address is verified ------------------------------------------


def test_mandatory_refuses_a_correct_password_of_an_unverified_account_with_403(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    make_user(username="una", email="una@example.com")

    for login in ("una", "UNA@example.com"):
        response = log_in(login)

        assert response.status_code == 403, response.content
        assert response.json() == {
            "detail": verification.EMAIL_NOT_VERIFIED,
            "code": "email_not_verified",
        }
    assert not OutstandingToken.objects.exists()
    assert User.objects.get(username="una").last_login is None


def test_mandatory_answers_a_wrong_password_with_the_usual_401(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    make_user(username="una", email="una@example.com")

    unverified = log_in("una", "wrong-password")
    unknown = log_in("nobody", "wrong-password")

    assert unverified.status_code == 401
    assert unverified.json() == unknown.json()


def test_mandatory_logs_in_once_the_link_is_opened(settings, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    register()
    assert log_in("dora", STRONG_PASSWORD).status_code == 403

    assert verify(link_in(mailoutbox[0])).status_code == 204

    assert log_in("dora", STRONG_PASSWORD).status_code == 200


def test_mandatory_logs_in_verified_accounts_and_superusers(settings, superuser):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    make_user(username="vera", email_verified=True)

    assert log_in("vera").status_code == 200
    assert log_in("root").status_code == 200


@pytest.mark.parametrize("mode", ["optional", "none"])
def test_other_modes_log_in_unverified_accounts(settings, mode):
    settings.ACCOUNT_EMAIL_VERIFICATION = mode
    make_user(username="una")

    assert set(obtain_tokens(APIClient(), "una")) >= {"access", "refresh"}


# --- resend ---------------------------------------------------------------------------------------


def test_resend_answers_known_and_unknown_addresses_alike(verifying_mode, mailoutbox):
    make_user(username="una", email="una@example.com")

    known = resend("una@example.com")
    unknown = resend("nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.json() == {"detail": RESEND_ACCEPTED}
    assert [message.to for message in mailoutbox] == [["una@example.com"]]


@pytest.mark.parametrize("email", [" ", "\x1d"])
def test_resend_for_nothing_but_whitespace_is_the_same_202(verifying_mode, mailoutbox, email):
    make_user(username="una", email="una@example.com")

    response = resend(email)

    assert response.status_code == 202, response.content
    assert response.json() == {"detail": RESEND_ACCEPTED}
    assert mailoutbox == []


def test_the_resent_link_verifies_the_address(verifying_mode, mailoutbox):
    make_user(username="una", email="una@example.com")

    resend("UNA@Example.com")

    assert verify(link_in(mailoutbox[0])).status_code == 204
    assert User.objects.get(username="una").email_verified is True


def test_resend_mails_nothing_to_a_verified_account(verifying_mode, mailoutbox):
    make_user(username="vera", email="vera@example.com", email_verified=True)

    response = resend("vera@example.com")

    assert response.status_code == 202
    assert response.json() == {"detail": RESEND_ACCEPTED}
    assert mailoutbox == []


def test_resend_mails_nothing_to_a_deactivated_account(verifying_mode, mailoutbox):
    make_user(email="gone@example.com", is_active=False)

    assert resend("gone@example.com").status_code == 202
    assert mailoutbox == []


def test_resend_mails_nothing_with_verification_off(settings, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    make_user(email="una@example.com")

    assert resend("una@example.com").status_code == 202
    assert mailoutbox == []


def test_resend_for_a_pending_change_goes_to_the_new_address(verifying_mode, mailoutbox):
    vera = make_user(username="vera", email="vera@example.com", email_verified=True)
    change_email(vera, "vera@new.example")
    mailoutbox.clear()

    resend("vera@example.com")

    assert [message.to for message in mailoutbox] == [["vera@new.example"]]
    assert verify(link_in(mailoutbox[0])).status_code == 204
    assert User.objects.get(pk=vera.pk).email == "vera@new.example"


def test_resend_to_an_address_that_is_no_address_is_the_same_202_and_mails_nothing(
    verifying_mode, mailoutbox
):
    """Nobody's address, malformed or not, gets the answer every address gets."""
    make_user(email="una@example.com")

    response = resend("not-an-email")

    assert response.status_code == 202, response.content
    assert response.json() == resend("nobody@example.com").json()
    assert mailoutbox == []
    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize("email", BAD_STRINGS)
def test_resend_with_a_malformed_email_is_400_and_mails_nothing(verifying_mode, mailoutbox, email):
    make_user(email="una@example.com")

    response = resend(email)

    assert response.status_code == 400, response.content
    assert "email" in response.json()
    assert mailoutbox == []
    assert not OutboxEmail.objects.exists()


def test_the_eleventh_resend_in_a_minute_is_429_and_registration_keeps_its_own_budget(
    mailoutbox,
):
    make_user(email="una@example.com")
    client = APIClient()
    statuses = [resend(f"nobody{n}@example.com", client).status_code for n in range(AUTH_LIMIT)]

    response = resend("una@example.com", client)

    assert statuses == [202] * AUTH_LIMIT
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert mailoutbox == []
    assert register(client).status_code == 201


# --- released accounts: never verified, joined too long ago ---------------------------------------


@pytest.fixture
def stale(verifying_mode) -> User:
    """Joined eight days ago (ACCOUNT_UNVERIFIED_DAYS is 7) and never verified."""
    return joined_days_ago(make_user(username="dora", email="old-dora@example.com"), 8)


@pytest.mark.parametrize(
    "taken",
    [
        pytest.param({"username": "DORA"}, id="username"),
        pytest.param({"username": "dora2", "email": "OLD-dora@example.com"}, id="email"),
    ],
)
def test_registering_takes_the_username_or_email_of_a_released_account(stale, taken):
    response = register(**taken)

    assert response.status_code == 201, response.content
    assert not User.objects.filter(pk=stale.pk).exists()
    assert User.objects.count() == 1
    assert log_in("old-dora@example.com").status_code == 401


def test_one_registration_releases_the_username_of_one_account_and_the_email_of_another(stale):
    other = joined_days_ago(make_user(username="zed", email="dora@example.com"), 30)

    response = register()

    assert response.status_code == 201, response.content
    assert not User.objects.filter(pk__in=[stale.pk, other.pk]).exists()
    assert list(User.objects.values_list("username", flat=True)) == ["dora"]


def test_a_refused_registration_releases_nothing(stale):
    response = register(password="short")

    assert response.status_code == 400
    assert User.objects.filter(pk=stale.pk).exists()


@pytest.mark.parametrize(
    "keeps",
    [
        pytest.param({"email_verified": True}, id="verified"),
        pytest.param({"is_staff": True}, id="staff"),
        pytest.param({"is_superuser": True}, id="superuser"),
    ],
)
def test_verified_staff_and_superuser_accounts_are_never_released(stale, keeps):
    User.objects.filter(pk=stale.pk).update(**keeps)

    response = register()

    assert response.status_code == 400
    assert response.json()["username"] == ["A user with that username already exists."]
    assert User.objects.filter(pk=stale.pk).exists()


def test_an_account_within_its_unverified_days_keeps_its_names(verifying_mode):
    young = joined_days_ago(make_user(username="dora", email="dora@example.com"), 6.9)

    response = register()

    assert response.status_code == 400
    assert set(response.json()) == {"username", "email"}
    assert User.objects.filter(pk=young.pk).exists()


def test_unverified_days_follow_the_setting(stale, settings):
    settings.ACCOUNT_UNVERIFIED_DAYS = 30

    assert register().status_code == 400
    settings.ACCOUNT_UNVERIFIED_DAYS = 5
    assert register().status_code == 201
    assert not User.objects.filter(pk=stale.pk).exists()


def test_with_verification_off_no_account_is_released(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    old = joined_days_ago(make_user(username="dora"), 400)

    assert register().status_code == 400
    assert User.objects.filter(pk=old.pk).exists()


def test_a_released_account_still_holds_its_email_against_a_profile_change(stale, customer):
    """Only registration takes a released account's names: nothing is deleted elsewhere."""
    body = {"email": "old-dora@example.com", "current_password": DEFAULT_PASSWORD}

    response = patch(client_of(customer), ME_URL, body)

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert User.objects.filter(pk=stale.pk).exists()


# --- pending email changes ------------------------------------------------------------------------


def change_email(user: User, email: str, password: str = DEFAULT_PASSWORD):
    body = {"email": email, "current_password": password}
    return patch(client_of(user), ME_URL, body)


@pytest.fixture
def vera(verifying_mode) -> User:
    return make_user(username="vera", email="vera@example.com", email_verified=True)


def test_a_new_email_waits_as_pending_and_the_old_one_stays_in_force(vera, mailoutbox):
    response = change_email(vera, "vera@new.example")

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "vera@example.com"
    assert response.json()["pending_email"] == "vera@new.example"
    assert response.json()["email_verified"] is True
    vera.refresh_from_db()
    assert (vera.email, vera.pending_email) == ("vera@example.com", "vera@new.example")
    assert log_in("vera@example.com").status_code == 200
    assert log_in("vera@new.example").status_code == 401


def test_a_new_email_gets_the_link_and_the_old_one_a_notice(vera, mailoutbox):
    change_email(vera, "vera@new.example")

    assert sorted(message.to[0] for message in mailoutbox) == [
        "vera@example.com",
        "vera@new.example",
    ]
    assert len(links_to(mailoutbox, "vera@new.example")) == 1
    notice = next(message for message in mailoutbox if message.to == ["vera@example.com"])
    assert notice.subject == services.EMAIL_CHANGE_PENDING_SUBJECT
    assert "vera@new.example" in notice.body
    assert not LINK.search(notice.body)


def test_opening_the_link_makes_the_pending_address_the_email(vera, mailoutbox):
    change_email(vera, "vera@new.example")

    response = verify(links_to(mailoutbox, "vera@new.example")[0])

    assert response.status_code == 204, response.content
    vera.refresh_from_db()
    assert (vera.email, vera.pending_email, vera.email_verified) == (
        "vera@new.example",
        "",
        True,
    )
    assert log_in("vera@new.example").status_code == 200
    assert log_in("vera@example.com").status_code == 401


def test_an_unverified_account_changing_its_email_is_verified_by_the_new_link(
    verifying_mode, mailoutbox
):
    register()
    registration_link = link_in(mailoutbox[0])
    dora = User.objects.get(username="dora")
    assert change_email(dora, "dora@new.example", STRONG_PASSWORD).status_code == 200

    assert_invalid_link(verify(registration_link))
    assert verify(links_to(mailoutbox, "dora@new.example")[0]).status_code == 204
    dora.refresh_from_db()
    assert (dora.email, dora.email_verified) == ("dora@new.example", True)


def test_password_reset_mail_goes_to_the_old_address_while_a_change_is_pending(vera, mailoutbox):
    change_email(vera, "vera@new.example")
    mailoutbox.clear()

    post(APIClient(), RESET_URL, {"email": "vera@new.example"})
    post(APIClient(), RESET_URL, {"email": "vera@example.com"})

    assert [message.to for message in mailoutbox] == [["vera@example.com"]]


def test_changing_back_to_the_current_address_drops_the_pending_one(vera, mailoutbox):
    change_email(vera, "vera@new.example")
    pending_link = links_to(mailoutbox, "vera@new.example")[0]
    mailoutbox.clear()

    response = change_email(vera, "Vera@Example.com")

    assert response.status_code == 200, response.content
    assert response.json()["pending_email"] == ""
    assert mailoutbox == []
    assert_invalid_link(verify(pending_link))
    vera.refresh_from_db()
    assert (vera.email, vera.pending_email) == ("Vera@example.com", "")  # domains lower-cased


def test_a_second_new_address_replaces_the_first_and_its_link(vera, mailoutbox):
    change_email(vera, "vera@first.example")
    first_link = links_to(mailoutbox, "vera@first.example")[0]

    change_email(vera, "vera@second.example")

    assert_invalid_link(verify(first_link))
    assert verify(links_to(mailoutbox, "vera@second.example")[0]).status_code == 204
    assert User.objects.get(pk=vera.pk).email == "vera@second.example"


def test_sending_the_pending_address_again_changes_and_mails_nothing(vera, mailoutbox):
    change_email(vera, "vera@new.example")
    link = links_to(mailoutbox, "vera@new.example")[0]
    mailoutbox.clear()

    response = change_email(vera, "VERA@new.example")

    assert response.status_code == 200
    assert mailoutbox == []
    assert verify(link).status_code == 204


def test_the_link_is_400_when_another_account_took_the_address_meanwhile(vera, mailoutbox):
    change_email(vera, "vera@new.example")
    link = links_to(mailoutbox, "vera@new.example")[0]
    assert register(username="thief", email="VERA@new.example").status_code == 201
    before = stored(vera)

    response = verify(link)

    assert response.status_code == 400, response.content
    assert response.json() == {"non_field_errors": [PENDING_ADDRESS_TAKEN]}
    assert stored(vera) == before
    assert User.objects.get(username="thief").email == "VERA@new.example"


def test_the_link_is_400_when_the_address_is_taken_at_the_same_moment(
    vera, mailoutbox, monkeypatch
):
    """The check passed, then the database constraint stopped the change: still a 400."""
    change_email(vera, "vera@new.example")
    link = links_to(mailoutbox, "vera@new.example")[0]
    make_user(username="thief", email="vera@new.example")
    monkeypatch.setattr(UserQuerySet, "with_email", lambda self, email: self.none())
    before = stored(vera)

    response = verify(link)

    assert response.status_code == 400, response.content
    assert response.json() == {"non_field_errors": [PENDING_ADDRESS_TAKEN]}
    assert stored(vera) == before


def test_a_new_email_taken_by_another_account_is_refused_and_mails_nothing(vera, mailoutbox):
    make_user(email="taken@example.com")

    response = change_email(vera, "taken@example.com")

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert User.objects.get(pk=vera.pk).pending_email == ""
    assert mailoutbox == []


def test_with_verification_off_a_new_email_applies_at_once(settings, mailoutbox):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    vera = make_user(username="vera", email="vera@example.com")

    response = change_email(vera, "vera@new.example")

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "vera@new.example"
    assert response.json()["pending_email"] == ""
    assert [message.to for message in mailoutbox] == [["vera@example.com"]]
    assert mailoutbox[0].subject == services.EMAIL_CHANGED_SUBJECT
    assert log_in("vera@new.example").status_code == 200


@pytest.mark.parametrize("value", BAD_STRINGS)
def test_a_malformed_new_email_is_400_and_stores_and_mails_nothing(vera, mailoutbox, value):
    before = stored(vera)

    response = change_email(vera, value)

    assert response.status_code == 400, response.content
    assert "email" in response.json()
    assert stored(vera) == before
    assert mailoutbox == []


@pytest.mark.parametrize("field", ["email_verified", "pending_email"])
def test_verification_fields_are_read_only(verifying_mode, customer, field):
    value = True if field == "email_verified" else "mallory@example.com"
    before = stored(customer)

    response = patch(client_of(customer), ME_URL, {field: value})

    assert response.status_code == 200
    assert stored(customer) == before


# --- staff changing someone's email ---------------------------------------------------------------


@pytest.fixture
def manager():
    return grant(make_staff(username="mona", email="mona@example.com"), "users.change_user")


def test_staff_set_someones_email_at_once_and_the_old_address_hears_of_it(
    vera, manager, mailoutbox
):
    User.objects.filter(pk=vera.pk).update(pending_email="vera@pending.example")

    response = patch(client_of(manager), f"/api/v1/users/{vera.pk}/", {"email": "v@new.example"})

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "v@new.example"
    assert response.json()["pending_email"] == ""
    vera.refresh_from_db()
    assert (vera.email, vera.pending_email, vera.email_verified) == ("v@new.example", "", True)
    assert [message.to for message in mailoutbox] == [["vera@example.com"]]
    assert mailoutbox[0].subject == services.EMAIL_CHANGED_SUBJECT


def test_staff_changing_an_unverified_email_leave_it_unverified(
    verifying_mode, manager, customer, mailoutbox
):
    response = patch(
        client_of(manager), f"/api/v1/users/{customer.pk}/", {"email": "carol@new.example"}
    )

    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert (customer.email, customer.email_verified) == ("carol@new.example", False)


def test_staff_changing_their_own_email_wait_for_the_link(verifying_mode, manager, mailoutbox):
    body = {"email": "mona@new.example", "current_password": DEFAULT_PASSWORD}

    response = patch(client_of(manager), f"/api/v1/users/{manager.pk}/", body)

    assert response.status_code == 200, response.content
    assert response.json()["email"] == "mona@example.com"
    assert response.json()["pending_email"] == "mona@new.example"
    assert len(links_to(mailoutbox, "mona@new.example")) == 1


def test_staff_cannot_set_verification_fields(verifying_mode, manager, customer):
    before = stored(customer)

    response = patch(
        client_of(manager),
        f"/api/v1/users/{customer.pk}/",
        {"email_verified": True, "pending_email": "x@example.com"},
    )

    assert response.status_code == 200
    assert stored(customer) == before


# --- admin ----------------------------------------------------------------------------------------


def test_admin_lists_and_filters_users_by_verification(admin_client, customer):
    make_user(username="vera", email_verified=True)

    response = admin_client.get("/admin/users/user/", {"email_verified__exact": "1"})

    assert response.status_code == 200
    shown = re.findall(
        r'<th class="field-username"><a [^>]*>([^<]+)</a>', response.content.decode()
    )
    assert sorted(shown) == ["root", "vera"]  # createsuperuser's address counts as verified


def test_admin_shows_the_pending_email_read_only(admin_client, customer):
    User.objects.filter(pk=customer.pk).update(pending_email="carol@pending.example")

    response = admin_client.get(f"/admin/users/user/{customer.pk}/change/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "carol@pending.example" in content
    assert 'name="pending_email"' not in content
    assert 'name="email_verified"' in content
