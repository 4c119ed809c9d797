"""API sessions (API.md, "Sessions"): every log-in starts one, its refresh tokens and their access
tokens carry its id (`sid`), and ending it refuses them all from the next request on, on every
instance.

Whether a session is live is asked on every authenticated request, so the answer is kept in the
shared cache (settings.SESSION_STATE_IN_CACHE, on with Redis): one lookup while the cache is up,
the database only on a miss or while the cache is down. Without a shared cache each process's
memory could not learn that a session ended in another one, so the database answers.

Ending writes the database, then the cache (again after commit, for a reader that filled it from
the rows before the commit); a reader that missed fills the cache with `add`, which never
overwrites, so it cannot put "live" back over "ended"."""

import ipaddress
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import update_last_login
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.settings import api_settings

from users.models import Session, User
from users.serializers.tokens import TokenPairSerializer
from users.tokens import SESSION_ID_CLAIM, SessionRefreshToken, session_ended

logger = logging.getLogger(__name__)

LIVE, ENDED = "live", "ended"
# last_used_at is written at most this often per session from access-token requests (every
# refresh writes it anyway): a database write a minute, not one a request.
TOUCH_EVERY_SECONDS = 60
USER_AGENT_MAX_LENGTH = Session._meta.get_field("user_agent").max_length


def log_in(user: User, request) -> dict:
    """Start a session for a user who has proven who they are (the password, and the second
    factor when it is on); the token response for it."""
    if api_settings.UPDATE_LAST_LOGIN:
        update_last_login(None, user)
    session = Session.objects.create(
        user=user, user_agent=_user_agent(request), ip=_client_ip(request)
    )
    if settings.SESSION_STATE_IN_CACHE:
        transaction.on_commit(lambda: _remember_new(session.pk))
    return TokenPairSerializer.of(SessionRefreshToken.for_session(user, session.pk))


def user_of(token) -> User:
    """The token's user, with the authenticator app the profile shows, or 401 `session_ended`
    when the account is gone or deactivated or the token's session has ended."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = User.objects.for_api().filter(pk=user_id, is_active=True).first()
    if user is None or not is_live(token.get(SESSION_ID_CLAIM)):
        raise session_ended()
    return user


def current_id(request) -> uuid.UUID | None:
    """The caller's session, when they came with an access token (None for a browser log-in)."""
    token = getattr(request, "auth", None)
    return _as_uuid(token.get(SESSION_ID_CLAIM)) if token is not None else None


def is_live(session_id) -> bool:
    """The per-request check (users.authentication): the cache's answer, else the database's,
    which then goes in the cache."""
    session_id = _as_uuid(session_id)
    if session_id is None:
        return False
    if not settings.SESSION_STATE_IN_CACHE:
        return _is_live_in_database(session_id)
    keys = [_state_key(session_id), _touched_key(session_id)]
    try:
        found = cache.get_many(keys)
    except RedisError:
        logger.warning("Cache down: session %s checked in the database", session_id)
        return _is_live_in_database(session_id)
    state = found.get(keys[0])
    if state is None:
        state = LIVE if Session.objects.live().filter(pk=session_id).exists() else ENDED
        cache.add(keys[0], state, timeout=_lifetime())
    if state == LIVE and keys[1] not in found and cache.add(keys[1], 1, TOUCH_EVERY_SECONDS):
        Session.objects.filter(pk=session_id).update(last_used_at=timezone.now())
    return state == LIVE


def _is_live_in_database(session_id) -> bool:
    """One query, and a second when a minute has passed since last_used_at was written."""
    last_used_at = (
        Session.objects.live().filter(pk=session_id).values_list("last_used_at", flat=True).first()
    )
    if last_used_at is None:
        return False
    now = timezone.now()
    if now - last_used_at > timedelta(seconds=TOUCH_EVERY_SECONDS):
        Session.objects.filter(pk=session_id).update(last_used_at=now)
    return True


def renew(session_id) -> bool:
    """A refresh: the session is still live (asked of the database, as the refresh writes
    anyway), and it was just used."""
    session_id = _as_uuid(session_id)
    if session_id is None:
        return False
    return bool(Session.objects.live().filter(pk=session_id).update(last_used_at=timezone.now()))


def end(sessions, *, reason: str) -> int:
    """End these sessions at once: from the next request on, their tokens are refused."""
    ids = list(sessions.live().values_list("pk", flat=True))
    if not ids:
        return 0
    Session.objects.filter(pk__in=ids).update(ended_at=timezone.now(), ended_by=reason)
    if not settings.SESSION_STATE_IN_CACHE:
        return len(ids)
    _mark_ended(ids)  # before commit too: an error here rolls the ending back, never half-done
    transaction.on_commit(lambda: _mark_ended(ids, after_commit=True))
    return len(ids)


def end_all(user: User, *, keep=None, reason: str) -> int:
    """End every session of the user but `keep` (the caller's own, when it goes on)."""
    sessions = Session.objects.filter(user=user)
    if keep is not None:
        sessions = sessions.exclude(pk=keep)
    return end(sessions, reason=reason)


@transaction.atomic
def end_everywhere(user: User, *, keep=None, reason: str) -> None:
    """Every log-in of the user ends (but the API session `keep`), browser ones too: the
    session epoch rises, so the cookies of the admin and the browsable API from before are
    refused (User._get_session_auth_hash). A view answering a browser keeps that browser logged
    in with `update_session_auth_hash`."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    user.refresh_from_db(fields=["session_epoch"])
    end_all(user, keep=keep, reason=reason)


def keep_browser_logged_in(request) -> None:
    """After a change that ends the user's other log-ins (a password, two-factor), a browser
    that made it stays logged in, as Django's own password change view does."""
    if request.auth is None:
        update_session_auth_hash(request, request.user)


def _remember_new(session_id) -> None:
    """A session just made is live and was just used: its first requests need no query."""
    cache.set(_state_key(session_id), LIVE, timeout=_lifetime())
    cache.set(_touched_key(session_id), 1, timeout=TOUCH_EVERY_SECONDS)


def _mark_ended(ids, after_commit: bool = False) -> None:
    states = {_state_key(session_id): ENDED for session_id in ids}
    if not after_commit:
        cache.set_many(states, timeout=_lifetime())
        return
    try:
        cache.set_many(states, timeout=_lifetime())
    except RedisError:
        logger.exception("Cache down after ending sessions %s: the first write stands", ids)


def _state_key(session_id) -> str:
    return f"session:{session_id}"


def _touched_key(session_id) -> str:
    return f"session-touched:{session_id}"


def _lifetime() -> int:
    """A session's cache entry outlives every token that could ask for it."""
    return int(api_settings.REFRESH_TOKEN_LIFETIME.total_seconds())


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "").replace("\x00", "")[:USER_AGENT_MAX_LENGTH]


def _client_ip(request) -> str | None:
    """The client's address by DRF's rule (X-Forwarded-For through API_NUM_PROXIES)."""
    address = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
