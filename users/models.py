"""The user model: Django's, with a required email and case-insensitive uniqueness."""

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core import validators
from django.db import models
from django.db.models.functions import Lower
from django.utils.deconstruct import deconstructible

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "A user with that email already exists."


@deconstructible
class UsernameValidator(validators.RegexValidator):
    """Letters, digits and `. + - _`; no `@`, so a username is never someone else's email."""

    regex = r"^[\w.+-]+\Z"
    message = "Enter a valid username: letters, digits and . + - _ only."


class UserQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff see everyone; anyone else sees only themselves (so another id is a 404)."""
        if user.is_staff:
            return self
        if user.is_authenticated:
            return self.filter(pk=user.pk)
        return self.none()

    def with_username(self, username: str):
        """Case-insensitive match, lowered on both sides by the database so the query uses the
        `Lower(username)` unique index."""
        return self.alias(username_lower=Lower("username")).filter(
            username_lower=Lower(models.Value(username))
        )

    def with_email(self, email: str):
        return self.alias(email_lower=Lower("email")).filter(email_lower=Lower(models.Value(email)))

    def with_login(self, login: str):
        """The account a log-in name means: an email when it has `@`, else a username."""
        return self.with_email(login) if "@" in login else self.with_username(login)


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        """createsuperuser and fixtures look users up here: ignore case, as the constraint does."""
        return self.with_username(username).get()


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
