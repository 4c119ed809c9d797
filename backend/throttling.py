"""Throttles: fixed-window counters in the shared cache, one atomic increment a request.

DRF's own throttles keep every request's timestamp in a list that is read and written back
whole on each request: at a few thousand requests a minute that is tens of kilobytes a request,
and two processes racing each lose the other's hits. A counter per window costs one round trip
and counts every hit exactly; the price is that a client can spend a full allowance at the end
of one window and another at the start of the next.
"""

import hashlib
import time
from functools import wraps

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse
from redis.exceptions import NoScriptError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

LOGIN_BUCKET = "session-login"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/min' -> (10, 60): N/sec, N/min, N/hour or N/day, as DRF reads them."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def count_hit(key: str, period: int) -> int:
    """Add one to this window's counter and return it; the counter expires with the window."""
    if isinstance(caches["default"], RedisCache):
        return _count_hit_in_redis(key, period)
    if cache.add(key, 1, timeout=period):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls: this hit starts a new count
        cache.set(key, 1, timeout=period)
        return 1


# INCR, and set the expiry when the count starts: one atomic command, one round trip.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_HIT_SHA = hashlib.sha1(_HIT_SCRIPT.encode()).hexdigest()


def _count_hit_in_redis(key: str, period: int) -> int:
    """One script call instead of Django's incr(), which asks first whether the key exists.
    The script goes by its SHA; Redis is sent the text only when it does not know it yet."""
    backend = caches["default"]
    redis_key = backend.make_key(key)  # ours, short and plain: nothing to validate
    client = backend._cache.get_client(redis_key, write=True)
    try:
        return client.evalsha(_HIT_SHA, 1, redis_key, period + 1)
    except NoScriptError:
        return client.eval(_HIT_SCRIPT, 1, redis_key, period + 1)


class FixedWindowThrottle(BaseThrottle):
    """`rate` requests a window per `bucket_for(request, view)`; None means not counted."""

    scope = ""

    def allow_request(self, request, view):
        bucket = self.bucket_for(request, view)
        if bucket is None:
            return True
        limit, period = parse_rate(self.rate())
        now = time.time()
        window = int(now // period)
        self.retry_after = (window + 1) * period - now
        return count_hit(f"throttle:{self.scope}:{bucket}:{window}", period) <= limit

    def wait(self):
        return self.retry_after

    def get_ident(self, request):
        """DRF's rule (X-Forwarded-For through NUM_PROXIES trusted proxies, else the connecting
        address), read from META: building `request.headers` costs more than the rest."""
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        remote = request.META.get("REMOTE_ADDR")
        proxies = api_settings.NUM_PROXIES
        if proxies is not None:
            if proxies == 0 or forwarded is None:
                return remote
            addresses = forwarded.split(",")
            return addresses[-min(proxies, len(addresses))].strip()
        return "".join(forwarded.split()) if forwarded else remote

    def rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def bucket_for(self, request, view) -> str | None:
        raise NotImplementedError


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


class AuthRateThrottle(FixedWindowThrottle):
    """API_THROTTLE_AUTH per client address, whether or not the caller is logged in: password
    guessing and sign-up floods come from addresses. Each endpoint counts on its own
    (`throttle_bucket` on the view), so registering does not use up log-in attempts.

    The address is the connecting one, or X-Forwarded-For read through API_NUM_PROXIES
    trusted proxies (DRF's `get_ident`)."""

    scope = "auth"

    def bucket_for(self, request, view):
        name = getattr(view, "throttle_bucket", LOGIN_BUCKET)
        return f"{name}:{self.get_ident(request)}"


def throttle_login_posts(login_view):
    """Limit a session log-in page's POSTs like the token endpoint (API.md, Throttling)."""

    @wraps(login_view)
    def view(request, *args, **kwargs):
        if request.method == "POST":
            throttle = AuthRateThrottle()
            if not throttle.allow_request(request, None):
                return _too_many_attempts(throttle.wait())
        return login_view(request, *args, **kwargs)

    return view


def _too_many_attempts(wait: float) -> HttpResponse:
    seconds = max(1, round(wait))
    response = HttpResponse(
        f"Too many log-in attempts. Try again in {seconds} seconds.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response
