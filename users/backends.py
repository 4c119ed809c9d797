"""Authentication by username or email (API.md: POST /auth/token/ and the log-in pages)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    """ModelBackend that also takes an email, ignoring case.

    Wrong password, unknown user and inactive user cost the same password hash and give the
    same answer (None), so neither timing nor message tells an attacker which it was."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        login = username if username is not None else kwargs.get(user_model.USERNAME_FIELD)
        if login is None or password is None:
            return None
        user = user_model._default_manager.with_login(login).first()
        if user is None:
            user_model().set_password(password)  # the hash a real check would have cost
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
