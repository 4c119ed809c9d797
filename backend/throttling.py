"""Throttles in the shared cache, one round trip a request.

The anonymous and per-user throttles, called on every API request, count per fixed window: one
atomic increment. DRF's own throttles keep every request's timestamp in a list that is read and
written back whole on each request: at a few thousand requests a minute that is tens of
kilobytes a request, and two processes racing each lose the other's hits. The price of a window
counter is that a client can spend a full allowance at the end of one window and another at the
start of the next: generous limits can afford that.

Password guessing cannot (API.md, Throttling): everything that checks a password spends one
sliding budget per address, so no 60 seconds ever see more than the limit. Each allowed attempt
is kept as a timestamp in a sorted set (at most `limit` of them), trimmed, counted and added to
by one Lua script: atomic across processes, one round trip.

Each counted request also learns where its caller stands (the limit, what is left, when the
window moves on) from that same round trip, and leaves it on the request for the RateLimit
headers (`backend.ratelimit`): no second look at the cache.
"""

import hashlib
import math
import secrets
import threading
import time
from functools import wraps
from typing import NamedTuple

from django.core.cache import cache, caches
from django.http import HttpResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from backend.cache import RedisCache
from backend.ratelimit import Quota, report

# Every way to check a password spends this one budget per address: the token endpoint, the
# password change, the session log-in pages (and account deletion, two-factor off, when added).
PASSWORD_BUCKET = "password"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/min' -> (10, 60): N/sec, N/min, N/hour or N/day, as DRF reads them."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def run_script(script: str, sha: str, key: str, *args):
    """Run a Lua script on the cache's Redis (backend.cache.RedisCache.run_script)."""
    return caches["default"].run_script(script, sha, key, *args)


def uses_redis() -> bool:
    return isinstance(caches["default"], RedisCache)


def count_hit(key: str, period: int) -> int:
    """Add one to this window's counter and return it; the counter expires with the window."""
    if uses_redis():
        return run_script(_HIT_SCRIPT, _HIT_SHA, key, period + 1)
    if cache.add(key, 1, timeout=period):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls: this hit starts a new count
        cache.set(key, 1, timeout=period)
        return 1


# INCR, and set the expiry when the count starts: one atomic command, one round trip. (Django's
# incr() asks first whether the key exists.)
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_HIT_SHA = hashlib.sha1(_HIT_SCRIPT.encode()).hexdigest()


