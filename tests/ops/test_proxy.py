"""The production topology's front: nginx (deploy/nginx) terminating TLS and balancing over two
application instances, as the README's "Running in production" describes."""

import os
import signal

import pytest

from tests.ops.proxy import Proxy
from tests.ops.servers import ADMIN, deploy, drop

pytestmark = pytest.mark.ops

PRODUCTS = "/api/v1/products/"


BEHIND_THE_PROXY = {"DJANGO_HTTPS": "true", "API_NUM_PROXIES": "1"}


def start(deployment) -> Proxy:
    deployment.env |= BEHIND_THE_PROXY
    return Proxy.start([deployment.start_instance(), deployment.start_instance()])


@pytest.fixture(scope="module")
def topology(service_urls, template):
    """One topology for the tests that leave it as they found it (a deployment takes seconds)."""
    database_url, redis_url = service_urls
    name = f"catalog_ops_proxy_{os.getpid()}"
    deployment = deploy(database_url, redis_url, name, template=template)
    proxy = start(deployment)
    yield proxy, deployment
    proxy.stop()
    drop(deployment, database_url, name)


@pytest.fixture
def own_topology(deployment):
    proxy = start(deployment)
    yield proxy, deployment
    proxy.stop()
    deployment.stop_instances()


def staff_token(proxy: Proxy) -> str:
    answer = proxy.request("POST", "/api/v1/auth/token/", ADMIN)
    assert answer.status == 200, answer
    return answer.body["access"]


def test_the_api_is_served_over_https_with_https_links_and_hsts(topology):
    proxy, _ = topology
    token = {"Authorization": f"Bearer {staff_token(proxy)}"}
    for n in range(2):
        product = {"name": f"Lamp {n}", "sku": f"LAMP-{n}", "price": "9.50", "stock": 3}
        assert proxy.request("POST", PRODUCTS, product, token).status == 201

    page = proxy.request("GET", f"{PRODUCTS}?page_size=1")

    assert page.status == 200
    assert page.body["next"] == f"{proxy.base}{PRODUCTS}?page=2&page_size=1"
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert page.headers["x-request-id"]  # nginx's request id, kept and echoed by the application


def test_plain_http_moves_to_https_but_health_checks_answer(topology):
    proxy, _ = topology

    moved = proxy.request("GET", "/api/v1/", plain=True)
    health = proxy.request("GET", "/healthz", plain=True)

    assert moved.status == 301
    assert moved.headers["location"] == f"https://localhost:{proxy.https_port}/api/v1/"
    assert health.status == 200


def test_the_client_address_is_the_one_nginx_saw(topology):
    """API_NUM_PROXIES=1: the address nginx appends is the client's; one a client forges in
    front of it is not believed (the auth throttle counts the real address)."""
    proxy, _ = topology
    statuses = [
        proxy.request(
            "POST",
            "/api/v1/auth/token/",
            {"username": f"nobody-{n}", "password": "wrong-password"},  # no per-name backoff
            {"X-Forwarded-For": f"203.0.113.{n}"},
        ).status
        for n in range(11)
    ]

    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


@pytest.mark.parametrize(
    ("too_large", "status"),
    [
        ({"path": PRODUCTS + "?search=" + "a" * 9000}, 414),
        ({"headers": {"X-Padding": "a" * 9000}}, 400),
        ({"body": b'{"name": "' + b"a" * (1024 * 1024 + 1) + b'"}'}, 413),
    ],
    ids=["request-line", "header", "body"],
)
def test_what_the_proxy_refuses_is_a_json_error(topology, too_large, status):
    proxy, _ = topology
    method = "POST" if "body" in too_large else "GET"

    answer = proxy.request(
        method, too_large.get("path", PRODUCTS), too_large.get("body"), too_large.get("headers")
    )

    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert isinstance(answer.body["detail"], str)


def test_a_trace_gets_the_applications_405_with_what_the_resource_allows(topology):
    """nginx refuses TRACE itself (HTML, no Allow); the proxy hands it to the application."""
    proxy, _ = topology

    answer = proxy.request("TRACE", "/api/v1/auth/logout/")

    assert answer.status == 405
    assert answer.headers["allow"] == "POST, OPTIONS"
    assert answer.body["code"] == "method_not_allowed"


def test_what_fits_the_proxy_reaches_the_application(topology):
    """Below nginx's limits, gunicorn's own (raised above them) never refuse: a long request
    line and a hundred headers get the application's answer, not gunicorn's HTML."""
    proxy, _ = topology
    many = {f"X-Extra-{n}": "1" for n in range(150)}

    long_line = proxy.request("GET", PRODUCTS + "?search=" + "a" * 7000)
    many_headers = proxy.request("GET", PRODUCTS, headers=many)

    assert (long_line.status, "x-request-id" in long_line.headers) == (200, True)
    assert (many_headers.status, "x-request-id" in many_headers.headers) == (200, True)


def test_reads_go_on_while_an_instance_dies_and_a_json_502_when_none_answers(own_topology):
    proxy, deployment = own_topology
    statuses = []
    for n in range(120):
        if n == 40:
            os.killpg(deployment.processes[0].pid, signal.SIGKILL)  # master and workers
        statuses.append(proxy.request("GET", f"{PRODUCTS}?page_size={n % 5 + 1}").status)

    deployment.stop_instances()
    none = proxy.request("GET", PRODUCTS)

    assert statuses == [200] * 120
    assert none.status == 502
    assert none.headers["content-type"] == "application/json"
