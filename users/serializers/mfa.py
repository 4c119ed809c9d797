"""Two-factor log-in as the API shows and takes it (API.md, "Accounts a SPA can rely on")."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from backend.fields import StrictCharField
from users import mfa
from users.serializers.accounts import WRONG_CURRENT_PASSWORD, password_field

CODE_PATTERN = r"^[0-9]{6}\Z"
RECOVERY_CODE_PATTERN = r"^[0-9A-Fa-f]{5}-?[0-9A-Fa-f]{5}\Z"
CHALLENGE_MAX_LENGTH = 128
NOT_BOTH = "Send either code or recovery_code, not both."


def code_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        write_only=True,
        max_length=6,
        validators=[RegexValidator(CODE_PATTERN, "Enter the 6 digits your app shows.")],
        help_text="The 6-digit code the authenticator app shows now.",
        **kwargs,
    )


def recovery_code_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        write_only=True,
        max_length=11,
        validators=[
            RegexValidator(RECOVERY_CODE_PATTERN, "Enter a recovery code such as abcde-12345.")
        ],
        help_text="One of the recovery codes given when two-factor was turned on (`abcde-12345`, "
        "any case, the hyphen optional). Each works once.",
        **kwargs,
    )


class EnrolmentSerializer(serializers.Serializer):
    secret = serializers.CharField(
        read_only=True, help_text="The shared secret (base32), for typing into the app by hand."
    )
    otpauth_url = serializers.CharField(
        read_only=True, help_text="An `otpauth://totp/…` URI for the app: show it as a QR code."
    )

    def to_representation(self, device):
        return {"secret": device.secret, "otpauth_url": mfa.otpauth_url(device)}


class ConfirmSerializer(serializers.Serializer):
    code = code_field()


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="10 single-use codes that stand in for the app. Shown this once: only their "
        "hashes are kept.",
    )


class SecondFactorSerializer(serializers.Serializer):
    """A code from the app or a recovery code: exactly one."""

    code = code_field(required=False)
    recovery_code = recovery_code_field(required=False)

    def validate(self, attrs):
        if "code" in attrs and "recovery_code" in attrs:
            raise serializers.ValidationError({"non_field_errors": [NOT_BOTH]})
        if "code" not in attrs and "recovery_code" not in attrs:
            raise serializers.ValidationError({"code": [mfa.SECOND_FACTOR_NEEDED]})
        return attrs


class DisableSerializer(SecondFactorSerializer):
    """The password first: a wrong one spends no code."""

    password = password_field(help_text="Your password.")

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(WRONG_CURRENT_PASSWORD, code="wrong_password")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        errors = mfa.second_factor_error(
            self.context["request"].user,
            code=attrs.get("code"),
            recovery_code=attrs.get("recovery_code"),
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ChallengeAnswerSerializer(SecondFactorSerializer):
    challenge = StrictCharField(
        write_only=True,
        max_length=CHALLENGE_MAX_LENGTH,
        help_text="The `challenge` of the 401 `mfa_required` answer of /auth/token/.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        user = mfa.finish_log_in(
            challenge=attrs["challenge"],
            code=attrs.get("code"),
            recovery_code=attrs.get("recovery_code"),
        )
        return attrs | {"user": user}
