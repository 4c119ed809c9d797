"""Writes that span models: passwords and accounts together with the refresh tokens they end."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users import mail
from users.models import User

logger = logging.getLogger(__name__)

RESET_SUBJECT = "Reset your password"
RESET_BODY = """Someone asked to reset the password of the account {username}.

To choose a new password, open this link. It works once, and only until the account logs in
or its password changes:

{link}

If it was not you, ignore this message: your password stays as it is.
"""
EMAIL_CHANGED_SUBJECT = "The email address of your account changed"
EMAIL_CHANGED_BODY = """The email address of the account {username} was changed from this address
to {new_email}. Messages about the account, password reset links included, now go there.

If it was not you, reply to this message or contact us at once: someone may have taken over
your account.
"""
EMAIL_CHANGE_PENDING_SUBJECT = "A new email address was given for your account"
EMAIL_CHANGE_PENDING_BODY = """Someone asked to change the email address of the account {username}
from this address to {new_email}. This address stays in force until a link we sent to the new
one is opened.

If it was not you, change your password and reply to this message or contact us at once:
someone may be taking over your account.
"""


def blacklist_refresh_tokens(*, user: User, keep_jti: str | None = None) -> int:
    """End the user's logins: every unexpired refresh token is blacklisted (but `keep_jti`).

    Access tokens already issued live out their few minutes; a deactivated user's stop at once
    and for good (`end_all_sessions`)."""
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    if keep_jti:
        live = live.exclude(jti=keep_jti)
    revoked = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(revoked, ignore_conflicts=True)
    return len(revoked)


@transaction.atomic
def change_password(*, user: User, new_password: str, keep_jti: str | None = None) -> None:
    """The user's other sessions end; the one that made the change (`keep_jti`) goes on."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    blacklist_refresh_tokens(user=user, keep_jti=keep_jti)


@transaction.atomic
def reset_password(*, user: User, new_password: str) -> None:
    """A reset means the old password may have leaked: end every login it made."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    blacklist_refresh_tokens(user=user)


@transaction.atomic
def end_all_sessions(*, user: User) -> None:
    """Every login of the user ends for good: refresh tokens are blacklisted, and the session
    epoch rises, so access tokens and browser sessions from before are refused from the next
    request on, even after a reactivation (users.tokens.JWTAuthentication,
    User._get_session_auth_hash)."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    user.refresh_from_db(fields=["session_epoch"])
    blacklist_refresh_tokens(user=user)


@transaction.atomic
def set_active(*, user: User, is_active: bool) -> None:
    """Deactivation ends every login at once and for good; reactivation lets the user log in
    again, with new tokens only."""
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    if not is_active:
        end_all_sessions(user=user)


def notify_email_change(
    *, user: User, old_email: str, new_email: str, pending: bool = False
) -> None:
    """Tell the old address, once the change is stored (made, or `pending` its link): if the
    change is a takeover, the owner hears of it where the attacker cannot delete the message."""
    subject, text = (
        (EMAIL_CHANGE_PENDING_SUBJECT, EMAIL_CHANGE_PENDING_BODY)
        if pending
        else (EMAIL_CHANGED_SUBJECT, EMAIL_CHANGED_BODY)
    )
    body = text.format(username=user.username, new_email=new_email)
    mail.send(subject=subject, body=body, to=[old_email])
    logger.info("Email change notice for user %s recorded; it leaves on commit", user.pk)


def send_password_reset(*, email: str) -> None:
    """Mail a reset link to the active account with this email, if there is one.

    The caller answers the same whether or not there is, so the endpoint does not tell who has
    an account."""
    user = User.objects.with_email(email).filter(is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    link = settings.PASSWORD_RESET_URL.format(
        uid=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )
    body = RESET_BODY.format(username=user.username, link=link)
    mail.send(subject=RESET_SUBJECT, body=body, to=[user.email])
    logger.info("Password reset link for user %s recorded; it leaves on commit", user.pk)
