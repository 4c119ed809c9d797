"""JWT refresh tokens that revoke: one-use rotation, logout and revocation on the blacklist."""

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

# Access tokens carry the jti of the refresh token they came from, so "revoke my other
# sessions" (a password change) can tell the caller's own session from the rest.
REFRESH_JTI_CLAIM = "rjti"
TOKEN_ALREADY_USED = "Token is blacklisted"
TOKEN_INVALID = "Token is invalid"


class SessionRefreshToken(RefreshToken):
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
        raise InvalidToken(exc.args[0]) from exc


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
