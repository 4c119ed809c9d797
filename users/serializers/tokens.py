"""The token response: log-in, refresh and the two-factor step answer with it."""

from rest_framework import serializers
from rest_framework_simplejwt.utils import datetime_from_epoch

from users.tokens import SessionRefreshToken


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
