"""Two-factor log-in (API.md, "Accounts a SPA can rely on"): an authenticator app (TOTP),
single-use recovery codes, and the log-in challenge that a correct password earns a two-factor
user in place of tokens.

Every "once" here is a conditional UPDATE whose row count says who won: a TOTP time step is
accepted only above the last one used, a recovery code only while unused, a challenge only while
unused, unexpired and not worn out by wrong codes. Racing requests with one code or challenge
therefore get exactly one success, on every database."""

import hashlib
import secrets
from datetime import timedelta

import pyotp
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from pyotp.utils import strings_equal
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed

from backend.exceptions import Conflict
from users import sessions
from users.models import LoginChallenge, RecoveryCode, TOTPDevice, User

CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5  # wrong codes a challenge survives; the fifth ends it
RECOVERY_CODE_COUNT = 10
DRIFT_STEPS = 1  # a code of the step before or after the current one still counts

ALREADY_ON = "Two-factor log-in is already on. Turn it off first to enrol another app."
NOT_ENROLLING = "No enrolment to confirm: start one with POST /api/v1/users/me/mfa/totp/."
NOT_ON = "Two-factor log-in is not on."
WRONG_CODE = "This code is not correct, or it was already used. Wait for the next one."
WRONG_RECOVERY_CODE = "This recovery code is not correct, or it was already used."
CHALLENGE_REFUSED = (
    "This log-in challenge is invalid, expired, already used or ended by too many wrong codes. "
    "Log in with your password again."
)
SECOND_FACTOR_NEEDED = "Enter the code from your authenticator app, or a recovery code."
MFA_REQUIRED = "Two-factor log-in is on: finish it with a code at /api/v1/auth/token/mfa/."
MFA_REQUIRED_CODE = "mfa_required"


class SecondFactorRequired(AuthenticationFailed):
    """The 401 of a correct password when a second factor must follow. Its `challenge` goes to
    the client beside `detail` and `code` (backend.exceptions keeps `extra_fields`)."""

    status_code = 401
    default_detail = MFA_REQUIRED
    default_code = MFA_REQUIRED_CODE

    def __init__(self, challenge: str):
        super().__init__()
        self.extra_fields = {"challenge": challenge}


def is_enabled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def otpauth_url(device: TOTPDevice) -> str:
    """What the app scans (as a QR code) or is given by hand, named after the account."""
    return pyotp.TOTP(device.secret).provisioning_uri(
        name=device.user.username, issuer_name=settings.TOTP_ISSUER
    )


# --- Enrolment -------------------------------------------------------------------------------


def start_enrolment(*, user: User) -> TOTPDevice:
    """A new secret, unconfirmed: two-factor stays off until `confirm`. A second call before
    confirming replaces the secret (the app scanned first is then useless); once on, 409."""
    secret = pyotp.random_base32()
    device, created = TOTPDevice.objects.get_or_create(user=user, defaults={"secret": secret})
    if created:
        return device
    pending = TOTPDevice.objects.filter(pk=device.pk, confirmed_at__isnull=True)
    if not pending.update(secret=secret, last_used_step=None):
        raise Conflict(ALREADY_ON)
    device.secret, device.last_used_step = secret, None
    return device


