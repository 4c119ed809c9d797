"""Two-factor log-in: enrolment, confirmation, recovery codes, the log-in challenge and turning
it off (API.md, "Accounts a SPA can rely on")."""

import re
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from tests.conftest import bearer_client, obtain_tokens
from tests.factories import DEFAULT_PASSWORD, enable_totp, make_staff, make_user
from users import mfa
from users.models import LoginChallenge, RecoveryCode, Session, TOTPDevice

TOKEN_URL = "/api/v1/auth/token/"
MFA_TOKEN_URL = "/api/v1/auth/token/mfa/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
ME_URL = "/api/v1/users/me/"
TOTP_URL = "/api/v1/users/me/mfa/totp/"
CONFIRM_URL = "/api/v1/users/me/mfa/totp/confirm/"
USER_CHANGELIST_URL = "/admin/users/user/"
AUTH_LIMIT = 10  # API_THROTTLE_AUTH's default, 10 a minute
STEP = timedelta(seconds=30)
RECOVERY_CODE = re.compile(r"^[0-9a-f]{5}-[0-9a-f]{5}$")
WRONG_PASSWORD = "Wr0ng-horse-battery"


class Clock:
    """Django's clock, which two-factor reads for codes and challenges; the test moves it."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def tick(self, delta: timedelta = STEP):
        self.now += delta


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(timezone, "now", fake)
    return fake


def code(secret: str, clock: Clock, offset: timedelta = timedelta(0)) -> str:
    return pyotp.TOTP(secret).at(clock.now + offset)


def post(client, url, data=None):
    return client.post(url, data, format="json")


def log_in(login="carol", password=DEFAULT_PASSWORD):
    return post(APIClient(), TOKEN_URL, {"username": login, "password": password})


def challenge_of(login="carol") -> str:
    response = log_in(login)
    assert response.status_code == 401, response.content
    return response.json()["challenge"]


def finish(challenge: str, **second_factor):
    return post(APIClient(), MFA_TOKEN_URL, {"challenge": challenge, **second_factor})


def disable(client, **body):
    return client.delete(TOTP_URL, body, format="json")


def assert_session_ended(tokens: dict):
    """The session of these tokens ended at once: its access token is refused from now on."""
    access = bearer_client(tokens["access"]).get(ME_URL)
    refresh = post(APIClient(), REFRESH_URL, {"refresh": tokens["refresh"]})
    assert access.status_code == refresh.status_code == 401
    assert access.json()["code"] == refresh.json()["code"] == "session_ended"


@pytest.fixture
def carol_client(customer):
    """Carol, logged in over HTTP as an SPA is (so she has a session of her own)."""
    return bearer_client(obtain_tokens(APIClient(), "carol")["access"])


@pytest.fixture
def two_factor(customer, clock):
    """Carol with two-factor on; returns her secret, the clock already past the step used."""
    secret = enable_totp(customer)
    clock.tick()
    return secret


def enrol_and_confirm(client, clock) -> tuple[str, list[str]]:
    secret = post(client, TOTP_URL).json()["secret"]
    response = post(client, CONFIRM_URL, {"code": code(secret, clock)})
    assert response.status_code == 200, response.content
    clock.tick()
    return secret, response.json()["recovery_codes"]


# --- Enrolment -------------------------------------------------------------------------------


def test_enrolment_gives_a_secret_and_an_otpauth_url_and_changes_nothing_yet(
    carol_client, customer, clock
):
    response = post(carol_client, TOTP_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"secret", "otpauth_url"}
    url = urlsplit(body["otpauth_url"])
    assert (url.scheme, url.netloc, url.path) == ("otpauth", "totp", "/Catalog:carol")
    assert parse_qs(url.query) == {"secret": [body["secret"]], "issuer": ["Catalog"]}
    assert TOTPDevice.objects.get(user=customer).confirmed_at is None
    assert carol_client.get(ME_URL).json()["mfa_enabled"] is False
    assert log_in().status_code == 200


def test_enrolling_again_before_confirming_replaces_the_secret(carol_client, customer, clock):
    first = post(carol_client, TOTP_URL).json()["secret"]
    second = post(carol_client, TOTP_URL).json()["secret"]

    stale = post(carol_client, CONFIRM_URL, {"code": code(first, clock)})
    fresh = post(carol_client, CONFIRM_URL, {"code": code(second, clock)})

    assert first != second
    assert stale.status_code == 400
    assert list(stale.json()) == ["code"]
    assert fresh.status_code == 200, fresh.content
    assert TOTPDevice.objects.get(user=customer).secret == second


def test_enrolling_when_two_factor_is_on_is_409_and_keeps_the_secret(
    customer, customer_client, two_factor
):
    response = post(customer_client, TOTP_URL)

    assert response.status_code == 409
    assert response.json() == {"detail": mfa.ALREADY_ON, "code": "conflict"}
    assert TOTPDevice.objects.get(user=customer).secret == two_factor


def test_confirming_turns_two_factor_on_and_shows_ten_recovery_codes_once(
    carol_client, customer, clock
):
    secret = post(carol_client, TOTP_URL).json()["secret"]

    response = post(carol_client, CONFIRM_URL, {"code": code(secret, clock)})

    assert response.status_code == 200, response.content
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(recovery) for recovery in codes)
    stored = set(RecoveryCode.objects.filter(user=customer).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not stored & {*codes, *(recovery.replace("-", "") for recovery in codes)}
    assert TOTPDevice.objects.get(user=customer).confirmed_at is not None
    assert carol_client.get(ME_URL).json()["mfa_enabled"] is True


def test_a_wrong_confirmation_code_is_400_and_two_factor_stays_off(carol_client, customer, clock):
    secret = post(carol_client, TOTP_URL).json()["secret"]
    wrong = f"{(int(code(secret, clock)) + 1) % 1_000_000:06d}"

    response = post(carol_client, CONFIRM_URL, {"code": wrong})

    assert response.status_code == 400
    assert response.json() == {"code": [mfa.WRONG_CODE]}
    assert TOTPDevice.objects.get(user=customer).confirmed_at is None
    assert not RecoveryCode.objects.exists()
    assert log_in().status_code == 200


def test_confirming_without_an_enrolment_is_409(carol_client, clock):
    response = post(carol_client, CONFIRM_URL, {"code": "123456"})

    assert response.status_code == 409
    assert response.json() == {"detail": mfa.NOT_ENROLLING, "code": "conflict"}


def test_confirming_twice_is_409(carol_client, customer, clock):
    secret, _ = enrol_and_confirm(carol_client, clock)

    response = post(carol_client, CONFIRM_URL, {"code": code(secret, clock)})

    assert response.status_code == 409
    assert RecoveryCode.objects.filter(user=customer).count() == 10


def test_confirming_ends_the_other_sessions_but_not_the_callers(customer, clock):
    other = obtain_tokens(APIClient(), "carol")
    mine = obtain_tokens(APIClient(), "carol")

    enrol_and_confirm(bearer_client(mine["access"]), clock)

    assert_session_ended(other)
    assert bearer_client(mine["access"]).get(ME_URL).status_code == 200
    assert post(APIClient(), REFRESH_URL, {"refresh": mine["refresh"]}).status_code == 200


# --- Log-in ----------------------------------------------------------------------------------


def test_a_two_factor_password_log_in_is_401_mfa_required_with_a_challenge_and_no_tokens(
    customer, two_factor
):
    response = log_in()

    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"detail", "code", "challenge"}
    assert body["code"] == "mfa_required"
    assert len(body["challenge"]) >= 43
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not OutstandingToken.objects.filter(user=customer).exists()
    assert not Session.objects.filter(user=customer).exists()
    stored = LoginChallenge.objects.get(user=customer)
    assert stored.key_hash != body["challenge"]
    assert body["challenge"] not in stored.key_hash


def test_a_wrong_password_of_a_two_factor_user_is_the_usual_401(customer, two_factor):
    response = log_in(password=WRONG_PASSWORD)
    unknown = log_in(login="nobody", password=WRONG_PASSWORD)

    assert response.status_code == 401
    assert response.json() == unknown.json()
    assert "challenge" not in response.json()
    assert not LoginChallenge.objects.exists()


def test_the_challenge_and_a_code_give_the_tokens(customer, two_factor, clock):
    response = finish(challenge_of(), code=code(two_factor, clock))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at", "refresh_expires_at"}
    assert "no-store" in response["Cache-Control"]
    me = bearer_client(body["access"]).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["username"] == "carol"
    assert me.json()["mfa_enabled"] is True
    assert Session.objects.filter(user=customer).live().count() == 1


def test_the_last_log_in_is_when_the_code_is_given_not_the_password(customer, two_factor, clock):
    challenge = challenge_of()
    customer.refresh_from_db()
    after_password = customer.last_login

    finish(challenge, code=code(two_factor, clock))

    customer.refresh_from_db()
    assert after_password is None
    assert customer.last_login is not None


def test_the_whole_journey_enrol_confirm_log_in_finish(customer, carol_client, clock):
    secret, _ = enrol_and_confirm(carol_client, clock)

    challenge = challenge_of()
    response = finish(challenge, code=code(secret, clock))

    assert response.status_code == 200, response.content
    assert bearer_client(response.json()["access"]).get(ME_URL).status_code == 200


def test_a_challenge_works_once(customer, two_factor, clock):
    challenge = challenge_of()
    first = finish(challenge, code=code(two_factor, clock))
    clock.tick()

    second = finish(challenge, code=code(two_factor, clock))

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json() == {"challenge": [mfa.CHALLENGE_REFUSED]}


def test_a_challenge_expires_after_5_minutes(customer, two_factor, clock):
    challenge = challenge_of()
    clock.tick(timedelta(minutes=5))

    response = finish(challenge, code=code(two_factor, clock))

    assert response.status_code == 400
    assert response.json() == {"challenge": [mfa.CHALLENGE_REFUSED]}
    assert TOTPDevice.objects.get(user=customer).last_used_step is None  # no code spent


def test_a_challenge_still_works_just_before_5_minutes(customer, two_factor, clock):
    challenge = challenge_of()
    clock.tick(timedelta(minutes=5) - timedelta(seconds=1))

    assert finish(challenge, code=code(two_factor, clock)).status_code == 200


def test_an_unknown_challenge_is_400_under_challenge(customer, two_factor, clock):
    response = finish("not-a-challenge", code=code(two_factor, clock))

    assert response.status_code == 400
    assert response.json() == {"challenge": [mfa.CHALLENGE_REFUSED]}


def test_a_code_reused_within_its_window_is_refused(customer, two_factor, clock):
    used = code(two_factor, clock)
    assert finish(challenge_of(), code=used).status_code == 200
    challenge = challenge_of()

    response = finish(challenge, code=used)

    assert response.status_code == 400
    assert response.json() == {"code": [mfa.WRONG_CODE]}
    assert LoginChallenge.objects.get(key_hash=mfa._challenge_hash(challenge)).used_at is None


def test_a_code_of_the_step_before_or_after_counts_but_not_two_steps_away(
    customer, two_factor, clock
):
    too_old = finish(challenge_of(), code=code(two_factor, clock, -2 * STEP))
    before = finish(challenge_of(), code=code(two_factor, clock, -STEP))
    after = finish(challenge_of(), code=code(two_factor, clock, STEP))

    assert too_old.status_code == 400
    assert before.status_code == 200
    assert after.status_code == 200


def test_a_code_older_than_the_last_one_used_is_refused(customer, two_factor, clock):
    assert finish(challenge_of(), code=code(two_factor, clock, STEP)).status_code == 200

    response = finish(challenge_of(), code=code(two_factor, clock))

    assert response.status_code == 400
    assert list(response.json()) == ["code"]


def test_after_5_wrong_codes_the_challenge_is_dead(customer, two_factor, clock):
    challenge = challenge_of()
    wrong = [finish(challenge, code="000000").status_code for _ in range(5)]

    response = finish(challenge, code=code(two_factor, clock))

    assert wrong == [400] * 5
    assert response.status_code == 400
    assert response.json() == {"challenge": [mfa.CHALLENGE_REFUSED]}


def test_4_wrong_codes_leave_the_challenge_alive(customer, two_factor, clock):
    challenge = challenge_of()
    for _ in range(4):
        finish(challenge, code="000000")

    assert finish(challenge, code=code(two_factor, clock)).status_code == 200


def test_a_deactivated_users_challenge_is_refused(customer, two_factor, clock):
    challenge = challenge_of()
    customer.is_active = False
    customer.save(update_fields=["is_active"])

    response = finish(challenge, code=code(two_factor, clock))

    assert response.status_code == 400
    assert list(response.json()) == ["challenge"]


def test_finishing_sends_either_code_or_recovery_code(customer, two_factor, clock):
    challenge = challenge_of()

    neither = finish(challenge)
    both = finish(challenge, code=code(two_factor, clock), recovery_code="abcde-12345")

    assert neither.status_code == both.status_code == 400
    assert neither.json() == {"code": [mfa.SECOND_FACTOR_NEEDED]}
    assert list(both.json()) == ["non_field_errors"]
    assert finish(challenge, code=code(two_factor, clock)).status_code == 200  # nothing spent


# --- Races: one code, one challenge, one success ---------------------------------------------

RACERS = 6


def race(bodies: list[dict]) -> list[int]:
    """POST each body to token/mfa/ from its own thread, all at once; their statuses."""
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def racer(body):
        try:
            client = APIClient()
            barrier.wait(timeout=10)
            response = post(client, MFA_TOKEN_URL, body)
            with lock:
                statuses.append(response.status_code)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
def test_racing_with_one_challenge_gives_one_log_in(customer, two_factor, clock):
    challenge = challenge_of()
    codes = [code(two_factor, clock, offset) for offset in (-STEP, timedelta(0), STEP)]

    statuses = race([{"challenge": challenge, "code": codes[n % 3]} for n in range(RACERS)])

    assert statuses == [200] + [400] * (RACERS - 1)
    assert OutstandingToken.objects.filter(user=customer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_with_one_code_gives_one_log_in(customer, two_factor, clock):
    current = code(two_factor, clock)
    challenges = [challenge_of() for _ in range(RACERS)]

    statuses = race([{"challenge": challenge, "code": current} for challenge in challenges])

    assert statuses == [200] + [400] * (RACERS - 1)
    assert OutstandingToken.objects.filter(user=customer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_with_one_recovery_code_gives_one_log_in(customer, carol_client, clock):
    _, codes = enrol_and_confirm(carol_client, clock)
    challenges = [challenge_of() for _ in range(RACERS)]

    statuses = race([{"challenge": item, "recovery_code": codes[0]} for item in challenges])

    assert statuses == [200] + [400] * (RACERS - 1)
    assert RecoveryCode.objects.filter(user=customer, used_at__isnull=False).count() == 1


# --- Recovery codes --------------------------------------------------------------------------


def test_a_recovery_code_logs_in_once(customer, carol_client, clock):
    _, codes = enrol_and_confirm(carol_client, clock)

    first = finish(challenge_of(), recovery_code=codes[0])
    second = finish(challenge_of(), recovery_code=codes[0])
    other = finish(challenge_of(), recovery_code=codes[1].upper().replace("-", ""))

    assert first.status_code == 200, first.content
    assert second.status_code == 400
    assert second.json() == {"recovery_code": [mfa.WRONG_RECOVERY_CODE]}
    assert other.status_code == 200
    assert RecoveryCode.objects.filter(user=customer, used_at__isnull=False).count() == 2


def test_another_users_recovery_code_does_not_log_in(customer, carol_client, clock):
    _, codes = enrol_and_confirm(carol_client, clock)
    dave = make_user(username="dave")
    enable_totp(dave)

    response = finish(challenge_of("dave"), recovery_code=codes[0])

    assert response.status_code == 400
    assert not RecoveryCode.objects.filter(used_at__isnull=False).exists()


# --- Turning it off --------------------------------------------------------------------------


def test_turning_off_needs_the_password_and_a_code(customer, carol_client, clock):
    secret, _ = enrol_and_confirm(carol_client, clock)

    response = disable(carol_client, password=DEFAULT_PASSWORD, code=code(secret, clock))

    assert response.status_code == 204, response.content
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert not RecoveryCode.objects.filter(user=customer).exists()
    assert log_in().status_code == 200
    assert carol_client.get(ME_URL).json()["mfa_enabled"] is False


def test_turning_off_takes_a_recovery_code(customer, carol_client, clock):
    _, codes = enrol_and_confirm(carol_client, clock)

    response = disable(carol_client, password=DEFAULT_PASSWORD, recovery_code=codes[3])

    assert response.status_code == 204, response.content
    assert not TOTPDevice.objects.filter(user=customer).exists()


def test_turning_off_with_a_wrong_password_is_400_and_spends_no_code(
    customer, customer_client, two_factor, clock
):
    current = code(two_factor, clock)

    response = disable(customer_client, password=WRONG_PASSWORD, code=current)

    assert response.status_code == 400
    assert list(response.json()) == ["password"]
    assert TOTPDevice.objects.get(user=customer).last_used_step is None
    assert disable(customer_client, password=DEFAULT_PASSWORD, code=current).status_code == 204


@pytest.mark.parametrize("field", ["code", "recovery_code"])
def test_turning_off_with_a_wrong_code_is_400_and_keeps_two_factor_on(
    customer, customer_client, two_factor, clock, field
):
    wrong = {"code": "000000", "recovery_code": "abcde-12345"}[field]

    response = disable(customer_client, password=DEFAULT_PASSWORD, **{field: wrong})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert TOTPDevice.objects.filter(user=customer, confirmed_at__isnull=False).exists()


def test_turning_off_without_a_code_is_400(customer, customer_client, two_factor):
    response = disable(customer_client, password=DEFAULT_PASSWORD)

    assert response.status_code == 400
    assert response.json() == {"code": [mfa.SECOND_FACTOR_NEEDED]}
    assert TOTPDevice.objects.filter(user=customer).exists()


def test_turning_off_when_it_is_off_is_409(customer_client):
    response = disable(customer_client, password=DEFAULT_PASSWORD, code="123456")

    assert response.status_code == 409
    assert response.json() == {"detail": mfa.NOT_ON, "code": "conflict"}


def test_turning_off_a_pending_enrolment_is_409_too(carol_client, customer, clock):
    post(carol_client, TOTP_URL)

    response = disable(carol_client, password=DEFAULT_PASSWORD, code="123456")

    assert response.status_code == 409
    assert TOTPDevice.objects.filter(user=customer).exists()


def test_turning_off_ends_the_other_sessions_but_not_the_callers(customer, clock):
    secret = enable_totp(customer)
    clock.tick()
    other = finish(challenge_of(), code=code(secret, clock)).json()
    clock.tick()
    mine = finish(challenge_of(), code=code(secret, clock)).json()
    clock.tick()

    response = disable(
        bearer_client(mine["access"]), password=DEFAULT_PASSWORD, code=code(secret, clock)
    )

    assert response.status_code == 204
    assert_session_ended(other)
    assert bearer_client(mine["access"]).get(ME_URL).status_code == 200
    assert post(APIClient(), REFRESH_URL, {"refresh": mine["refresh"]}).status_code == 200


def test_turning_off_spends_the_password_attempts_of_the_address(customer_client, two_factor):
    answers = [
        disable(customer_client, password=WRONG_PASSWORD, code="123456").status_code
        for _ in range(AUTH_LIMIT + 1)
    ]

    assert answers == [400] * AUTH_LIMIT + [429]
    assert log_in().status_code == 429  # the same budget as the log-in


def test_enrolling_spends_no_password_attempts(carol_client, clock):
    answers = [post(carol_client, TOTP_URL).status_code for _ in range(AUTH_LIMIT + 1)]

    assert answers == [200] * (AUTH_LIMIT + 1)
    assert log_in().status_code == 200


def test_finishing_a_log_in_is_throttled_per_address(customer, two_factor):
    answers = [finish("x", code="000000").status_code for _ in range(AUTH_LIMIT + 1)]

    assert answers == [400] * AUTH_LIMIT + [429]


# --- Who may call, and bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"), [("post", TOTP_URL), ("delete", TOTP_URL), ("post", CONFIRM_URL)]
)
def test_anonymous_calls_are_401(api_client, method, url):
    response = getattr(api_client, method)(url, {"code": "123456"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not TOTPDevice.objects.exists()


NOT_A_GOOD_STRING = [
    pytest.param(123456, id="number"),
    pytest.param(True, id="boolean"),
    pytest.param(None, id="null"),
    pytest.param(["123456"], id="list"),
    pytest.param({"code": "123456"}, id="object"),
    pytest.param("1" * 10_000, id="10000-characters"),
    pytest.param("12\x003456", id="nul"),
    pytest.param("", id="empty"),
]
NOT_A_CODE = [
    *NOT_A_GOOD_STRING,
    pytest.param("12345", id="five-digits"),
    pytest.param(" 123456", id="space"),
    pytest.param("\uff11\uff12\uff13\uff14\uff15\uff16", id="fullwidth-digits"),
]


@pytest.mark.parametrize("value", NOT_A_CODE)
def test_a_bad_confirmation_code_is_400_under_code_and_nothing_is_stored(
    carol_client, customer, clock, value
):
    post(carol_client, TOTP_URL)

    response = post(carol_client, CONFIRM_URL, {"code": value})

    assert response.status_code == 400
    assert list(response.json()) == ["code"]
    device = TOTPDevice.objects.get(user=customer)
    assert (device.confirmed_at, device.last_used_step) == (None, None)
    assert not RecoveryCode.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(("challenge", value) for value in NOT_A_GOOD_STRING),
        *(("code", value) for value in NOT_A_CODE),
        *(("recovery_code", value) for value in NOT_A_CODE),
    ],
)
def test_bad_input_to_finish_a_log_in_is_400_naming_the_field_and_spends_nothing(
    customer, two_factor, clock, field, value
):
    challenge = challenge_of()
    body = {"challenge": challenge, "code": code(two_factor, clock)} | {field: value}
    if field == "recovery_code":
        del body["code"]

    response = post(APIClient(), MFA_TOKEN_URL, body)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    stored = LoginChallenge.objects.get(user=customer)
    assert (stored.used_at, stored.failed_attempts) == (None, 0)
    assert TOTPDevice.objects.get(user=customer).last_used_step is None
    assert not OutstandingToken.objects.filter(user=customer).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(("password", value) for value in NOT_A_GOOD_STRING),
        *(("code", value) for value in NOT_A_CODE),
        *(("recovery_code", value) for value in NOT_A_CODE),
    ],
)
def test_bad_input_to_turn_off_is_400_naming_the_field_and_keeps_two_factor_on(
    customer, customer_client, two_factor, clock, field, value
):
    body = {"password": DEFAULT_PASSWORD, "code": code(two_factor, clock)} | {field: value}
    if field == "recovery_code":
        del body["code"]

    response = disable(customer_client, **body)

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert TOTPDevice.objects.get(user=customer).last_used_step is None


def test_a_body_that_is_not_an_object_is_400(customer, customer_client, two_factor):
    response = customer_client.delete(TOTP_URL, ["x"], format="json")

    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=customer).exists()


# --- Users and the admin ---------------------------------------------------------------------


def test_the_user_list_shows_mfa_enabled_without_a_query_a_row(
    staff_client, django_assert_num_queries
):
    for n in range(5):
        user = make_user(username=f"user-{n}")
        if n % 2:
            enable_totp(user)

    with django_assert_num_queries(2):  # count, page
        response = staff_client.get("/api/v1/users/", {"ordering": "username"})

    states = {user["username"]: user["mfa_enabled"] for user in response.json()["results"]}
    assert states == {
        "sam": False,
        "user-0": False,
        "user-1": True,
        "user-2": False,
        "user-3": True,
        "user-4": False,
    }


def test_the_admin_shows_two_factor_state_and_never_the_secret(admin_client, customer):
    secret = enable_totp(customer)
    RecoveryCode.objects.create(user=customer, code_hash="f" * 64)

    changelist = admin_client.get(USER_CHANGELIST_URL).content.decode()
    page = admin_client.get(f"{USER_CHANGELIST_URL}{customer.pk}/change/").content.decode()

    assert "column-two_factor" in changelist
    assert "Two-factor log-in" in page
    assert 'alt="True"' in page
    for shown in (changelist, page):
        assert secret not in shown
        assert "f" * 64 not in shown


def test_a_superuser_turns_two_factor_off_in_the_admin_and_the_sessions_end(
    admin_client, customer, clock
):
    secret = enable_totp(customer)
    clock.tick()
    tokens = finish(challenge_of(), code=code(secret, clock)).json()

    response = admin_client.post(
        USER_CHANGELIST_URL,
        {"action": "turn_two_factor_off", "_selected_action": [customer.pk]},
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=customer).exists()
    assert_session_ended(tokens)
    assert log_in().status_code == 200


def test_staff_who_are_not_superusers_cannot_turn_two_factor_off(customer):
    manager = make_staff(username="max")
    manager.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="users", codename__endswith="_user")
    )
    enable_totp(customer)
    client = Client()
    client.force_login(manager)

    changelist = client.get(USER_CHANGELIST_URL).content.decode()
    client.post(
        USER_CHANGELIST_URL,
        {"action": "turn_two_factor_off", "_selected_action": [customer.pk]},
    )

    assert "turn_two_factor_off" not in changelist
    assert TOTPDevice.objects.filter(user=customer).exists()
