"""Idempotency-Key across two application instances (API.md, "Idempotency"): of 20 copies of
one POST racing through both, exactly one writes; every answer is that one 201 (first or
replayed) or 409 while it is being processed. The keys live in the database: a Redis flush
forgets none."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.ops.servers import call, token_for

pytestmark = pytest.mark.ops

COPIES = 20
KEY = "ops-race-6d1f0b7e"
PRODUCT = {"name": "Racing lamp", "sku": "RACE-1", "price": "19.90"}
REGISTRATION = {
    "username": "racer",
    "email": "racer@example.com",
    "password": "Corr3ct-horse-battery",
}


@pytest.fixture
def pair(deployment):
    """Two instances (the deployment stops them), sign-up's limit out of the race's way."""
    deployment.env["API_THROTTLE_AUTH"] = "1000/min"
    return deployment.start_instance(), deployment.start_instance()


def race(pair, path: str, body: dict, token=None) -> list:
    """COPIES copies of one POST, alternating between the instances, let go at once."""
    start = threading.Barrier(COPIES)

    def send(n: int):
        start.wait()
        return call(pair[n % 2], "POST", path, body, token=token, headers={"Idempotency-Key": KEY})

    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(send, range(COPIES)))


def assert_one_write_answered_alike(answers: list) -> dict:
    created = [answer for answer in answers if answer.status == 201]
    in_progress = [answer for answer in answers if answer.status == 409]
    first = [answer for answer in created if "idempotent-replayed" not in answer.headers]

    assert len(created) + len(in_progress) == COPIES, [answer.status for answer in answers]
    assert len(first) == 1
    assert all(answer.body == first[0].body for answer in created)
    assert {answer.body["code"] for answer in in_progress} <= {"idempotency_in_progress"}
    assert all(answer.headers["retry-after"] == "1" for answer in in_progress)
    return first[0].body


def test_racing_copies_of_a_product_post_write_one_product(deployment, pair):
    token = token_for(pair[0])

    created = assert_one_write_answered_alike(race(pair, "/api/v1/products/", PRODUCT, token))

    listing = call(pair[1], "GET", "/api/v1/products/", token=token)
    assert listing.body["count"] == 1
    assert listing.body["results"][0]["id"] == created["id"]
    redis.Redis.from_url(deployment.redis_url).flushdb()
    again = call(
        pair[1], "POST", "/api/v1/products/", PRODUCT, token=token,
        headers={"Idempotency-Key": KEY},
    )  # fmt: skip
    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.body == created
    assert call(pair[0], "GET", "/api/v1/products/", token=token).body["count"] == 1


def test_racing_copies_of_a_registration_make_one_account(pair):
    created = assert_one_write_answered_alike(race(pair, "/api/v1/auth/register/", REGISTRATION))

    token = token_for(pair[0])
    found = call(pair[1], "GET", "/api/v1/users/?search=racer", token=token).body
    assert [user["id"] for user in found["results"]] == [created["id"]]
