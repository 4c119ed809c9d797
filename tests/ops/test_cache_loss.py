"""The catalog's versions live in the database (products.versions), not in the cache: losing the
cache, or getting an older copy of it back (a failover to a Redis replica that missed the last
writes, a restored snapshot), never lets a client revalidate to stale data or be served a
cached page of it (API.md, "Operations at scale")."""

import urllib.error
import urllib.request

import pytest
import redis

from tests.ops.servers import call, token_for

pytestmark = pytest.mark.ops

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def instance(deployment):
    yield deployment.start_instance(), redis.Redis.from_url(deployment.redis_url)
    deployment.stop_instances()


def snapshot(cache: redis.Redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key as Redis would restore it (its value and time to live), as a snapshot holds it."""
    return {key: (cache.dump(key), max(cache.pttl(key), 0)) for key in cache.scan_iter()}


def restore(cache: redis.Redis, saved: dict[bytes, tuple[bytes, int]]) -> None:
    cache.flushdb()
    for key, (value, ttl) in saved.items():
        cache.restore(key, ttl, value, replace=True)


def get(base: str, path: str, etag: str = "") -> tuple[int, bytes]:
    headers = {"If-None-Match": etag} if etag else {}
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_no_client_revalidates_to_stale_data_after_the_cache_is_lost(instance):
    base, cache = instance
    token = token_for(base)
    product = {"name": "Lamp", "sku": "LAMP-1", "price": "10.00", "stock": 3}
    created = call(base, "POST", PRODUCTS, product, token=token).body
    detail = f"{PRODUCTS}{created['id']}/"
    paths = [PRODUCTS, detail, f"{PRODUCTS}?search=lamp"]

    for loss, price in (("flushed", "12.00"), ("an older snapshot", "14.00")):
        old = {path: call(base, "GET", path) for path in paths}
        for path in paths:
            call(base, "GET", path)  # the second visit renders the cached pages (ListRows.render)
        before_the_write = snapshot(cache)
        assert any(b":catalog:page:" in key and key.endswith(b":r") for key in before_the_write)

        assert call(base, "PATCH", detail, {"price": price}, token=token).status == 200
        if loss == "flushed":
            cache.flushdb()
        else:
            restore(cache, before_the_write)

        for path in paths:
            status, body = get(base, path, etag=old[path].headers["etag"])
            assert (status, loss, path) == (200, loss, path)
            assert f'"{price}"'.encode() in body
            assert f'"{price}"'.encode() in get(base, path)[1]
