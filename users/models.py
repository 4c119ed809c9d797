"""The user model: Django's, with a required email and case-insensitive uniqueness; its API
sessions and its second factor."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core import validators
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.deconstruct import deconstructible

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "A user with that email already exists."


@deconstructible
class UsernameValidator(validators.RegexValidator):
    """Letters, digits and `. + - _`; no `@`, so a username is never someone else's email."""

    regex = r"^[\w.+-]+\Z"
    message = "Enter a valid username: letters, digits and . + - _ only."


def normalize_username(username: str) -> str:
    """The one form a username is stored and looked up in: NFKC, as Django's forms and
    `create_user` make it, so a fullwidth `\\uff41lice` is `alice` (and clashes with it)."""
    return AbstractBaseUser.normalize_username(username)


class UserQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff see everyone; anyone else sees only themselves (so another id is a 404)."""
        if user.is_staff:
            return self
        if user.is_authenticated:
            return self.filter(pk=user.pk)
        return self.none()

    def with_username(self, username: str):
        """Case-insensitive match of the NFKC form every stored username has, lowered on both
        sides by the database so the query uses the `Lower(username)` unique index."""
        username = normalize_username(username)
        return self.alias(username_lower=Lower("username")).filter(
            username_lower=Lower(models.Value(username))
        )

    def with_email(self, email: str):
        return self.alias(email_lower=Lower("email")).filter(email_lower=Lower(models.Value(email)))

    def for_api(self):
        """With each user's authenticator app, which `mfa_enabled` reads."""
        return self.select_related("totp")

    def with_login(self, login: str):
        """The account a log-in name means: an email when it has `@`, else a username."""
        return self.with_email(login) if "@" in login else self.with_username(login)

    def released(self):
        """Accounts that no longer hold their username or email (API.md, "Email verification"):
        never verified, joined more than ACCOUNT_UNVERIFIED_DAYS ago, neither staff nor
        superuser. None with verification off: no link was sent that could have been opened."""
        if settings.ACCOUNT_EMAIL_VERIFICATION == "none":
            return self.none()
        return self.filter(_released())

    def holding_names(self):
        """Accounts whose username and email nobody else may take: all but the released."""
        if settings.ACCOUNT_EMAIL_VERIFICATION == "none":
            return self
        return self.exclude(_released())


def _released() -> models.Q:
    joined_before = timezone.now() - timedelta(days=settings.ACCOUNT_UNVERIFIED_DAYS)
    return models.Q(
        email_verified=False, date_joined__lt=joined_before, is_staff=False, is_superuser=False
    )


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        """createsuperuser and fixtures look users up here: ignore case, as the constraint does."""
        return self.with_username(username).get()

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """An operator typing a superuser's address vouches for it: such an account may log in
        when verification is mandatory, and is never released."""
        extra_fields.setdefault("email_verified", True)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        validators=[UsernameValidator()],
        help_text="Required. 150 characters or fewer: letters, digits and . + - _ only.",
        error_messages={"unique": USERNAME_TAKEN},
    )
    email = models.EmailField("email address", max_length=254)
    email_verified = models.BooleanField(
        default=False, help_text="Whether the owner has opened a link sent to this address."
    )
    pending_email = models.EmailField(
        max_length=254,
        blank=True,
        help_text="A new address waiting for its link to be opened; the old one stays in force.",
    )
    session_epoch = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised when every session of the user ends (deactivation): tokens and "
        "log-ins from an earlier epoch are refused for good.",
    )

    REQUIRED_FIELDS = ["email"]

    objects = UserManager()

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_ci_unique",
                violation_error_message=USERNAME_TAKEN,
            ),
            models.UniqueConstraint(
                Lower("email"), name="user_email_ci_unique", violation_error_message=EMAIL_TAKEN
            ),
        ]
        indexes = [models.Index(fields=["date_joined"], name="user_date_joined_idx")]

    def __str__(self):
        return self.username

    @property
    def mfa_enabled(self) -> bool:
        """Whether log-in needs a code from an authenticator app (a confirmed TOTPDevice).
        Lists load the device with the user (`UserQuerySet.for_api`): no query a row."""
        try:
            return self.totp.confirmed_at is not None
        except TOTPDevice.DoesNotExist:
            return False

    def _get_session_auth_hash(self, secret=None):
        """Django's session check, which ends sessions when the password changes, made to end
        them when the epoch rises too: a reactivated user's old browser sessions stay logged
        out. Epoch 0 keeps Django's own hash, so sessions made before this existed live on."""
        if not self.session_epoch:
            return super()._get_session_auth_hash(secret=secret)
        return salted_hmac(
            "users.User.get_session_auth_hash",
            f"{self.password}:{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class OutboxEmail(models.Model):
    """An email recorded in the transaction of the change that causes it, and sent after commit
    (users.mail): a rollback leaves no email, a mail server that is down loses none."""

    recipients = models.JSONField(help_text="The addresses it goes to, a list.")
    subject = models.CharField(max_length=255)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty until the mail server has accepted it."
    )
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "outbox email"
        verbose_name_plural = "outbox emails"
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep's scan: only the few unsent rows are in it.
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_unsent_idx",
            )
        ]

    def __str__(self):
        return f"{self.subject} → {', '.join(self.recipients)}"


class SessionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(ended_at__isnull=True)


class Session(models.Model):
    """One log-in: the refresh token it began with, every one rotated from it, and their access
    tokens all carry its id (users.tokens), so ending it refuses them all from the next
    request on (users.sessions)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(
        max_length=32, blank=True, help_text="Why it ended: logout, revoked, password, …"
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        verbose_name = "session"
        verbose_name_plural = "sessions"
        ordering = ["-last_used_at", "id"]
        indexes = [
            # The session list and "end every session": only live rows are in it.
            models.Index(
                fields=["user", "-last_used_at"],
                condition=models.Q(ended_at__isnull=True),
                name="session_live_by_user_idx",
            )
        ]

    def __str__(self):
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class TOTPDevice(models.Model):
    """A user's authenticator app. Enrolment stores the secret unconfirmed; two-factor is on
    once a code from the app has confirmed it."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(
        null=True, blank=True, help_text="The last time step a code was accepted for (no reuse)."
    )

    class Meta:
        verbose_name = "authenticator app"
        verbose_name_plural = "authenticator apps"

    def __str__(self):
        return f"{self.user}: {'on' if self.confirmed_at else 'enrolling'}"


class RecoveryCode(models.Model):
    """A single-use code that stands in for the authenticator app; only its hash is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")
        ]

    def __str__(self):
        return f"{self.user}: recovery code{' (used)' if self.used_at else ''}"


class LoginChallenge(models.Model):
    """The half-finished log-in of a two-factor user: a correct password made it, a code
    finishes it, once, within minutes. Only the hash of the challenge string is kept."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self):
        return f"{self.user}: log-in challenge until {self.expires_at:%H:%M:%S}"
