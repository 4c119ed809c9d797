"""The user table itself: uniqueness that ignores case, and what a username may hold."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import DEFAULT_PASSWORD, make_user
from users.models import User


@pytest.mark.parametrize("username", ["CAROL", "Carol", "carol"])
def test_database_refuses_a_username_that_differs_only_in_case(customer, username):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username=username, email="someone-else@example.com")

    assert User.objects.count() == 1


@pytest.mark.parametrize("email", ["CAROL@EXAMPLE.COM", "Carol@Example.com", "carol@example.com"])
def test_database_refuses_an_email_that_differs_only_in_case(customer, email):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="someone-else", email=email)

    assert User.objects.count() == 1


def test_database_refuses_a_case_variant_written_by_a_bulk_update(customer):
    other = make_user(username="dave", email="dave@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=other.pk).update(username="CaRoL")

    other.refresh_from_db()
    assert other.username == "dave"


def test_distinct_usernames_and_emails_are_both_stored(customer):
    make_user(username="carol2", email="carol2@example.com")

    assert User.objects.count() == 2


@pytest.mark.parametrize(
    "username",
    [
        "carol@example.com",
        "@carol",
        "carol smith",
        " carol",
        "carol ",
        "carol\n",
        "carol\t",
        "caro/l",
        "carol!",
        "",
        "x" * 151,
    ],
)
def test_username_validation_refuses_at_signs_spaces_and_other_characters(username):
    user = User(username=username, email="valid@example.com")
    user.set_password(DEFAULT_PASSWORD)

    with pytest.raises(ValidationError) as refused:
        user.full_clean()

    assert "username" in refused.value.message_dict


@pytest.mark.parametrize(
    "username", ["carol", "c", "carol.smith", "carol+test", "c-s_1", "x" * 150]
)
def test_username_validation_accepts_letters_digits_and_dot_plus_dash_underscore(username):
    user = User(username=username, email="valid@example.com")
    user.set_password(DEFAULT_PASSWORD)

    user.full_clean()


def test_full_clean_reports_a_case_variant_username_as_taken(customer):
    user = User(username="CAROL", email="valid@example.com")
    user.set_password(DEFAULT_PASSWORD)

    with pytest.raises(ValidationError) as refused:
        user.full_clean()

    assert "username" in str(refused.value).lower()


@pytest.mark.parametrize("lookup", ["CAROL", "Carol", "carol"])
def test_natural_key_lookup_ignores_case(customer, lookup):
    assert User.objects.get_by_natural_key(lookup) == customer


def test_natural_key_lookup_of_an_unknown_username_raises_does_not_exist(customer):
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key("nobody")


def test_email_is_required_by_model_validation():
    user = User(username="noemail", email="")
    user.set_password(DEFAULT_PASSWORD)

    with pytest.raises(ValidationError) as refused:
        user.full_clean()

    assert "email" in refused.value.message_dict
