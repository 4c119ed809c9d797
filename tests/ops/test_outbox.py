"""Email through the task queue with a real Celery worker (API.md, "Email leaves through the
task queue"): the mail server is down for a while, then back, and every email arrives once.

The worker and gunicorn share a Redis database of their own as the broker (the one below
REDIS_URL's, emptied before and after); the mail server is aiosmtpd writing to a Maildir. Each
process is stopped by its process group when the test ends (servers.Deployment)."""

import mailbox
import os
import shlex
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.ops.servers import PROJECT, PYTHON, call, free_port, wait_for

pytestmark = pytest.mark.ops

CELERY = str(Path(PYTHON).with_name("celery"))
EMAILS = 12
DOWN_SECONDS = 12  # the mail server is down this long after the first request
ARRIVAL_SECONDS = 90  # then every email is in within this (tries pause 30 s at most)
RESET_URL = "/api/v1/auth/password-reset/"
MAKE_USERS = """
from users.models import User
for n in range({count}):
    User.objects.create_user(f"outbox{{n}}", f"outbox{{n}}@example.com", "Outbox-pass-1")
"""


def start_logged(deployment, command: list[str], name: str) -> subprocess.Popen:
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"ops-{name}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=PROJECT, env=deployment.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deployment.processes.append(process)  # stopped with the instances, by process group
    return process


def readme_worker_command() -> list[str]:
    """The worker as README.md ("Running in production", item 8) starts it."""
    line = next(
        line.strip()
        for line in (PROJECT / "README.md").read_text().splitlines()
        if line.strip().startswith(".venv/bin/celery ")
    )
    return [CELERY, *shlex.split(line)[1:]]


def start_worker(deployment) -> None:
    start_logged(deployment, readme_worker_command(), f"celery-{os.getpid()}")


def start_mail_server(deployment, port: int, maildir: Path) -> None:
    start_logged(
        deployment,
        [PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        f"smtp-{port}",
    )  # fmt: skip


def outbox(database_url: str) -> list[tuple]:
    """(recipients, attempts, sent) of every row of the outbox."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        return connection.execute(
            "SELECT recipients, attempts, sent_at IS NOT NULL FROM users_outboxemail"
        ).fetchall()


def delivered(maildir: Path) -> Counter:
    if not (maildir / "new").is_dir():
        return Counter()
    return Counter(message["To"] for message in mailbox.Maildir(maildir).values())


def test_every_email_arrives_once_after_the_mail_server_was_down(broker_url, deployment, tmp_path):
    smtp_port, maildir = free_port(), tmp_path / "maildir"
    deployment.env |= {
        "CELERY_BROKER_URL": broker_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "API_THROTTLE_AUTH": "100000/min",
    }
    deployment.manage("shell", "--command", MAKE_USERS.format(count=EMAILS))
    base = deployment.start_instance()
    start_worker(deployment)
    expected = {f"outbox{n}@example.com" for n in range(EMAILS)}

    down_since = time.monotonic()
    answers = [call(base, "POST", RESET_URL, {"email": address}) for address in sorted(expected)]

    assert [answer.status for answer in answers] == [202] * EMAILS
    assert max(answer.seconds for answer in answers) < 5  # recorded and queued, not sent
    # The worker tries, fails and tries again while the server is down.
    wait_for(lambda: [row[1] >= 2 for row in outbox(deployment.database_url)] == [True] * EMAILS)
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_since)))
    rows = outbox(deployment.database_url)
    assert len(rows) == EMAILS
    assert not any(sent for _, _, sent in rows)
    assert delivered(maildir) == Counter()

    start_mail_server(deployment, smtp_port, maildir)
    wait_for(lambda: set(delivered(maildir)) == expected, timeout=ARRIVAL_SECONDS, every=0.5)
    wait_for(lambda: all(sent for _, _, sent in outbox(deployment.database_url)), timeout=10)
    time.sleep(2)  # room for a second copy, were there one to come

    assert delivered(maildir) == Counter(dict.fromkeys(expected, 1))
    assert sorted(row[0][0] for row in outbox(deployment.database_url)) == sorted(expected)
