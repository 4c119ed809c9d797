"""Writes that span models: passwords and accounts together with the sessions they end."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from backend.exceptions import Conflict
from users import mail, sessions
from users.models import User

logger = logging.getLogger(__name__)

LAST_SUPERUSER = (
    "You are the last active superuser: make another account a superuser before closing this one."
)
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


@transaction.atomic
def change_password(*, user: User, new_password: str, keep_session=None) -> None:
    """The user's other sessions end; the one that made the change (`keep_session`) goes on."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    sessions.end_all(user, keep=keep_session, reason="password changed")


@transaction.atomic
def reset_password(*, user: User, new_password: str) -> None:
    """A reset means the old password may have leaked: end every session it made."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    sessions.end_all(user, reason="password reset")


@transaction.atomic
def set_active(*, user: User, is_active: bool) -> None:
    """Deactivation ends every log-in at once and for good; reactivation lets the user log in
    again, with new tokens only."""
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    if not is_active:
        sessions.end_everywhere(user, reason="deactivated")


@transaction.atomic
def delete_account(*, user: User) -> None:
    """Close the account: its sessions end everywhere, then it is gone. The last active
    superuser stays (409): nobody could manage the site after. The superusers' rows are locked
    first, so two of the last two closing at once cannot both go."""
    if user.is_superuser and user.is_active:
        superusers = User.objects.select_for_update().filter(is_superuser=True, is_active=True)
        if set(superusers.values_list("pk", flat=True)) <= {user.pk}:
            raise Conflict(LAST_SUPERUSER)
    sessions.end_everywhere(user, reason="account deleted")
    user.delete()
    logger.info("User %s closed their account", user.pk)


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
