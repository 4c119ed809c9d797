"""Two application instances on one database and one Redis behave as one service."""

import pytest

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
    wrong = {"username": "nobody", "password": "wrong-password"}
    statuses = [call(pair[n % 2], "POST", "/api/v1/auth/token/", wrong).status for n in range(10)]

    eleventh = call(second, "POST", "/api/v1/auth/token/", wrong)

    assert statuses == [401] * 10  # five on each instance
    assert eleventh.status == 429
    assert int(eleventh.headers["retry-after"]) > 0
    assert call(first, "POST", "/api/v1/auth/token/", wrong).status == 429


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
