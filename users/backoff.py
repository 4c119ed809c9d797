"""Failed log-ins back off per account (API.md, "Accounts a SPA can rely on"), besides the
per-address throttle, so that guesses spread over many addresses gain nothing.

Per submitted name (a username or an email, NFKC and lower case, whether or not such an
account exists): after failure number n >= 5 the name is locked for min(2^(n-5), 900) seconds;
attempts during the lock are refused (429 with Retry-After) and not counted; the count is
forgotten 15 minutes after the last failure, and at once after a success.

Exact across processes and instances: an attempt is let through and counted as a failure in
one atomic step (a Lua script in Redis, a lock on the local-memory cache), and a success then
forgets the count. Counting before the password is checked means a burst sent the moment a lock
ends gets one attempt through, not one per request in flight. The cache keeps a keyed hash of
the name, never the name.

Callers: `guard(name)` around the password check (the token endpoint), `check`/`succeeded` for
a check that is not one block, `login_posts` for the session log-in pages.
"""

import hashlib
import threading
import time
from contextlib import contextmanager
from functools import wraps

from django.core.cache import cache
from django.utils.crypto import salted_hmac
from rest_framework.exceptions import Throttled

from backend.throttling import run_script, too_many_attempts, uses_redis
from users.models import normalize_username

FREE_FAILURES = 5
MAX_LOCK = 900  # seconds
FORGET_AFTER = 900  # seconds after the last failure


def attempt(name: str) -> float:
    """0 if an attempt for `name` may go ahead now (it is counted as a failure until
    `succeeded`), else the seconds until one may (not counted)."""
    now_ms = int(time.time() * 1000)
    key = _key(name)
    if uses_redis():
        limits = (FREE_FAILURES, MAX_LOCK * 1000, FORGET_AFTER * 1000)
        wait_ms = run_script(_ATTEMPT_SCRIPT, _ATTEMPT_SHA, key, now_ms, *limits)
    else:
        wait_ms = _attempt_locally(key, now_ms)
    return wait_ms / 1000


def check(name: str) -> None:
    """`attempt`, for an API view: 429 with Retry-After while `name` is locked."""
    wait = attempt(name)
    if wait:
        raise Throttled(wait)


def succeeded(name: str) -> None:
    """The password was right: forget the failures."""
    cache.delete(_key(name))


@contextmanager
def guard(name: str):
    """Check a password for `name` in this block: 429 before it while the name is locked; a
    block that raises (wrong credentials) stays counted as a failure, one that ends forgets
    them."""
    check(name)
    yield
    succeeded(name)


def login_posts(login_view):
    """A session log-in page (Django's LoginView, the admin's) backs off per name too, with the
    same count as the token endpoint. The page redirects only after a log-in."""

    @wraps(login_view)
    def view(request, *args, **kwargs):
        name = request.POST.get("username") if request.method == "POST" else None
        if not name:
            return login_view(request, *args, **kwargs)
        wait = attempt(name)
        if wait:
            return too_many_attempts(wait)
        response = login_view(request, *args, **kwargs)
        if response.status_code == 302:
            succeeded(name)
        return response

    return view


def _key(name: str) -> str:
    """The name as it is looked up (NFKC, any case), hashed with the secret key."""
    normal = normalize_username(name).lower()
    return f"backoff:{salted_hmac('users.backoff', normal, algorithm='sha256').hexdigest()}"


# HMGET, decide, HSET: atomic in Redis. Milliseconds as integers, formatted as such (Lua's
# numbers are doubles); `last` is the last counted attempt, so the count is forgotten by the
# caller's clock, the key's expiry only collects it.
_ATTEMPT_SCRIPT = """
local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_lock, forget = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'failures', 'until', 'last')
local failures = tonumber(state[1]) or 0
local locked_until, last = tonumber(state[2]) or 0, tonumber(state[3]) or 0
if now - last >= forget then failures, locked_until = 0, 0 end
if locked_until > now then return locked_until - now end
failures = failures + 1
local lock = 0
if failures >= free then lock = math.min(2 ^ (failures - free) * 1000, max_lock) end
redis.call('HSET', KEYS[1], 'failures', failures, 'until', string.format('%d', now + lock),
  'last', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], forget)
return 0
"""
_ATTEMPT_SHA = hashlib.sha1(_ATTEMPT_SCRIPT.encode()).hexdigest()
_local_lock = threading.Lock()


def _attempt_locally(key: str, now_ms: int) -> int:
    """The script's steps on the local-memory cache (one process: a lock makes them atomic)."""
    with _local_lock:
        failures, locked_until, last = cache.get(key, (0, 0, 0))
        if now_ms - last >= FORGET_AFTER * 1000:
            failures, locked_until = 0, 0
        if locked_until > now_ms:
            return locked_until - now_ms
        failures += 1
        lock = 0
        if failures >= FREE_FAILURES:
            lock = min(2 ** (failures - FREE_FAILURES) * 1000, MAX_LOCK * 1000)
        cache.set(key, (failures, now_ms + lock, now_ms), timeout=FORGET_AFTER)
        return 0
