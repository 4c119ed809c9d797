"""JWT refresh tokens that revoke: one-use rotation, logout and revocation on the blacklist;
and tokens that die with the sessions of their user (deactivation), for good."""

from django.db import IntegrityError, transaction
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed,
    ExpiredTokenError,
    InvalidToken,
    TokenError,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

# Access tokens carry the jti of the refresh token they came from, so "revoke my other
# sessions" (a password change) can tell the caller's own session from the rest.
REFRESH_JTI_CLAIM = "rjti"
TOKEN_ALREADY_USED = "Token is blacklisted"
TOKEN_INVALID = "Token is invalid"
# Every token carries the user's session epoch when it was issued; deactivation raises the epoch,
# so tokens issued before it stay refused after a reactivation (their signature and lifetime
# alone would make them good again).
SESSION_EPOCH_CLAIM = "sep"
SESSION_ENDED = "This session has ended. Log in again."
# Error codes a client acts on (API.md, "Error codes"): refresh, or log in again.
TOKEN_EXPIRED = "token_expired"
TOKEN_NOT_VALID = "token_not_valid"
SESSION_ENDED_CODE = "session_ended"


def refused(exc: TokenError) -> InvalidToken:
    """The 401 for a token simplejwt refused: `token_expired` when its only fault is its age
    (signature and claims are checked first), so the SPA knows a refresh will do."""
    code = TOKEN_EXPIRED if isinstance(exc, ExpiredTokenError) else TOKEN_NOT_VALID
    return InvalidToken(exc.args[0], code=code)


class SessionRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[SESSION_EPOCH_CLAIM] = user.session_epoch  # copied into its access tokens
        return token

    @property
    def access_token(self):
        access = super().access_token
        access[REFRESH_JTI_CLAIM] = self[api_settings.JTI_CLAIM]
        return access


def read_refresh_token(raw: str) -> SessionRefreshToken:
    """A valid, unexpired, not blacklisted refresh token, or 401."""
    try:
        return SessionRefreshToken(raw)
    except TokenError as exc:
        raise refused(exc) from exc


def spend_refresh_token(token: SessionRefreshToken) -> None:
    """Blacklist the token, or 401 if it already is.

    The unique row in BlacklistedToken is the lock: when several requests race with the same
    token, exactly one insert succeeds, so a refresh token works once. (simplejwt checks the
    blacklist and then inserts with get_or_create, which lets racing requests all pass.)"""
    outstanding = OutstandingToken.objects.filter(jti=token[api_settings.JTI_CLAIM]).first()
    if outstanding is None:  # every token this API issues is recorded when it is made
        raise InvalidToken(TOKEN_INVALID)
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as exc:
        raise InvalidToken(TOKEN_ALREADY_USED) from exc


def is_current(token, user) -> bool:
    """Whether the token was issued in the user's current session epoch (tokens issued before
    epochs existed carry none: epoch 0)."""
    return token.get(SESSION_EPOCH_CLAIM, 0) == user.session_epoch


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's bearer authentication, saying why a token is refused (`token_expired`,
    `token_not_valid`, `session_ended`) and refusing tokens from an ended session epoch. The
    epoch is on the user row it loads anyway: no extra query."""

    def get_validated_token(self, raw_token):
        """Only access tokens authenticate (simplejwt's AUTH_TOKEN_CLASSES default)."""
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise refused(exc) from exc

    def get_user(self, validated_token):
        """A deactivated or deleted account's sessions have ended, as has an old epoch's."""
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:  # simplejwt's: the code sits beside the detail
            if exc.detail.get("code") in ("user_inactive", "user_not_found"):
                raise AuthenticationFailed(SESSION_ENDED, code=SESSION_ENDED_CODE) from exc
            raise
        if not is_current(validated_token, user):
            raise AuthenticationFailed(SESSION_ENDED, code=SESSION_ENDED_CODE)
        return user
