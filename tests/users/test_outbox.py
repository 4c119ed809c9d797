"""Email through the outbox (API.md, "Email leaves through the task queue"): recorded with the
change that causes it, sent after commit, retried while the mail server is down, sent once.

These run with no broker (pyproject's CELERY_BROKER_URL=""): the in-process path, and the
Celery job run eagerly. tests/ops/test_outbox.py runs a real worker against Redis."""

import socket
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.db import transaction
from kombu.exceptions import OperationalError

from tests.factories import DEFAULT_PASSWORD
from users import mail, services
from users.models import OutboxEmail
from users.tasks import MAX_RETRIES, deliver_email

RESET_URL = "/api/v1/auth/password-reset/"
ME_URL = "/api/v1/users/me/"


class FlakyBackend(EmailBackend):
    """Django's test mailbox behind a mail server that refuses the next `failures` messages."""

    failures = 0

    def send_messages(self, messages):
        if FlakyBackend.failures:
            FlakyBackend.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return super().send_messages(messages)


@pytest.fixture
def mail_server_down(settings, mailoutbox):
    """Set `.failures` to how many messages the server refuses before it is back."""
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    yield FlakyBackend
    FlakyBackend.failures = 0


def request_reset(client, email="carol@example.com"):
    return client.post(RESET_URL, {"email": email}, format="json")


def age(email: OutboxEmail, minutes: int = 2) -> None:
    """As if the email had been recorded, and last tried, `minutes` ago."""
    earlier = email.created_at - timedelta(minutes=minutes)
    OutboxEmail.objects.filter(pk=email.pk).update(created_at=earlier, last_attempt_at=earlier)


def test_a_reset_request_records_its_email_and_sends_nothing_before_commit(
    api_client, customer, mailoutbox
):
    response = request_reset(api_client)

    assert response.status_code == 202
    email = OutboxEmail.objects.get()
    assert email.recipients == ["carol@example.com"]
    assert email.subject == services.RESET_SUBJECT
    assert "carol" in email.body
    assert (email.sent_at, email.attempts) == (None, 0)
    assert mailoutbox == []


