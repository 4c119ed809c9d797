"""The RateLimit headers (API.md, "Accounts a SPA can rely on"; IETF httpapi ratelimit-headers
draft, structured fields): what each throttle counted for this request, reported on its answer.

A throttle (`backend.throttling`) learns the numbers from its counter's own round trip and
leaves them on the request; the middleware writes them on the response on its way out, so they
are this request's own, never part of an answer cached for another caller.
"""

import math
from typing import NamedTuple


class Quota(NamedTuple):
    """Where a caller stands with one policy once this request is counted: what the RateLimit
    headers report."""

    policy: str
    limit: int
    window: int
    remaining: int
    reset: float  # seconds until the window moves on


def report(request, quota: Quota) -> None:
    """Leave the quota on Django's request (beneath DRF's), where the middleware finds it."""
    request = getattr(request, "_request", request)
    request.rate_limits = [*getattr(request, "rate_limits", ()), quota]


class RateLimitHeadersMiddleware:
    """Every answer a throttle counted says where its caller stands: `RateLimit-Policy` lists
    each policy that counted the request, `"name";q=LIMIT;w=WINDOW`, and `RateLimit` reports
    the one nearest its limit, `"name";r=REMAINING;t=SECONDS`: the fewest left, and of those
    the one that waits longest. A 429 has r=0."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        quotas = getattr(request, "rate_limits", None)
        if quotas:
            response["RateLimit-Policy"] = ", ".join(
                f'"{quota.policy}";q={quota.limit};w={quota.window}' for quota in quotas
            )
            nearest = min(quotas, key=lambda quota: (quota.remaining, -quota.reset))
            seconds = math.ceil(nearest.reset)
            response["RateLimit"] = f'"{nearest.policy}";r={nearest.remaining};t={seconds}'
        return response
