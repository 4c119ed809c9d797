"""The server as a client meets it directly, without the proxy production puts in front
(issue 11): slow clients, chunked bodies, a missing Host, redirects, all against a real gunicorn
started from backend/gunicorn.conf.py.

The deployment uses the database DATABASE_URL names (recreated, migrated) and stops every
process it started."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.ops.servers import call, deploy, token_for

pytestmark = pytest.mark.ops

READ_TIMEOUT = 3  # GUNICORN_READ_TIMEOUT for these instances
PRODUCTS = "/api/v1/products/"


@pytest.fixture(scope="module")
def base(service_urls, template):
    database_url, redis_url = service_urls
    name = urlsplit(database_url).path.lstrip("/")
    deployment = deploy(
        database_url, redis_url, name, template=template, GUNICORN_READ_TIMEOUT=str(READ_TIMEOUT)
    )
    try:
        yield deployment.start_instance()
    finally:
        deployment.stop_instances()


def connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def exchange(base: str, data: bytes) -> tuple[int, dict]:
    """Send raw bytes, read the answer to its end: (status, JSON body or {})."""
    with connect(base) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, json.loads(body) if body else {}


def _dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        if not int(size, 16):
            return out
        out, body = out + rest[: int(size, 16)], rest[int(size, 16) + 2 :]


def chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)


def slow_loris(base: str) -> socket.socket:
    sock = connect(base)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def test_three_slow_clients_do_not_stop_healthz(base):
    sockets = [slow_loris(base) for _ in range(3)]
    try:
        for sock in sockets:
            sock.sendall(b"X-Slow: 1\r\n")  # a header line, and never the end of the headers
        time.sleep(0.5)  # every worker of a sync server would now be reading one of them
        answer = call(base, "GET", "/healthz", timeout=5)
        assert answer.status == 200
        assert answer.seconds < 2
    finally:
        for sock in sockets:
            sock.close()


def test_a_slow_client_is_dropped_at_the_read_deadline(base):
    with slow_loris(base) as sock:
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            trickle = pool.submit(_trickle, sock, READ_TIMEOUT + 5)
            assert trickle.result(timeout=READ_TIMEOUT + 10) == "dropped"
        assert time.monotonic() - started < READ_TIMEOUT + 3


def _trickle(sock: socket.socket, seconds: float) -> str:
    """One header line a second, as long as the server listens."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.sendall(b"X-Slow: 1\r\n")
            sock.settimeout(1)
            try:
                if sock.recv(1) == b"":
                    return "dropped"
            except TimeoutError:
                continue
    except OSError:
        return "dropped"
    return "still held"


def test_a_body_that_never_arrives_is_a_400_at_the_read_deadline(base):
    request = (
        b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    started = time.monotonic()
    status, body = exchange(base, request)
    assert status == 400
    assert body == {
        "detail": "The request body could not be read in full: it stopped arriving.",
        "code": "parse_error",
    }
    assert time.monotonic() - started < READ_TIMEOUT + 2


def _patch_chunked(base: str, token: str, pk: int, payload: bytes) -> tuple[int, dict]:
    head = (
        f"PATCH {PRODUCTS}{pk}/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    return exchange(base, head + chunked(payload))


@pytest.fixture(scope="module")
def token(base):
    return token_for(base)


@pytest.fixture
def product(base, token):
    sku = f"CHUNK-{time.monotonic_ns()}"
    body = {"name": "Chunked", "sku": sku, "price": "1.00"}
    answer = call(base, "POST", PRODUCTS, body, token=token)
    assert answer.status == 201, answer
    return answer.body


def test_a_chunked_patch_is_read_and_written(base, token, product):
    status, body = _patch_chunked(base, token, product["id"], b'{"name": "Renamed in chunks"}')
    assert status == 200
    assert body["name"] == "Renamed in chunks"
    assert call(base, "GET", f"{PRODUCTS}{product['id']}/", token=token).body["name"] == (
        "Renamed in chunks"
    )


def test_a_chunked_body_over_the_limit_is_a_413_and_writes_nothing(base, token, product):
    payload = json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode()
    status, body = _patch_chunked(base, token, product["id"], payload)
    assert status == 413
    assert body == {
        "detail": "Request body too large: the limit is 1048576 bytes.",
        "code": "payload_too_large",
    }
    assert call(base, "GET", f"{PRODUCTS}{product['id']}/", token=token).body["name"] == "Chunked"


@pytest.mark.parametrize("host_line", [b"", b"Host: \r\n"], ids=["missing", "empty"])
@pytest.mark.parametrize("path", [PRODUCTS, "/api/v1/", "/api/v1/categories/"])
def test_a_missing_or_empty_host_is_a_json_400(base, host_line, path):
    request = b"GET %s HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (path.encode(), host_line)
    status, body = exchange(base, request)
    assert status == 400
    assert body == {
        "detail": "A Host header naming this server is required.",
        "code": "parse_error",
    }


def test_the_trailing_slash_redirect_is_json(base):
    request = b"GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, body = exchange(base, request)
    assert status == 301
    assert body == {
        "detail": "Moved to /api/v1/products/",
        "code": "moved_permanently",
    }