def test_with_no_broker_the_email_leaves_in_process_after_commit(
    api_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = request_reset(api_client)

    assert response.status_code == 202
    assert [message.to for message in mailoutbox] == [["carol@example.com"]]
    assert mailoutbox[0].subject == services.RESET_SUBJECT
    email = OutboxEmail.objects.get()
    assert email.sent_at is not None
    assert email.attempts == 1


def test_the_email_change_notice_is_recorded_with_the_change(
    customer_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    body = {"email": "carol@new.example", "current_password": DEFAULT_PASSWORD}

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = customer_client.patch(ME_URL, body, format="json")

    assert response.status_code == 200
    assert len(callbacks) == 2  # the link to the new address, the notice to the old
    emails = OutboxEmail.objects.all()
    assert [email.recipients for email in emails] == [["carol@new.example"], ["carol@example.com"]]
    assert all(email.sent_at is not None for email in emails)
    assert [message.to for message in mailoutbox] == [["carol@new.example"], ["carol@example.com"]]


@transaction.atomic
def change_email_then_fail(user):
    user.email = "carol@new.example"
    user.save(update_fields=["email"])
    services.notify_email_change(
        user=user, old_email="carol@example.com", new_email="carol@new.example"
    )
    raise RuntimeError("the change fails after its email was recorded")


def test_a_rolled_back_change_leaves_no_email_and_sends_none(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        change_email_then_fail(customer)

    assert not OutboxEmail.objects.exists()
    assert mailoutbox == []


def test_a_mail_server_that_is_down_fails_no_request_and_loses_no_email(
    api_client, customer, mailoutbox, mail_server_down, django_capture_on_commit_callbacks
):
    mail_server_down.failures = 1

    with django_capture_on_commit_callbacks(execute=True):
        response = request_reset(api_client)

    assert response.status_code == 202
    email = OutboxEmail.objects.get()
    assert (email.sent_at, email.attempts) == (None, 1)
    assert "Connection refused" in email.last_error
    assert mailoutbox == []

    age(email)
    call_command("send_outbox", stdout=None)
    call_command("send_outbox", stdout=None)

    assert [message.to for message in mailoutbox] == [["carol@example.com"]]
    email.refresh_from_db()
    assert email.sent_at is not None
    assert email.attempts == 2


def test_the_queued_job_retries_while_the_server_is_down_then_sends_once(
    customer, mailoutbox, mail_server_down
):
    email = mail.send(subject="Hello", body="Body", to=["carol@example.com"])
    mail_server_down.failures = 3

    deliver_email.apply(args=[email.pk])  # eagerly: each retry runs at once

    assert [message.to for message in mailoutbox] == [["carol@example.com"]]
    email.refresh_from_db()
    assert email.sent_at is not None
    assert email.attempts == 4
    assert "Connection refused" in email.last_error


def test_the_queued_job_gives_up_after_its_retries_and_leaves_the_email_to_the_sweep(
    customer, mailoutbox, mail_server_down
):
    email = mail.send(subject="Hello", body="Body", to=["carol@example.com"])
    mail_server_down.failures = MAX_RETRIES + 1

    result = deliver_email.apply(args=[email.pk])

    assert isinstance(result.result, ConnectionRefusedError)
    email.refresh_from_db()
    assert (email.sent_at, email.attempts) == (None, MAX_RETRIES + 1)
    assert mailoutbox == []
    age(email)
    assert mail.sweep() == 1
    assert len(mailoutbox) == 1


def test_a_mail_server_that_hangs_fails_the_attempt_within_the_timeout(customer, settings):
    """A server that accepts the connection and never says a word: the attempt fails after
    EMAIL_TIMEOUT (recorded, to be retried) instead of holding the worker forever."""
    assert django_settings.EMAIL_TIMEOUT == 10  # the configured bound; shortened below
    with socket.create_server(("127.0.0.1", 0)) as silent:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = silent.getsockname()
        settings.EMAIL_TIMEOUT = 1
        email = mail.send(subject="Hello", body="Body", to=["carol@example.com"])
        started = time.monotonic()

        with pytest.raises(OSError, match="timed out"):  # smtplib's, or the socket's
            mail.deliver(email.pk)

    assert time.monotonic() - started < 5
    email.refresh_from_db()
    assert (email.sent_at, email.attempts) == (None, 1)
    assert "timed out" in email.last_error


def test_a_sent_email_is_never_sent_again(customer, mailoutbox):
    email = mail.send(subject="Hello", body="Body", to=["carol@example.com"])

    mail.deliver(email.pk)
    mail.deliver(email.pk)
    deliver_email.apply(args=[email.pk])
    age(email)
    mail.sweep()

    assert len(mailoutbox) == 1
    email.refresh_from_db()
    assert email.attempts == 1


def test_the_sweep_takes_only_unsent_emails_nobody_tried_for_a_minute(customer, mailoutbox):
    fresh, tried_lately, sent, stale = (
        mail.send(subject=name, body="Body", to=[f"{name}@example.com"])
        for name in ("fresh", "tried-lately", "sent", "stale")
    )
    for email in (tried_lately, sent, stale):
        age(email)
    OutboxEmail.objects.filter(pk=tried_lately.pk).update(last_attempt_at=fresh.created_at)
    mail.deliver(sent.pk)
    mailoutbox.clear()

    assert mail.sweep() == 1

    assert [message.to for message in mailoutbox] == [["stale@example.com"]]


def test_a_broker_that_is_down_at_commit_fails_no_request_and_loses_no_email(
    api_client, customer, mailoutbox, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The job is lost, not the email: the sweep hands the row on once the broker is back."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    enqueued = []

    def broker_down(pk):
        enqueued.append(pk)
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(deliver_email, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        response = request_reset(api_client)

    assert response.status_code == 202
    email = OutboxEmail.objects.get()
    assert enqueued == [email.pk]
    assert (email.sent_at, mailoutbox) == (None, [])

    monkeypatch.setattr(deliver_email, "delay", lambda pk: deliver_email.apply(args=[pk]))
    age(email)
    assert mail.sweep() == 1

    assert [message.to for message in mailoutbox] == [["carol@example.com"]]