@transaction.atomic
def confirm(*, user: User, code: str, keep_session=None) -> list[str]:
    """A code from the app proves it holds the secret: two-factor is on, the recovery codes are
    new (returned once, in clear), and every session but the caller's ends."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is None:
        raise Conflict(NOT_ENROLLING)
    if device.confirmed_at is not None:
        raise Conflict(ALREADY_ON)
    if not accept_totp(device, code):
        raise serializers.ValidationError({"code": [WRONG_CODE]})
    # The secret checked is the one confirmed, even if an enrolment call replaced it meanwhile.
    unconfirmed = TOTPDevice.objects.filter(
        pk=device.pk, secret=device.secret, confirmed_at__isnull=True
    )
    if not unconfirmed.update(confirmed_at=timezone.now()):
        raise Conflict(NOT_ENROLLING)
    codes = _replace_recovery_codes(user)
    sessions.end_everywhere(user, keep=keep_session, reason="mfa")
    return codes


@transaction.atomic
def disable(*, user: User, keep_session=None) -> None:
    """Two-factor off: the app, the recovery codes and pending log-in challenges are gone, and
    every session but `keep_session` ends (the caller's, or none when staff turn it off)."""
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    LoginChallenge.objects.filter(user=user).delete()
    sessions.end_everywhere(user, keep=keep_session, reason="mfa")


# --- Codes -----------------------------------------------------------------------------------


def accept_totp(device: TOTPDevice, code: str) -> bool:
    """Whether `code` is the app's for the current time step (or one step either side, for
    clock drift) and newer than the last accepted one; the step is then recorded, so the code
    cannot be used twice, even by requests racing with it."""
    totp = pyotp.TOTP(device.secret)
    now = totp.timecode(timezone.now())
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if strings_equal(code, totp.generate_otp(step)):
            unused = Q(last_used_step__isnull=True) | Q(last_used_step__lt=step)
            return TOTPDevice.objects.filter(unused, pk=device.pk).update(last_used_step=step) == 1
    return False


def use_recovery_code(user: User, code: str) -> bool:
    """Whether `code` is one of the user's unused recovery codes; it is then used up."""
    unused = RecoveryCode.objects.filter(
        user=user, code_hash=_recovery_code_hash(code), used_at__isnull=True
    )
    return unused.update(used_at=timezone.now()) == 1


def second_factor_error(user: User, *, code=None, recovery_code=None) -> dict | None:
    """None when the code (or the recovery code) is good and now spent; else the field errors."""
    if code is not None:
        device = TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
        return None if device and accept_totp(device, code) else {"code": [WRONG_CODE]}
    if use_recovery_code(user, recovery_code):
        return None
    return {"recovery_code": [WRONG_RECOVERY_CODE]}


def _replace_recovery_codes(user: User) -> list[str]:
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_code_hash(code)) for code in codes
    )
    return codes


def _new_recovery_code() -> str:
    """40 random bits, as `abcde-12345`."""
    digits = secrets.token_hex(5)
    return f"{digits[:5]}-{digits[5:]}"


def _recovery_code_hash(code: str) -> str:
    """A keyed SHA-256 of the code (any case, hyphen or not). Not Django's password hashers:
    they are slow on purpose to protect guessable passwords, and a check would run one slow hash
    per stored code (ten); 40 random bits need no slowing, and the key (SECRET_KEY) keeps a
    leaked table from being searched offline."""
    normalized = code.replace("-", "").lower()
    return salted_hmac("users.mfa.recovery_code", normalized, algorithm="sha256").hexdigest()


# --- Log-in challenge ------------------------------------------------------------------------


def require_second_factor(user: User) -> None:
    """After a correct password: a two-factor user gets a challenge (401) instead of tokens."""
    if is_enabled(user):
        raise SecondFactorRequired(issue_challenge(user))


def issue_challenge(user: User) -> str:
    """A fresh challenge for the client; only its SHA-256 is stored (it is 256 random bits, so
    a plain hash is enough). The user's stale ones are cleared on the way."""
    now = timezone.now()
    LoginChallenge.objects.filter(user=user, expires_at__lte=now).delete()
    key = secrets.token_urlsafe(32)
    LoginChallenge.objects.create(
        key_hash=_challenge_hash(key), user=user, expires_at=now + CHALLENGE_LIFETIME
    )
    return key


def finish_log_in(*, challenge: str, code=None, recovery_code=None) -> User:
    """The user whose challenge this is, if it is live and the code right: the challenge is
    then used up. A wrong code counts against the challenge; the fifth ends it.

    The challenge is claimed first, inside the transaction that checks the code: a request
    racing with the same challenge waits on its row and then finds it used, so neither it nor
    a code is spent twice. A wrong code gives the claim back, one failure more."""
    now = timezone.now()
    live = LoginChallenge.objects.filter(
        key_hash=_challenge_hash(challenge),
        used_at__isnull=True,
        expires_at__gt=now,
        failed_attempts__lt=CHALLENGE_MAX_FAILURES,
    )
    with transaction.atomic():
        if not live.update(used_at=now):
            raise serializers.ValidationError({"challenge": [CHALLENGE_REFUSED]})
        login = LoginChallenge.objects.select_related("user").get(pk=_challenge_hash(challenge))
        if not login.user.is_active:
            raise serializers.ValidationError({"challenge": [CHALLENGE_REFUSED]})
        errors = second_factor_error(login.user, code=code, recovery_code=recovery_code)
        if errors:
            LoginChallenge.objects.filter(pk=login.pk).update(
                used_at=None, failed_attempts=F("failed_attempts") + 1
            )
    if errors:
        raise serializers.ValidationError(errors)
    return login.user


def _challenge_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
