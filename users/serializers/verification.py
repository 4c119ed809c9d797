"""Opening an email verification link, and asking for it again (API.md, "Accounts a SPA can
rely on")."""

from rest_framework import serializers

from backend.fields import StrictCharField
from users import verification
from users.serializers.auth import AddressField, user_of_uid

INVALID_VERIFICATION_LINK = "This email verification link is invalid, used or expired."
PENDING_ADDRESS_TAKEN = (
    "Another account uses this email address now: it cannot become yours. "
    "Your address is unchanged."
)


class VerifyEmailSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64, help_text="`uid` from the emailed link.")
    token = StrictCharField(max_length=128, help_text="`token` from the emailed link.")

    def save(self, **kwargs):
        """A bad uid and a bad, used or expired token get the same answer: the link does not
        say who exists."""
        try:
            verification.verify(
                user=user_of_uid(self.validated_data["uid"]), token=self.validated_data["token"]
            )
        except verification.InvalidLink as exc:
            raise serializers.ValidationError({"token": [INVALID_VERIFICATION_LINK]}) from exc
        except verification.AddressTaken as exc:
            raise serializers.ValidationError(
                {"non_field_errors": [PENDING_ADDRESS_TAKEN]}
            ) from exc


class ResendVerificationSerializer(serializers.Serializer):
    email = AddressField()
