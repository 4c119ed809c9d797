"""Conditional requests (API.md, "Conditional requests"): strong ETags from the body's bytes,
304 on a matching If-None-Match, 412 on a stale If-Match.

An ETag is a hash of exactly what the caller would receive, so it changes when, and only
when, the representation does: a write that changes a product changes that product's ETag
and every list showing it, and leaves the others alone.
"""

import hashlib

from django.http import HttpResponse

from backend.exceptions import PreconditionFailed


def etag_for(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _listed(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str, etag: str) -> bool:
    """The If-None-Match header lists this ETag (weak comparison, as RFC 9110 asks for GET)."""
    tags = {tag.removeprefix("W/") for tag in _listed(if_none_match)}
    return "*" in tags or etag in tags


def require_match(request, current_etag: str) -> None:
    """412 unless If-Match is absent or empty, `*`, or lists the current ETag (strong
    comparison)."""
    tags = _listed(request.headers.get("If-Match", ""))
    if not tags:  # absent or empty: no precondition (as Django's own conditional views read it)
        return
    if "*" not in tags and current_etag not in tags:
        raise PreconditionFailed()


def not_modified(etag: str, vary: str, cache_control: str) -> HttpResponse:
    response = HttpResponse(status=304)
    del response["Content-Type"]  # no body, so no type
    response["ETag"] = etag
    response["Vary"] = vary
    response["Cache-Control"] = cache_control
    return response
