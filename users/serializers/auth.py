"""Log-in, tokens and password reset (API.md, "Authentication")."""

from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import UntypedToken

from backend.fields import StrictCharField
from users import backoff, mfa, sessions, verification
from users.models import Session, User
from users.serializers.accounts import check_password_strength, password_field
from users.serializers.tokens import TokenPairSerializer
from users.tokens import (
    SESSION_ID_CLAIM,
    SessionRefreshToken,
    read_refresh_token,
    refused,
    session_ended,
    spend_refresh_token,
)

INVALID_RESET_LINK = "This password reset link is invalid or has expired."
TOKEN_BLACKLISTED = "Token is blacklisted"
MAX_ID = 2**63  # a bigger id would overflow the database's integer, not just miss


class TokenObtainSerializer(jwt_serializers.TokenObtainSerializer):
    """Credentials: a username or an email address, and the password."""

    token_class = SessionRefreshToken

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.username_field].help_text = "Username or email address."
        # Checked as it was set (password_field keeps spaces too); simplejwt's field trims it.
        self.fields["password"].trim_whitespace = False

    def validate(self, attrs):
        with backoff.guard(attrs[self.username_field]):  # 429 while the name is locked
            super().validate(attrs)  # authenticates: self.user, or 401
        verification.check_may_log_in(self.user)  # mandatory verification: 403
        mfa.require_second_factor(self.user)  # two-factor users: 401 with a challenge
        return sessions.log_in(self.user, self.context["request"])


class TokenRefreshSerializer(serializers.Serializer):
    """Rotation: the refresh token is spent and a new pair issued, in one transaction."""

    refresh = StrictCharField(write_only=True)

    def validate(self, attrs):
        old = read_refresh_token(attrs["refresh"])
        user = sessions.user_of(old)
        with transaction.atomic():
            spend_refresh_token(old)
            if not sessions.renew(old.get(SESSION_ID_CLAIM)):
                raise session_ended()
            new = SessionRefreshToken.for_session(user, old[SESSION_ID_CLAIM])
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
        sessions.user_of(token)
        return {}


class LogoutSerializer(serializers.Serializer):
    refresh = StrictCharField(write_only=True)

    def validate(self, attrs):
        token = read_refresh_token(attrs["refresh"])
        spend_refresh_token(token)
        sessions.end(Session.objects.filter(pk=token.get(SESSION_ID_CLAIM)), reason="logout")
        return attrs


class AddressField(StrictCharField):
    """An email address asked about where the answer is the same whatever it is (reset,
    resend): any string up to an address's length, and one that is nobody's, malformed ones
    included, gets the usual 202. Django's EmailValidator refuses some addresses that the
    schema's `format: email` admits (`a@b.c`), which would make a valid request a 400.

    Its length is checked as sent, as the schema states it; the whitespace around an address
    (a pasted one often has some) is dropped only to look it up. DRF would drop it first, and
    refuse as blank what is nothing but whitespace (`" "`, `"\\x1d"`), which the schema admits:
    that is nobody's address, looked up as sent."""

    def __init__(self):
        super().__init__(
            max_length=User._meta.get_field("email").max_length,
            trim_whitespace=False,
            help_text="The account's email address.",
        )

    def run_validation(self, data=empty):
        address = super().run_validation(data)
        return address.strip() or address


class PasswordResetRequestSerializer(serializers.Serializer):
    email = AddressField()


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
        user = user_of_uid(uid)
        if user is None or not default_token_generator.check_token(user, token):
            raise serializers.ValidationError({"token": [INVALID_RESET_LINK]})
        return user


def user_of_uid(uid: str) -> User | None:
    """The active account an emailed link's `uid` names, or None for any uid that names none."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first() if 0 < pk < MAX_ID else None
