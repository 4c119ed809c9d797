"""Email verification (API.md, "Accounts a SPA can rely on"): the emailed link, what opening
it does, pending address changes, and the log-in rule of ACCOUNT_EMAIL_VERIFICATION.

Modes: `mandatory` sends links and refuses a token to an unverified account; `optional` sends
links only; `none` sends nothing and applies address changes at once."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework import exceptions

from users import mail, services
from users.models import User

logger = logging.getLogger(__name__)

EMAIL_NOT_VERIFIED = "Verify your email address first: open the link we sent you."
EMAIL_NOT_VERIFIED_CODE = "email_not_verified"

VERIFY_SUBJECT = "Verify your email address"
VERIFY_BODY = """Please confirm that {email} is the email address of the account {username}.

Open this link. It works once, and only for a few days:

{link}

If it was not you, ignore this message: nothing changes.
"""


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens (signed, expiring after PASSWORD_RESET_TIMEOUT) over the account's
    address state: opening a link changes that state, so a link works once, and a newer change
    of address makes the older links stop working."""

    key_salt = "users.verification.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        state = (user.pk, user.email, user.pending_email, int(user.email_verified), timestamp)
        return ":".join(str(part) for part in state)


token_generator = EmailVerificationTokenGenerator()


class EmailNotVerified(exceptions.PermissionDenied):
    default_detail = EMAIL_NOT_VERIFIED
    default_code = EMAIL_NOT_VERIFIED_CODE


class InvalidLink(Exception):
    """A bad, used or expired link, or one for no active account: all alike to the caller."""


class AddressTaken(Exception):
    """The pending address became another account's before its link was opened."""


def is_on() -> bool:
    return settings.ACCOUNT_EMAIL_VERIFICATION != "none"


def may_log_in(user: User) -> bool:
    """With `mandatory`, an unverified account may not log in, whatever the page."""
    return user.email_verified or settings.ACCOUNT_EMAIL_VERIFICATION != "mandatory"


def check_may_log_in(user: User) -> None:
    """With `mandatory`, a correct password of an unverified account gets no tokens (403)."""
    if not may_log_in(user):
        raise EmailNotVerified()


def send_link(*, user: User) -> None:
    """Mail the link to the address waiting for it: the pending one, else the account's own."""
    address = user.pending_email or user.email
    link = settings.EMAIL_VERIFICATION_URL.format(
        uid=urlsafe_base64_encode(force_bytes(user.pk)), token=token_generator.make_token(user)
    )
    body = VERIFY_BODY.format(email=address, username=user.username, link=link)
    mail.send(subject=VERIFY_SUBJECT, body=body, to=[address])
    logger.info("Verification link for user %s recorded; it leaves on commit", user.pk)


def registered(*, user: User) -> None:
    """A new account is sent its link, unless verification is off."""
    if is_on():
        send_link(user=user)


def resend(*, email: str) -> None:
    """Mail the link again to the active account with this address, if it has one waiting:
    its address is unverified, or a change of address is pending. The caller answers the same
    either way."""
    user = User.objects.with_email(email).filter(is_active=True).first()
    if user is None or not is_on() or (user.email_verified and not user.pending_email):
        return
    send_link(user=user)


@transaction.atomic
def change_email(*, user: User, email: str) -> None:
    """The owner's own change of address: the old one stays in force and the new one waits for
    its link (its owner's proof); the old address hears of it. Back to the current address (in
    any letter case), the pending one is dropped; the pending one again changes nothing (the
    resend endpoint mails its link again). With verification off, it applies at once."""
    if not is_on():
        set_email(user=user, email=email)
        return
    if email.lower() == user.email.lower():
        user.email, user.pending_email = email, ""
        user.save(update_fields=["email", "pending_email"])
        return
    if email.lower() == user.pending_email.lower():
        return
    user.pending_email = email
    user.save(update_fields=["pending_email"])
    send_link(user=user)
    services.notify_email_change(user=user, old_email=user.email, new_email=email, pending=True)


@transaction.atomic
def set_email(*, user: User, email: str) -> None:
    """A change of address that applies at once (staff changing someone's, or verification
    off): any pending change is dropped, whether the address was verified stays as it was (an
    address staff set is one they vouch for), and the old address hears of a real change."""
    old_email = user.email
    user.email, user.pending_email = email, ""
    user.save(update_fields=["email", "pending_email"])
    if email.lower() != old_email.lower():
        services.notify_email_change(user=user, old_email=old_email, new_email=email)


def verify(*, user: User | None, token: str) -> None:
    """The link was opened: the pending address becomes the account's, or the account's own is
    verified. The token is checked on the locked row, so a change of address made while the
    link was being opened can never be applied by it. InvalidLink for a bad, used or expired
    link (or no such account); AddressTaken when another account took the pending address."""
    if user is None:
        raise InvalidLink()
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
            if user is None or not token_generator.check_token(user, token):
                raise InvalidLink()
            if user.pending_email:
                if User.objects.exclude(pk=user.pk).with_email(user.pending_email).exists():
                    raise AddressTaken()
                user.email, user.pending_email = user.pending_email, ""
            user.email_verified = True
            user.save(update_fields=["email", "pending_email", "email_verified"])
    except IntegrityError as exc:  # taken at the same moment: the constraint stopped it
        raise AddressTaken() from exc
