"""Users as the API shows and changes them (API.md, "Users")."""

from collections.abc import Mapping

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from backend.fields import StrictCharField, StrictModelSerializer
from users import services, verification
from users.models import EMAIL_TAKEN, USERNAME_TAKEN, User, UsernameValidator, normalize_username

PASSWORD_MAX_LENGTH = 128
WRONG_CURRENT_PASSWORD = "Your current password is not correct."
CURRENT_PASSWORD_NEEDED = "Enter your current password to change your username or email."
CANNOT_DEACTIVATE_SELF = "You cannot deactivate your own account."

USER_FIELDS = [
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "is_staff",
    "is_active",
    "date_joined",
    "email_verified",
    "pending_email",
    "mfa_enabled",
]
READ_ONLY_FIELDS = ["id", "is_staff", "is_active", "date_joined", "email_verified", "pending_email"]


def password_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        write_only=True,
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        style={"input_type": "password"},
        **kwargs,
    )


def check_password_strength(password: str, user: User) -> None:
    """Django's validators, with the user's own attributes, so a password like the username or
    the email is refused."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from exc


class UserSerializer(StrictModelSerializer):
    """The representation of a user everywhere in the API; never a password or its hash.

    A username is kept in its NFKC form, and uniqueness of username and email ignores case.
    Changing one's own username or email needs `current_password`. A new email waits as
    `pending_email` until its link is opened (users.verification); the old address is told."""

    # NFKC (`normalize_username`) before the clash check, so a look-alike is a field error, not
    # a failed insert. The password guards against a stolen access token: a new address, then a
    # password reset, would otherwise take the account over.

    current_password = password_field(
        required=False,
        help_text="Your password: needed to change your own username or email.",
    )
    # A plain string: empty when no change is pending, so not described as an email address.
    pending_email = serializers.CharField(
        read_only=True,
        help_text="A new email waiting for its link to be opened (the email stays in force "
        "until then); empty when none is.",
    )
    mfa_enabled = serializers.BooleanField(
        read_only=True, help_text="Whether log-in needs a code from an authenticator app."
    )

    class Meta:
        model = User
        fields = [*USER_FIELDS, "current_password"]
        read_only_fields = READ_ONLY_FIELDS
        extra_kwargs = {"username": {"validators": [UsernameValidator()]}}

    def validate_username(self, value: str) -> str:
        value = normalize_username(value)
        if self._others().with_username(value).exists():
            raise serializers.ValidationError(USERNAME_TAKEN, code="unique")
        return value

    def validate_email(self, value: str) -> str:
        value = User.objects.normalize_email(value)
        if self._others().with_email(value).exists():
            raise serializers.ValidationError(EMAIL_TAKEN, code="unique")
        return value

    def validate(self, attrs):
        password = attrs.pop("current_password", None)
        if self._changes_own_login(attrs):
            if password is None:
                raise serializers.ValidationError(
                    {"current_password": [CURRENT_PASSWORD_NEEDED]}, code="required"
                )
            if not self.instance.check_password(password):
                raise serializers.ValidationError(
                    {"current_password": [WRONG_CURRENT_PASSWORD]}, code="wrong_password"
                )
        return attrs

    @transaction.atomic
    def update(self, instance, validated_data):
        """The email, its link and the notice to the old address are recorded in the change's
        own transaction."""
        email = validated_data.pop("email", None)
        instance = super().update(instance, validated_data)
        if email is not None:
            self.change_email(instance, email)
        return instance

    def change_email(self, user: User, email: str) -> None:
        verification.change_email(user=user, email=email)

    def _changes_own_login(self, attrs) -> bool:
        """A new username or email for the caller's own account; a change of letter case only
        is not one (log-in and password reset ignore case)."""
        request = self.context.get("request")
        if self.instance is None or request is None or self.instance.pk != request.user.pk:
            return False
        return any(
            name in attrs and attrs[name].lower() != getattr(self.instance, name).lower()
            for name in ("username", "email")
        )

    def _others(self):
        users = User.objects.all()
        return users.exclude(pk=self.instance.pk) if self.instance else users


class StaffUserSerializer(UserSerializer):
    """What staff may change on someone's account: the profile and `is_active`."""

    class Meta(UserSerializer.Meta):
        read_only_fields = ["id", "is_staff", "date_joined", "email_verified", "pending_email"]

    def validate_is_active(self, value: bool) -> bool:
        if not value and self.instance == self.context["request"].user:
            raise serializers.ValidationError(CANNOT_DEACTIVATE_SELF, code="self_deactivation")
        return value

    def change_email(self, user: User, email: str) -> None:
        """Staff set someone's address at once (they vouch for it); their own waits for its
        link like anyone's."""
        if user.pk == self.context["request"].user.pk:
            super().change_email(user, email)
        else:
            verification.set_email(user=user, email=email)

    def update(self, instance, validated_data):
        is_active = validated_data.pop("is_active", None)
        instance = super().update(instance, validated_data)
        if is_active is not None and is_active != instance.is_active:
            services.set_active(user=instance, is_active=is_active)
        return instance


class RegistrationSerializer(UserSerializer):
    """A new account. The password must pass Django's validators, which also compare it with
    the username, email and names."""

    password = password_field()
    current_password = None  # a new account has none

    class Meta(UserSerializer.Meta):
        fields = [*USER_FIELDS, "password"]

    def _others(self):
        """A released account (never verified, left too long) holds neither name: the new one
        takes them, and `create` deletes it."""
        return User.objects.holding_names()

    def to_internal_value(self, data):
        """Every field's problems in one answer: when another field is wrong, the password is
        still checked, against the attributes as sent, rather than in a second round."""
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(data, Mapping) and "password" not in exc.detail:
                # The password field passed: it was sent, as a string.
                problems = self._password_problems(data["password"], data)
                if problems:
                    exc.detail["password"] = problems
            raise
        problems = self._password_problems(attrs["password"], attrs)
        if problems:
            raise serializers.ValidationError({"password": problems})
        return attrs

    def _password_problems(self, password: str, attributes) -> list:
        candidate = User(
            **{
                name: attributes[name]
                for name in ("username", "email", "first_name", "last_name")
                if isinstance(attributes.get(name), str)
            }
        )
        try:
            check_password_strength(password, candidate)
        except serializers.ValidationError as exc:
            return exc.detail
        return []

    @transaction.atomic
    def create(self, validated_data):
        """In one transaction with the new account: the released accounts whose username or
        email it takes are deleted, and its verification link is recorded."""
        released = User.objects.released()
        released.with_username(validated_data["username"]).delete()
        released.with_email(validated_data["email"]).delete()
        user = User.objects.create_user(**validated_data)
        verification.registered(user=user)
        return user


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field()

    def validate_current_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(WRONG_CURRENT_PASSWORD, code="wrong_password")
        return value

    def validate_new_password(self, value: str) -> str:
        check_password_strength(value, self.context["request"].user)
        return value
