"""The caller's sessions (API.md, "Sessions") and closing the account."""

from rest_framework import serializers

from backend.fields import StrictModelSerializer
from users import sessions
from users.models import Session
from users.serializers.accounts import password_field

WRONG_PASSWORD = "Your password is not correct."


class SessionSerializer(StrictModelSerializer):
    """One log-in of the caller: when it began and was last used, from which browser and
    address."""

    current = serializers.SerializerMethodField(
        help_text="Whether this is the session the request came with."
    )

    class Meta:
        model = Session
        fields = ["id", "created_at", "last_used_at", "user_agent", "ip", "current"]
        read_only_fields = fields

    def get_current(self, session) -> bool:
        return session.pk == sessions.current_id(self.context["request"])


class AccountDeletionSerializer(serializers.Serializer):
    password = password_field(help_text="Your password: closing the account cannot be undone.")

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(WRONG_PASSWORD, code="wrong_password")
        return value
