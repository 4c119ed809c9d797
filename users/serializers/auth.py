"""Log-in, tokens and password reset (API.md, "Authentication")."""

from django.contrib.auth.models import update_last_login
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from backend.fields import StrictCharField, StrictEmailField
from users import backoff
from users.models import User
from users.serializers.accounts import check_password_strength, password_field
from users.tokens import (
    SESSION_ENDED,
    SESSION_ENDED_CODE,
    SessionRefreshToken,
    is_current,
    read_refresh_token,
    refused,
    spend_refresh_token,
)

INVALID_RESET_LINK = "This password reset link is invalid or has expired."
USER_INACTIVE = "User is inactive or no longer exists."
TOKEN_BLACKLISTED = "Token is blacklisted"
MAX_ID = 2**63  # a bigger id would overflow the database's integer, not just miss


class TokenPairSerializer(serializers.Serializer):
    """What a successful log-in or refresh answers: the tokens, and when each expires (so a
    client can refresh ahead of time instead of waiting for a `token_expired`)."""

    access = serializers.CharField(read_only=True, help_text="Bearer token for API calls.")
    refresh = serializers.CharField(read_only=True, help_text="Use once, to get a new pair.")
    access_expires_at = serializers.DateTimeField(
        read_only=True, help_text="When the access token stops being accepted."
    )
    refresh_expires_at = serializers.DateTimeField(
        read_only=True, help_text="When the refresh token stops being accepted."
    )

    @classmethod
    def of(cls, refresh: SessionRefreshToken) -> dict:
        access = refresh.access_token
        return cls(
            {
                "access": str(access),
                "refresh": str(refresh),
                "access_expires_at": datetime_from_epoch(access["exp"]),
                "refresh_expires_at": datetime_from_epoch(refresh["exp"]),
            }
        ).data


class TokenObtainSerializer(jwt_serializers.TokenObtainSerializer):
    """Credentials: a username or an email address, and the password."""

    token_class = SessionRefreshToken

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.username_field].help_text = "Username or email address."

    def validate(self, attrs):
        with backoff.guard(attrs[self.username_field]):  # 429 while the name is locked
            super().validate(attrs)  # authenticates: self.user, or 401
        if api_settings.UPDATE_LAST_LOGIN:
            update_last_login(None, self.user)
        return TokenPairSerializer.of(self.get_token(self.user))


class TokenRefreshSerializer(serializers.Serializer):
    """Rotation: the refresh token is spent and a new pair issued, in one transaction."""

    refresh = StrictCharField(write_only=True)

    def validate(self, attrs):
        old = read_refresh_token(attrs["refresh"])
        user = active_user_of(old)
        with transaction.atomic():
            spend_refresh_token(old)
            new = SessionRefreshToken.for_user(user)
        return TokenPairSerializer.of(new)


class TokenVerifySerializer(serializers.Serializer):
    """Valid means: signed by us, unexpired, not blacklisted, and its user still active."""

    token = StrictCharField(write_only=True)

    def validate(self, attrs):
        try:
            token = UntypedToken(attrs["token"])
        except TokenError as exc:
            raise refused(exc) from exc
        if BlacklistedToken.objects.filter(token__jti=token.get(api_settings.JTI_CLAIM)).exists():
            raise InvalidToken(TOKEN_BLACKLISTED)
        active_user_of(token)
        return {}


class LogoutSerializer(serializers.Serializer):
    refresh = StrictCharField(write_only=True)

    def validate(self, attrs):
        spend_refresh_token(read_refresh_token(attrs["refresh"]))
        return attrs


def active_user_of(token) -> User:
    """The token's user, or 401 when it is gone or deactivated, or the token's session ended."""
    user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise InvalidToken(USER_INACTIVE, code=SESSION_ENDED_CODE)
    if not is_current(token, user):
        raise InvalidToken(SESSION_ENDED, code=SESSION_ENDED_CODE)
    return user


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField()


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)
    new_password = password_field()

    def validate(self, attrs):
        user = self._user_from_link(attrs["uid"], attrs["token"])
        try:
            check_password_strength(attrs["new_password"], user)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"new_password": exc.detail}) from exc
        return attrs | {"user": user}

    @staticmethod
    def _user_from_link(uid: str, token: str) -> User:
        """A bad uid and a bad token get the same answer: the link does not say who exists."""
        try:
            pk = int(force_str(urlsafe_base64_decode(uid)))
        except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
            pk = 0
        in_range = 0 < pk < MAX_ID
        user = User.objects.filter(pk=pk, is_active=True).first() if in_range else None
        if user is None or not default_token_generator.check_token(user, token):
            raise serializers.ValidationError({"token": [INVALID_RESET_LINK]})
        return user
