"""Two application instances on one database and one Redis behave as one service."""

import time

import pytest
import redis

from tests.ops.servers import ADMIN, call, token_for

pytestmark = pytest.mark.ops

PRODUCTS = "/api/v1/products/"


@pytest.fixture
def pair(deployment):
    deployment.env["API_THROTTLE_AUTH"] = "10/min"
    first, second = deployment.start_instance(), deployment.start_instance()
    yield first, second
    deployment.stop_instances()


def test_a_token_from_one_instance_works_on_the_other(pair):
    first, second = pair
    access = token_for(first)

    answer = call(second, "GET", "/api/v1/users/me/", token=access)

    assert answer.status == 200
    assert answer.body["username"] == ADMIN["username"]


def test_a_logout_on_one_instance_is_refused_on_the_other(pair):
    first, second = pair
    tokens = call(first, "POST", "/api/v1/auth/token/", ADMIN).body

    assert call(first, "POST", "/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status == 204
    refused = call(second, "POST", "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})

    assert refused.status == 401
    assert (
        call(second, "POST", "/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status == 401
    )


def wrong(n: int) -> dict:
    """A wrong password for a name of its own: the per-name backoff stays out of the count."""
    return {"username": f"nobody-{n}", "password": "wrong-password"}


@pytest.mark.parametrize("ending", ["logout", "revoke", "logout-all"])
def test_an_access_token_is_refused_on_the_other_instance_right_after_its_session_ends(
    pair, ending
):
    first, second = pair
    tokens = call(first, "POST", "/api/v1/auth/token/", ADMIN).body
    access = tokens["access"]
    assert call(second, "GET", "/api/v1/users/me/", token=access).status == 200  # cached: live

    if ending == "logout":
        ended = call(first, "POST", "/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
    elif ending == "revoke":
        listed = call(first, "GET", "/api/v1/users/me/sessions/", token=access).body["results"]
        (current,) = [session for session in listed if session["current"]]
        ended = call(first, "DELETE", f"/api/v1/users/me/sessions/{current['id']}/", token=access)
    else:
        ended = call(first, "POST", "/api/v1/auth/logout-all/", token=access)
    refused = call(second, "GET", "/api/v1/users/me/", token=access)

    assert ended.status == 204
    assert refused.status == 401
    assert refused.body["code"] == "session_ended"


def test_the_auth_throttle_counts_requests_across_both_instances(pair):
    first, second = pair
    answers = [call(pair[n % 2], "POST", "/api/v1/auth/token/", wrong(n)) for n in range(10)]
    statuses = [answer.status for answer in answers]

    eleventh = call(second, "POST", "/api/v1/auth/token/", wrong(10))

    assert statuses == [401] * 10  # five on each instance
    assert eleventh.status == 429
    assert int(eleventh.headers["retry-after"]) > 0
    assert call(first, "POST", "/api/v1/auth/token/", wrong(11)).status == 429
    assert [answer.headers["ratelimit"].split(";")[1] for answer in answers] == [
        f"r={left}" for left in range(9, -1, -1)
    ]
    assert eleventh.headers["ratelimit"].split(";")[1] == "r=0"


def test_writes_through_one_instance_are_read_through_the_other(pair):
    first, second = pair
    token = token_for(first)
    before = call(second, "GET", PRODUCTS)  # now cached on the shared cache
    assert before.body["count"] == 0

    created = call(
        first, "POST", PRODUCTS, {"name": "Lamp", "sku": "OPS-1", "price": "9.50"}, token=token
    )
    assert created.status == 201
    detail = call(second, "GET", f"{PRODUCTS}{created.body['id']}/")
    listing = call(second, "GET", PRODUCTS)

    assert detail.status == 200
    assert detail.body == created.body
    assert listing.body["count"] == 1
    assert listing.headers["etag"] != before.headers["etag"]

    changed = call(
        second, "PATCH", f"{PRODUCTS}{created.body['id']}/", {"price": "7.25"}, token=token
    )
    assert changed.status == 200
    assert call(first, "GET", PRODUCTS).body["results"][0]["price"] == "7.25"


def test_rate_limit_headers_count_down_by_one_across_both_instances(deployment, pair):
    """The anonymous catalog reads' fixed window, on the hot path: whichever instance and
    worker answers, each read leaves exactly one fewer."""
    redis.Redis.from_url(deployment.redis_url).flushdb()  # no counts from the tests before
    seconds_into_minute = time.time() % 60
    if seconds_into_minute > 45:  # keep the reads inside one clock window
        time.sleep(61 - seconds_into_minute)
    answers = [call(pair[n % 2], "GET", PRODUCTS) for n in range(20)]

    left = [int(answer.headers["ratelimit"].split(";r=")[1].split(";")[0]) for answer in answers]

    assert [answer.status for answer in answers] == [200] * 20
    assert {answer.headers["ratelimit-policy"] for answer in answers} == {'"anon";q=100000;w=60'}
    assert left == list(range(99_999, 99_979, -1))


def test_a_name_backs_off_across_both_instances(deployment, pair):
    """Failures 5, 6 and 7 lock the name for 1, 2 and 4 seconds: the 4 s lock leaves time for
    both instances to be asked, however slow the machine."""
    redis.Redis.from_url(deployment.redis_url).flushdb()  # the address's budget afresh
    wrong_password = {"username": ADMIN["username"], "password": "wrong-password"}
    failures = []
    for n in range(7):
        failures.append(call(pair[n % 2], "POST", "/api/v1/auth/token/", wrong_password).status)
        time.sleep(2 ** (n - 4) + 0.2 if 4 <= n < 6 else 0)  # wait out the locks of 5 and 6

    locked = [call(base, "POST", "/api/v1/auth/token/", ADMIN) for base in pair]

    assert failures == [401] * 7
    assert [answer.status for answer in locked] == [429, 429]
    assert all(1 <= int(answer.headers["retry-after"]) <= 4 for answer in locked)
