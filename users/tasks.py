"""Celery jobs of the users app (backend/celery.py runs them; users.mail enqueues them)."""

from backend.celery import app
from users import mail

# A mail server that is down is tried again after about 1, 2, 4, 8, 16, then 30 s (jittered),
# twelve times in all (a few minutes); then the sweep (users.mail.SWEEP_AFTER) takes the row
# up again every minute, so a long outage costs no email and starts no second chain of tries.
RETRY_BACKOFF_MAX = 30
MAX_RETRIES = 12


@app.task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def deliver_email(pk: int) -> None:
    mail.deliver(pk)


@app.task
def sweep_outbox() -> int:
    return mail.sweep()
