"""Builders: each returns a valid, unique row; pass only what the test is about."""

import itertools

from users.models import User

DEFAULT_PASSWORD = "Corr3ct-horse-battery"

_sequence = itertools.count(1)


def make_user(*, password: str = DEFAULT_PASSWORD, **fields) -> User:
    n = next(_sequence)
    fields.setdefault("username", f"user{n}")
    fields.setdefault("email", f"{fields['username']}@example.com")
    return User.objects.create_user(password=password, **fields)


def make_staff(**fields) -> User:
    return make_user(is_staff=True, **fields)
