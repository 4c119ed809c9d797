"""The session log-in pages ask a two-factor user for a code, as POST /auth/token/ does
(API.md, "Two-factor log-in"): /admin/login/ and the browsable API's /api-auth/login/."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, enable_totp, make_staff, make_user
from users import forms, mfa
from users.models import RecoveryCode, TOTPDevice, User

ADMIN_LOGIN_URL = "/admin/login/"
API_LOGIN_URL = "/api-auth/login/"
ME_URL = "/api/v1/users/me/"
TOKEN_URL = "/api/v1/auth/token/"
MFA_TOKEN_URL = "/api/v1/auth/token/mfa/"
STEP = timedelta(seconds=30)
WRONG_PASSWORD = "Wr0ng-horse-battery"


@dataclass(frozen=True)
class Page:
    url: str
    make_account: Callable[..., User]  # an account this page lets in
    next_url: str  # where it sends them after the log-in


PAGES = {
    "admin": Page(ADMIN_LOGIN_URL, make_staff, "/admin/"),
    "browsable API": Page(API_LOGIN_URL, make_user, "/api/v1/"),
}


class Clock:
    """Django's clock, which two-factor reads for codes; the test moves it."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def tick(self):
        self.now += STEP


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(timezone, "now", fake)
    return fake


@pytest.fixture(params=PAGES.values(), ids=PAGES.keys())
def page(request) -> Page:
    """Each log-in page, and `dana`, an account it lets in."""
    request.param.make_account(username="dana")
    return request.param


@pytest.fixture
def secret(page, clock):
    """Dana's authenticator app: two-factor is on for her."""
    return enable_totp(User.objects.get(username="dana"))


def code(secret: str, clock: Clock) -> str:
    return pyotp.TOTP(secret).at(clock.now)


def log_in(page: Page, username="dana", password=DEFAULT_PASSWORD, **second_factor):
    """POST the page's form as a browser does, in a browser of its own: (client, response)."""
    client = Client()
    data = {"username": username, "password": password, "next": page.next_url, **second_factor}
    return client, client.post(page.url, data)


def assert_logged_in(client, response, page):
    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == page.next_url
    me = client.get(ME_URL, HTTP_ACCEPT="application/json")
    assert me.status_code == 200
    assert me.json()["username"] == "dana"


def assert_refused(client, response, message):
    """The page again, with `message` as the form's error, and no session for the API."""
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [message]
    assert escape(message) in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(ME_URL, HTTP_ACCEPT="application/json").status_code == 401


def last_used_step() -> int | None:
    return TOTPDevice.objects.get(user__username="dana").last_used_step


def recovery_codes(clock) -> list[str]:
    """Dana turns two-factor on as the API does; the recovery codes it shows her."""
    dana = User.objects.get(username="dana")
    device = mfa.start_enrolment(user=dana)
    codes = mfa.confirm(user=dana, code=code(device.secret, clock))
    clock.tick()
    return codes


# --- The page ----------------------------------------------------------------------------------


def test_the_page_has_the_code_field(page):
    response = Client().get(page.url)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="code"' in content
    assert 'autocomplete="one-time-code"' in content
    assert '<label for="id_code"' in content
    assert forms.CODE_LABEL in content


# --- Without two-factor ------------------------------------------------------------------------


def test_a_user_without_two_factor_logs_in_with_the_password_alone(page):
    client, response = log_in(page)

    assert_logged_in(client, response, page)


def test_a_user_without_two_factor_logs_in_whatever_the_code_says(page):
    client, response = log_in(page, code="123456")

    assert_logged_in(client, response, page)


# --- With two-factor ---------------------------------------------------------------------------


def test_the_right_password_without_a_code_does_not_log_in(page, secret):
    client, response = log_in(page)

    assert_refused(client, response, mfa.SECOND_FACTOR_NEEDED)
    assert last_used_step() is None


def test_the_right_password_with_a_wrong_code_does_not_log_in(page, secret, clock):
    wrong = f"{(int(code(secret, clock)) + 1) % 1_000_000:06d}"

    client, response = log_in(page, code=wrong)

    assert_refused(client, response, mfa.WRONG_CODE)
    assert last_used_step() is None


def test_the_right_password_with_something_not_a_code_does_not_log_in(page, secret):
    client, response = log_in(page, code="abc")

    assert_refused(client, response, forms.NOT_A_CODE)


def test_the_right_password_and_a_current_code_log_in(page, secret, clock):
    client, response = log_in(page, code=code(secret, clock))

    assert_logged_in(client, response, page)
    assert last_used_step() == pyotp.TOTP(secret).timecode(clock.now)


