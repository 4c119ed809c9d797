"""The session log-in pages (/admin/login/, /api-auth/login/) with the second factor that
POST /auth/token/ asks for (API.md, "Two-factor log-in"): a browser session works on the whole
API, so a password alone must not open one for a two-factor user."""

import re

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from users import mfa, verification
from users.models import User
from users.serializers.mfa import CODE_PATTERN, RECOVERY_CODE_PATTERN

CODE_LABEL = "Authenticator code or recovery code"
CODE_HELP = "Only if your account has two-factor log-in on."
NOT_A_CODE = (
    "Enter the 6 digits your authenticator app shows, or a recovery code such as abcde-12345."
)


class LoginForm(AuthenticationForm):
    """Django's log-in form, plus the code a two-factor user must give with the password.

    The code is looked at only once the password is right and the account may log in: to
    anyone without the password the page answers as before, so it never tells whether the
    account has two-factor on, and a wrong password spends no code."""

    code = forms.CharField(
        label=CODE_LABEL,
        help_text=CODE_HELP,
        required=False,
        max_length=11,  # abcde-12345
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "autocorrect": "off"}
        ),
    )

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not verification.may_log_in(user):
            raise ValidationError(verification.EMAIL_NOT_VERIFIED, code="email_not_verified")
        if mfa.is_enabled(user):
            check_second_factor(user, self.cleaned_data.get("code", ""))


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's log-in form (staff only), with the same second factor."""


def check_second_factor(user: User, value: str) -> None:
    """A current code from the app or an unused recovery code, spent by users.mfa exactly as
    /auth/token/mfa/ spends it (once; a code no newer than the last one used is refused)."""
    if not value:
        raise ValidationError(mfa.SECOND_FACTOR_NEEDED, code="mfa_required")
    errors = mfa.second_factor_error(user, **_as_second_factor(value))
    if errors:
        ((message, *_),) = errors.values()  # {"code": [WRONG_CODE]} or its recovery twin
        raise ValidationError(message, code="wrong_code")


def _as_second_factor(value: str) -> dict:
    """`code` or `recovery_code`, by its shape; apps show the six digits as `123 456`."""
    value = "".join(value.split())
    if re.fullmatch(CODE_PATTERN, value):
        return {"code": value}
    if re.fullmatch(RECOVERY_CODE_PATTERN, value):
        return {"recovery_code": value}
    raise ValidationError(NOT_A_CODE, code="wrong_code")
