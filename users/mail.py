"""Email through a transactional outbox (API.md, "Email leaves through the task queue").

`send` records the email in the caller's transaction: a rollback leaves none, a commit keeps it
whatever happens next. After commit it is handed to the Celery broker (CELERY_BROKER_URL), or,
with no broker, delivered in-process. `deliver` sends one row at most once; `sweep` hands on
again the rows nobody has tried for a minute (a broker that was down at commit, a worker that
gave up), from Celery beat or `manage.py send_outbox`."""

from datetime import timedelta
from functools import partial

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.background import hand_on
from users.models import OutboxEmail

# Longer than the longest pause between two tries of one job (users.tasks.RETRY_BACKOFF_MAX),
# so the sweep leaves alone the rows a worker is still retrying.
SWEEP_AFTER = timedelta(minutes=1)


def send(*, subject: str, body: str, to: list[str]) -> OutboxEmail:
    """Record an email with the caller's change; it leaves once that change is committed."""
    email = OutboxEmail.objects.create(subject=subject, body=body, recipients=list(to))
    transaction.on_commit(partial(dispatch, email.pk))
    return email


def dispatch(pk: int) -> None:
    """Hand a recorded email to the broker, or deliver it here when there is none. One not
    sent stays in the outbox, for the sweep."""
    hand_on(pk, task="users.tasks.deliver_email", run_here=deliver, what="Email")


def deliver(pk: int) -> None:
    """Send one recorded email, unless it is sent already or another worker holds it.

    The row stays locked while the mail server is talked to, so a retry and a sweep never both
    send it; only a worker dying between the server's acceptance and the commit below can lead
    to a second copy. A failure is recorded on the row, then raised for the caller to retry."""
    with transaction.atomic():
        email = (
            OutboxEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, sent_at__isnull=True)
            .first()
        )
        if email is None:
            return
        failure = _attempt(email)
    if failure is not None:
        raise failure


def _attempt(email: OutboxEmail) -> Exception | None:
    email.attempts += 1
    email.last_attempt_at = timezone.now()
    try:
        EmailMessage(email.subject, email.body, None, email.recipients).send()
    except Exception as error:
        email.last_error = f"{type(error).__name__}: {error}"[:2000]
        email.save(update_fields=["attempts", "last_attempt_at", "last_error"])
        return error
    email.sent_at = timezone.now()
    email.save(update_fields=["attempts", "last_attempt_at", "sent_at"])
    return None


def sweep() -> int:
    """Hand on again every unsent email nobody has tried for a minute; returns how many."""
    cutoff = timezone.now() - SWEEP_AFTER
    due = OutboxEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff).filter(
        Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=cutoff)
    )
    pks = list(due.values_list("pk", flat=True))
    for pk in pks:
        dispatch(pk)
    return len(pks)