def client_address(request) -> str | None:
    """Who an anonymous caller is: DRF's rule (X-Forwarded-For through NUM_PROXIES trusted
    proxies, else the connecting address), read from META: building `request.headers` costs
    more than the rest."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    remote = request.META.get("REMOTE_ADDR")
    proxies = api_settings.NUM_PROXIES
    if proxies is not None:
        if proxies == 0 or forwarded is None:
            return remote
        addresses = forwarded.split(",")
        return addresses[-min(proxies, len(addresses))].strip()
    return "".join(forwarded.split()) if forwarded else remote


class Window(NamedTuple):
    """A limit's answer to one request, in seconds: `wait` 0 when it was let through (else
    until it would be), how many more the limit allows now, and when its window moves on (a
    sliding window's: when its oldest attempt leaves it)."""

    wait: float
    remaining: int
    reset: float


def spend_in_window(key: str, limit: int, period: int) -> Window:
    """Record one attempt if fewer than `limit` were recorded in the last `period` seconds.

    `wait` is 0 when recorded, else the seconds until the oldest attempt leaves the window (the
    honest Retry-After). Refused attempts are not recorded: waiting out the answer works."""
    now_ms = int(time.time() * 1000)
    period_ms = period * 1000
    if limit <= 0:
        return Window(period, 0, period)
    if uses_redis():
        member = f"{now_ms}:{secrets.token_hex(4)}"  # unique, even within one millisecond
        answer = run_script(_WINDOW_SCRIPT, _WINDOW_SHA, key, now_ms, period_ms, limit, member)
    else:
        answer = _spend_in_local_window(key, now_ms, period_ms, limit)
    wait_ms, remaining, reset_ms = answer
    return Window(wait_ms / 1000, remaining, reset_ms / 1000)


# Forget attempts older than the window, then count and record: atomic in Redis. The answer is
# {wait, remaining, reset}, milliseconds as integers (Redis turns a Lua number into an integer).
_WINDOW_SCRIPT = """
local now, period, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
local recorded = count < limit
if recorded then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], period)
  count = count + 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = tonumber(oldest[2]) + period - now
if recorded then return {0, limit - count, reset} end
return {reset, 0, reset}
"""
_WINDOW_SHA = hashlib.sha1(_WINDOW_SCRIPT.encode()).hexdigest()
_local_window_lock = threading.Lock()


def _spend_in_local_window(key: str, now_ms: int, period_ms: int, limit: int) -> tuple:
    """The script's steps on the local-memory cache (one process: a lock makes them atomic)."""
    with _local_window_lock:
        attempts = [at for at in cache.get(key, []) if at > now_ms - period_ms]
        if len(attempts) >= limit:
            wait = attempts[0] + period_ms - now_ms
            return wait, 0, wait
        attempts.append(now_ms)
        cache.set(key, attempts, timeout=period_ms / 1000)
        return 0, limit - len(attempts), attempts[0] + period_ms - now_ms


class CacheThrottle(BaseThrottle):
    """`rate` requests a period per `bucket_for(request, view)`; None means not counted."""

    scope = ""
    policy = ""  # its name in the RateLimit headers: the scope unless set

    def allow_request(self, request, view):
        bucket = self.bucket_for(request, view)
        if bucket is None:
            return True
        limit, period = parse_rate(self.rate())
        counted = self.admit(f"throttle:{self.scope}:{bucket}", limit, period)
        self.retry_after = counted.wait
        policy = self.policy or self.scope
        report(request, Quota(policy, limit, period, counted.remaining, counted.reset))
        return counted.wait == 0

    def admit(self, key: str, limit: int, period: int) -> Window:
        """Count this request under `key`: a `wait` past the limit, else 0."""
        raise NotImplementedError

    def wait(self):
        return self.retry_after

    def get_ident(self, request):
        return client_address(request)

    def rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def bucket_for(self, request, view) -> str | None:
        raise NotImplementedError


class FixedWindowThrottle(CacheThrottle):
    """A counter per clock window: cheap enough for every request."""

    def admit(self, key, limit, period):
        now = time.time()
        window = int(now // period)
        reset = (window + 1) * period - now
        count = count_hit(f"{key}:{window}", period)
        return Window(0 if count <= limit else reset, max(0, limit - count), reset)


class SlidingWindowThrottle(CacheThrottle):
    """No `period` seconds, wherever they start, see more than `limit` requests."""

    def admit(self, key, limit, period):
        return spend_in_window(key, limit, period)


class AnonRateThrottle(FixedWindowThrottle):
    """API_THROTTLE_ANON per client address, for callers who are not logged in."""

    scope = "anon"

    def bucket_for(self, request, view):
        return None if request.user.is_authenticated else self.get_ident(request)


class UserRateThrottle(FixedWindowThrottle):
    """API_THROTTLE_USER per logged-in user, wherever they call from."""

    scope = "user"

    def bucket_for(self, request, view):
        return str(request.user.pk) if request.user.is_authenticated else None


class AuthRateThrottle(SlidingWindowThrottle):
    """API_THROTTLE_AUTH per client address, whether or not the caller is logged in: sign-up
    floods and reset-mail floods come from addresses. Each of those endpoints counts on its own
    (`throttle_bucket` on the view), so registering does not use up log-in attempts.

    The address is the connecting one, or X-Forwarded-For read through API_NUM_PROXIES
    trusted proxies (DRF's `get_ident`)."""

    scope = "auth"

    def bucket_for(self, request, view):
        return f"{view.throttle_bucket}:{self.get_ident(request)}"


class PasswordCheckThrottle(AuthRateThrottle):
    """API_THROTTLE_AUTH per client address over every endpoint that checks a password, and the
    session log-in pages: one budget, so spreading guesses over them gains nothing."""

    policy = PASSWORD_BUCKET

    def bucket_for(self, request, view):
        return f"{PASSWORD_BUCKET}:{self.get_ident(request)}"


def throttle_login_posts(login_view):
    """Limit a session log-in page's POSTs like the token endpoint, from the same budget
    (API.md, Throttling)."""

    @wraps(login_view)
    def view(request, *args, **kwargs):
        if request.method == "POST":
            throttle = PasswordCheckThrottle()
            if not throttle.allow_request(request, None):
                return too_many_attempts(throttle.wait())
        return login_view(request, *args, **kwargs)

    return view


def too_many_attempts(wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))  # never earlier than the attempt would be allowed
    response = HttpResponse(
        f"Too many log-in attempts. Try again in {seconds} seconds.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response
