"""`@idempotent`: a POST handler that answers a repeated `Idempotency-Key` with its first answer
(API.md, "Idempotency"). A view opts in with one line, on the handler of the method or action:

    create = idempotent(viewsets.ModelViewSet.create)

or `@idempotent` on an action. Without the header the handler runs as usual.

With it, the key is reserved first, by inserting its row (unique per caller and key) in a
transaction of its own, committed before the work starts: of any number of racing copies, on
any number of app instances, one inserts it and does the work; the others see the row and are
answered 409 (still being processed), 422 (another body) or the stored answer. The work and its
answer are then committed together, so a crash leaves either both or neither. An answer below
500 is stored and replayed (a refused request is refused the same way again, as Stripe does); a
5xx is rolled back and releases the key, so a retry runs afresh.

The database, not Redis, holds the keys: a Redis flush or failover would forget the reservations
and the answers while the writes they guard stay, and the next retry would write again.
"""

import re
import secrets
import time
from datetime import UTC, datetime
from functools import wraps

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpResponse, QueryDict
from django.utils.crypto import salted_hmac
from rest_framework import exceptions

from backend.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from backend.idempotency.models import LEASE, IdempotencyRecord
from backend.throttling import client_address

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# 1-255 printable ASCII characters. Spaces around it are not part of it: HTTP drops them.
KEY = re.compile(r"[ -~]{1,255}")
BAD_KEY = "Send 1 to 255 printable ASCII characters."
SALT = "idempotency.fingerprint"


class _Failed(Exception):
    """A 5xx answer: leaving the transaction with it rolls its work back."""

    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def idempotent(handler):
    @wraps(handler)
    def respond(view, request, *args, **kwargs):
        sent = request.headers.get(HEADER)
        if sent is None:
            return handler(view, request, *args, **kwargs)
        record = claim(
            caller=caller_of(request),
            key=valid_key(sent),
            fingerprint=fingerprint(request),
            now=datetime.fromtimestamp(time.time(), tz=UTC),
        )
        if record.status is not None:
            return replay(record)
        return answer_once(record, lambda: _rendered(view, handler, request, *args, **kwargs))

    respond.idempotent = True  # the schema documents the header (backend/schema.py)
    return respond


def valid_key(sent: str) -> str:
    key = sent.strip(" \t")
    if not KEY.fullmatch(key):
        raise exceptions.ValidationError({HEADER: [BAD_KEY]})
    return key


def caller_of(request) -> str:
    """Keys are the caller's own: a user's wherever they call from; before there is a user
    (registering), the client address as the throttles read it, kept as a keyed hash."""
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    address = str(client_address(request))
    return "address:" + salted_hmac(SALT, address, algorithm="sha256").hexdigest()


def fingerprint(request) -> str:
    """A keyed hash of the method, the path and the parsed body: keyed, as a sign-up's body holds
    a password. Parsed rather than raw (a session's CSRF check may have read the raw body already,
    and each multipart upload has its own boundary): fields in any order, files by content.
    Walked without recursion: JSON may nest 1024 levels deep (backend/parsers.py)."""
    digest = salted_hmac(SALT, f"{request.method} {request.path}", algorithm="sha256")
    data = request.data
    pending = [dict(data.lists()) if isinstance(data, QueryDict) else data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            digest.update(b"{%d" % len(value))
            pending.extend(reversed([part for pair in sorted(value.items()) for part in pair]))
        elif isinstance(value, list):
            digest.update(b"[%d" % len(value))
            pending.extend(reversed(value))
        elif isinstance(value, UploadedFile):
            digest.update(f"file {value.name!r} {value.content_type!r}".encode())
            for chunk in value.chunks():
                digest.update(chunk)
            value.seek(0)
        else:
            digest.update(repr(value).encode() + b"\x00")
    return digest.hexdigest()


def claim(*, caller: str, key: str, fingerprint: str, now: datetime) -> IdempotencyRecord:
    """The key's row: this attempt's to process (inserted, or taken over once abandoned), or
    already answered. 422 if it was used for another request, 409 while another processes it."""
    IdempotencyRecord.objects.filter(caller=caller, key=key).expired(now).delete()
    attempt = IdempotencyRecord(
        caller=caller,
        key=key,
        fingerprint=fingerprint,
        created_at=now,
        owner=secrets.token_hex(16),
        locked_until=now + LEASE,
    )
    try:
        with transaction.atomic():
            attempt.save(force_insert=True)
        return attempt
    except IntegrityError:
        pass
    found = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
    if found is None:  # released (a 5xx) a moment ago: the retry runs afresh
        raise IdempotencyInProgress
    if found.fingerprint != fingerprint:
        raise IdempotencyKeyReused
    if found.status is not None:
        return found
    if found.locked_until > now or not _take_over(found, attempt.owner, now):
        raise IdempotencyInProgress
    return found


def _take_over(record: IdempotencyRecord, owner: str, now: datetime) -> bool:
    """An unanswered row past its lease: its work was never committed (it is committed with
    the answer), so another attempt may do it. Only one of several can."""
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, owner=record.owner, status__isnull=True
    ).update(owner=owner, locked_until=now + LEASE)
    if taken:
        record.owner = owner
    return bool(taken)


def answer_once(record: IdempotencyRecord, produce) -> HttpResponse:
    """The work, and its answer stored, in one transaction; a 5xx rolls back and releases."""
    try:
        with transaction.atomic():
            response = produce()
            if response.status_code >= 500:
                raise _Failed(response)
            if not _store(record, response):
                # This attempt outlived its lease and another took the key over: its work stands.
                raise IdempotencyInProgress
    except _Failed as failed:
        IdempotencyRecord.objects.filter(pk=record.pk, owner=record.owner).delete()
        return failed.response
    return response


def _store(record: IdempotencyRecord, response) -> bool:
    stored = IdempotencyRecord.objects.filter(pk=record.pk, owner=record.owner).update(
        status=response.status_code,
        content_type=response.get("Content-Type", ""),
        location=response.get("Location", ""),
        body=response.content,
    )
    return stored == 1


def _rendered(view, handler, request, *args, **kwargs):
    """The handler's answer as DRF's dispatch would send it (errors included), rendered, so
    its bytes can be stored."""
    try:
        response = handler(view, request, *args, **kwargs)
    except Exception as exc:
        response = view.handle_exception(exc)
    response = view.finalize_response(request, response, *args, **kwargs)
    return response.render() if hasattr(response, "render") else response


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status, content_type=record.content_type
    )
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response
