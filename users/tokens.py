"""JWT tokens of API sessions: each carries its session's id (`sid`); refresh tokens are spent
once (rotation and logout, on simplejwt's blacklist), and a refused token says why."""

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

# The session a token belongs to (users.sessions); access tokens copy it from their refresh token.
SESSION_ID_CLAIM = "sid"
TOKEN_ALREADY_USED = "Token is blacklisted"
TOKEN_INVALID = "Token is invalid"
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


def session_ended() -> InvalidToken:
    return InvalidToken(SESSION_ENDED, code=SESSION_ENDED_CODE)


class SessionRefreshToken(RefreshToken):
    @classmethod
    def for_session(cls, user, session_id):
        token = cls.for_user(user)
        token[SESSION_ID_CLAIM] = str(session_id)  # copied into its access tokens
        return token


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