def test_the_code_may_be_typed_as_the_app_shows_it(page, secret, clock):
    current = code(secret, clock)

    client, response = log_in(page, code=f" {current[:3]} {current[3:]} ")

    assert_logged_in(client, response, page)


def test_a_code_logs_in_once(page, secret, clock):
    used = code(secret, clock)
    log_in(page, code=used)

    client, response = log_in(page, code=used)

    assert_refused(client, response, mfa.WRONG_CODE)


def test_a_code_used_on_the_page_is_refused_by_the_token_endpoint(page, secret, clock):
    used = code(secret, clock)
    log_in(page, code=used)
    api = APIClient()
    challenge = api.post(TOKEN_URL, {"username": "dana", "password": DEFAULT_PASSWORD})

    response = api.post(MFA_TOKEN_URL, {"challenge": challenge.json()["challenge"], "code": used})

    assert response.status_code == 400
    assert response.json() == {"code": [mfa.WRONG_CODE]}


def test_the_next_code_logs_in_after_one_was_used(page, secret, clock):
    log_in(page, code=code(secret, clock))
    clock.tick()

    client, response = log_in(page, code=code(secret, clock))

    assert_logged_in(client, response, page)


def test_a_recovery_code_logs_in_once(page, clock):
    codes = recovery_codes(clock)

    first_client, first = log_in(page, code=codes[0])
    again_client, again = log_in(page, code=codes[0])
    other_client, other = log_in(page, code=codes[1].upper().replace("-", ""))

    assert_logged_in(first_client, first, page)
    assert_refused(again_client, again, mfa.WRONG_RECOVERY_CODE)
    assert_logged_in(other_client, other, page)
    assert RecoveryCode.objects.filter(used_at__isnull=False).count() == 2


def test_a_wrong_password_says_nothing_of_two_factor_and_spends_no_code(page, secret, clock):
    page.make_account(username="erin")  # no two-factor
    _, usual = log_in(page, username="erin", password=WRONG_PASSWORD)

    client, response = log_in(page, password=WRONG_PASSWORD, code=code(secret, clock))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == usual.context["form"].non_field_errors()
    for message in (mfa.SECOND_FACTOR_NEEDED, mfa.WRONG_CODE, forms.NOT_A_CODE):
        assert escape(message) not in response.content.decode()
    assert client.get(ME_URL, HTTP_ACCEPT="application/json").status_code == 401
    assert last_used_step() is None


@pytest.mark.parametrize("value", ["1" * 10_000, "12\x003456", "123456789012"])
def test_a_malformed_code_is_a_field_error_and_no_log_in(page, secret, value):
    client, response = log_in(page, code=value)

    assert response.status_code == 200
    assert response.context["form"].has_error("code")
    assert "_auth_user_id" not in client.session
    assert last_used_step() is None


def test_the_admin_refuses_a_two_factor_user_who_is_not_staff_and_spends_no_code(clock):
    secret = enable_totp(make_user(username="dana"))
    data = {"username": "dana", "password": DEFAULT_PASSWORD, "code": code(secret, clock)}

    response = Client().post(ADMIN_LOGIN_URL, data)

    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert "staff account" in error
    assert last_used_step() is None


# --- Mandatory verification, and the browser log-ins two-factor changes end -------------------


def test_with_mandatory_verification_an_unverified_account_is_refused(page, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    User.objects.filter(username="dana").update(email_verified=False)

    client, response = log_in(page)

    assert_refused(client, response, "Verify your email address first: open the link we sent you.")


def test_with_mandatory_verification_a_verified_account_logs_in(page, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    User.objects.filter(username="dana").update(email_verified=True)

    client, response = log_in(page)

    assert_logged_in(client, response, page)


def test_turning_two_factor_on_ends_other_browser_log_ins_and_keeps_the_callers(page, clock):
    other, _ = log_in(page)
    caller, _ = log_in(page)
    assert other.get(ME_URL, HTTP_ACCEPT="application/json").status_code == 200

    enrolment = caller.post("/api/v1/users/me/mfa/totp/", HTTP_ACCEPT="application/json")
    secret = enrolment.json()["secret"]
    confirmed = caller.post(
        "/api/v1/users/me/mfa/totp/confirm/",
        {"code": code(secret, clock)},
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )

    assert confirmed.status_code == 200, confirmed.content
    assert other.get(ME_URL, HTTP_ACCEPT="application/json").status_code in (401, 403)
    assert caller.get(ME_URL, HTTP_ACCEPT="application/json").status_code == 200
