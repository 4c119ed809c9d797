"""Throttles keyed by the client's address, for the endpoints that guess or spam."""

from functools import wraps

from django.http import HttpResponse
from rest_framework.throttling import SimpleRateThrottle

LOGIN_BUCKET = "session-login"


class AuthRateThrottle(SimpleRateThrottle):
    """API_THROTTLE_AUTH per client address, whether or not the caller is logged in: password
    guessing and sign-up floods come from addresses. Each endpoint counts on its own
    (`throttle_bucket` on the view), so registering does not use up log-in attempts.

    The address is the connecting one, or X-Forwarded-For read through API_NUM_PROXIES
    trusted proxies (DRF's `get_ident`)."""

    scope = "auth"

    def get_cache_key(self, request, view):
        bucket = getattr(view, "throttle_bucket", LOGIN_BUCKET)
        return self.cache_format % {"scope": f"auth-{bucket}", "ident": self.get_ident(request)}


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


def _too_many_attempts(wait: float | None) -> HttpResponse:
    seconds = max(1, round(wait or 1))
    response = HttpResponse(
        f"Too many log-in attempts. Try again in {seconds} seconds.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response
