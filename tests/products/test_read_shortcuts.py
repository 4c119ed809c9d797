"""Anonymous JSON reads answered ahead of Django (backend/shortcuts.py, products/shortcuts.py)
give exactly what the full path gives, and everything else still goes through Django."""

import io
import json
import logging
import random
import sys
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections

from backend.prepared import RowByPk
from backend.wsgi import application
from tests.conftest import obtain_tokens
from tests.factories import make_category, make_product

PRODUCTS = "/api/v1/products/"
CATEGORIES = "/api/v1/categories/"


@contextmanager
def connections_kept():
    """As Django's test client does: the test's transaction must survive a request's end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def environ(path: str, query: str = "", method: str = "GET", **headers) -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }


def call(app, path: str, query: str = "", method: str = "GET", **headers):
    """(status, headers without X-Request-ID, body, request id) from a WSGI application."""
    seen = {}

    def start_response(status, header_list):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(header_list)

    with connections_kept():
        body = b"".join(app(environ(path, query, method, **headers), start_response))
    headers_seen = {key.lower(): value for key, value in seen["headers"].items()}
    request_id = headers_seen.pop("x-request-id")
    if "vary" in headers_seen:
        headers_seen["vary"] = {part.strip().lower() for part in headers_seen["vary"].split(",")}
    return seen["status"], headers_seen, body, request_id


def both_paths(path: str, query: str = "", method: str = "GET", **headers):
    """The same request through the shortcut application and straight into Django."""
    return (
        call(application, path, query, method, **headers)[:3],
        call(application.django_application, path, query, method, **headers)[:3],
    )


@pytest.fixture
def catalog():
    category = make_category(name="Lamps")
    return {
        "active": make_product(name="Lamp", category=category),
        "inactive": make_product(name="Old lamp", is_active=False),
        "bare": make_product(name="Bulb", stock=0),
    }


@pytest.fixture
def cache_on(settings):
    settings.API_CACHE_SECONDS = 300


@pytest.fixture
def shortcut_taken(monkeypatch):
    """Counts the requests the shortcut answered itself."""
    answered = []
    original = type(application)._serve

    def serve(self, request, plan, start_response):
        answered.append(request.path)
        return original(self, request, plan, start_response)

    monkeypatch.setattr(type(application), "_serve", serve)
    return answered


@pytest.mark.parametrize("which", ["active", "inactive", "bare"])
def test_a_product_detail_is_the_same_on_both_paths(catalog, shortcut_taken, which):
    shortcut, full = both_paths(f"{PRODUCTS}{catalog[which].pk}/")

    assert shortcut == full
    assert shortcut[0] == (404 if which == "inactive" else 200)
    assert shortcut_taken == [f"{PRODUCTS}{catalog[which].pk}/"]


@pytest.mark.parametrize("pk", ["999999", "0", str(2**63), str(10**30)])
def test_an_unknown_or_impossible_id_is_the_same_404_on_both_paths(db, pk):
    shortcut, full = both_paths(f"{PRODUCTS}{pk}/")

    assert shortcut == full
    assert shortcut[0] == 404
    assert json.loads(shortcut[2]) == {"detail": "Not found."}


def test_a_category_detail_is_the_same_on_both_paths(catalog):
    category = catalog["active"].category

    shortcut, full = both_paths(f"{CATEGORIES}{category.pk}/")

    assert shortcut == full
    assert json.loads(shortcut[2])["product_count"] == 1


def test_a_matching_if_none_match_is_the_same_304_on_both_paths(catalog):
    path = f"{PRODUCTS}{catalog['active'].pk}/"
    etag = call(application, path)[1]["etag"]

    shortcut, full = both_paths(path, if_none_match=etag)

    assert shortcut == full
    assert shortcut[0] == 304
    assert shortcut[2] == b""


def test_head_has_the_headers_of_get_and_no_body(catalog):
    path = f"{PRODUCTS}{catalog['active'].pk}/"

    status, headers, body, _ = call(application, path, method="HEAD")
    got = call(application, path)

    assert status == 200
    assert body == b""
    assert headers == got[1]


LIST_QUERIES = [
    "",
    "page_size=1",
    "page=2&page_size=1",
    "page_size=1000",
    "search=lamp",
    "search=LAMP bulb",
    "ordering=-price",
    "min_price=0.50&max_price=500&in_stock=true",
    "in_stock=false",
    "is_active=false",  # staff only: ignored for anonymous callers
    "created_after=2000-01-01",
    "ordering=colour",  # an unknown field is ignored
    "max_price=-1",
    pytest.param("search=" + "x" * 300, id="search=x*300"),
]
LIST_ERRORS = {
    "page=99": 404,
    "page=last&page_size=0": 200,
    "min_price=cheap": 400,
    "in_stock=maybe": 400,
    "category=lamps": 400,
    "created_before=yesterday": 400,
}


@pytest.mark.parametrize("query", LIST_QUERIES)
def test_a_product_list_is_the_same_on_both_paths(catalog, shortcut_taken, query):
    shortcut, full = both_paths(PRODUCTS, query)

    assert shortcut == full
    assert shortcut[0] == 200
    assert shortcut_taken == [PRODUCTS]


@pytest.mark.parametrize(("query", "status"), LIST_ERRORS.items(), ids=list(LIST_ERRORS))
def test_list_errors_are_the_same_on_both_paths(catalog, shortcut_taken, query, status):
    shortcut, full = both_paths(PRODUCTS, query)

    assert shortcut == full
    assert shortcut[0] == status
    assert shortcut_taken == [PRODUCTS]


FUZZ_NAMES = [
    *("page", "page_size", "search", "ordering", "min_price", "max_price", "in_stock"),
    *("category", "created_after", "created_before", "is_active", "category[]", "x", ""),
]
FUZZ_VALUES = [
    *("", "0", "1", "-1", "2", "99", "1.5", "1e3", "NaN", "inf", "9" * 30, "x" * 300),
    *("true", "TRUE", "-price", "name,-stock", "colour", "last", "lamp", " ", "+", "1,2"),
    *("2024-01-01", "2024-13-01", "2024-01-01T00:00:00Z", "[1]", "null", "é", "\x00"),
    *("%", "%zz", "%ff", "%00", "%2C", "50%", "%s"),
]


@pytest.mark.parametrize("seed", range(150))
def test_random_list_queries_are_the_same_on_both_paths_and_never_500(catalog, seed):
    """Seeded random mixes of the list's parameters, well- and ill-formed, raw or encoded."""
    rng = random.Random(seed)
    query = "&".join(
        f"{rng.choice(FUZZ_NAMES)}={quote(value) if rng.random() < 0.5 else value}"
        for value in (rng.choice(FUZZ_VALUES) for _ in range(rng.randint(1, 4)))
    )

    shortcut, full = both_paths(PRODUCTS if seed % 5 else CATEGORIES, query)

    assert shortcut == full, query
    assert shortcut[0] < 500, query


def test_a_category_list_is_the_same_on_both_paths(catalog, shortcut_taken):
    make_category(name="Shades")

    shortcut, full = both_paths(CATEGORIES, "page_size=1")

    assert shortcut == full
    assert json.loads(shortcut[2])["count"] == 2
    assert shortcut_taken == [CATEGORIES]


@pytest.mark.parametrize("page_size", [1, 3])
def test_a_list_built_by_the_shortcut_costs_its_count_and_page_queries(
    catalog, django_assert_num_queries, page_size
):
    with django_assert_num_queries(2):
        status, _, body, _ = call(application, PRODUCTS, f"page_size={page_size}")

    assert status == 200
    assert len(json.loads(body)["results"]) == min(page_size, 2)


def test_a_list_page_is_cached_once_and_then_served_without_queries(
    catalog, cache_on, shortcut_taken, django_assert_num_queries
):
    first = call(application, PRODUCTS, "page_size=1")

    with django_assert_num_queries(0):
        again = call(application, PRODUCTS, "page_size=1")
    full = call(application.django_application, PRODUCTS, "page_size=1")

    assert shortcut_taken == [PRODUCTS, PRODUCTS]
    assert again[:3] == first[:3] == full[:3]
    assert json.loads(again[2])["count"] == 2
    assert json.loads(again[2])["next"] == "http://testserver/api/v1/products/?page=2&page_size=1"


def test_a_list_asking_for_a_format_goes_to_django(catalog, shortcut_taken):
    status, headers, _, _ = call(application, PRODUCTS, "format=json")

    assert status == 200
    assert headers["content-type"] == "application/json"
    assert shortcut_taken == []


@pytest.mark.parametrize(
    "headers",
    [
        {"cookie": "theme=dark"},
        {"origin": "http://spa.example"},
        {"accept": "text/html"},
        {"authorization": "Bearer not-a-token"},
    ],
    ids=["cookie", "origin", "browser", "credentials"],
)
def test_requests_with_credentials_cookies_origins_or_html_go_to_django(
    catalog, shortcut_taken, headers
):
    call(application, f"{PRODUCTS}{catalog['active'].pk}/", **headers)

    assert shortcut_taken == []


def test_staff_with_a_token_still_see_an_inactive_product(catalog, staff, api_client):
    access = obtain_tokens(api_client, staff.username)["access"]

    status, _, body, _ = call(
        application, f"{PRODUCTS}{catalog['inactive'].pk}/", authorization=f"Bearer {access}"
    )

    assert status == 200
    assert json.loads(body)["is_active"] is False


def test_a_query_string_on_a_detail_goes_to_django(catalog, shortcut_taken):
    status, headers, _, _ = call(application, f"{PRODUCTS}{catalog['active'].pk}/", "format=json")

    assert status == 200
    assert headers["content-type"] == "application/json"
    assert shortcut_taken == []


def test_a_host_that_is_not_allowed_is_djangos_400(catalog, shortcut_taken):
    status, _, _, _ = call(application, f"{PRODUCTS}{catalog['active'].pk}/", host="evil.example")

    assert status == 400
    assert shortcut_taken == []


def test_the_anonymous_throttle_applies_on_both_paths_alike(catalog, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        | {"anon": "3/min"}
    }
    path = f"{PRODUCTS}{catalog['active'].pk}/"
    statuses = [call(application, path)[0] for _ in range(3)]

    shortcut = call(application, path)
    full = call(application.django_application, path)

    assert statuses == [200, 200, 200]
    assert shortcut[0] == full[0] == 429
    assert int(shortcut[1]["retry-after"]) >= 1
    assert json.loads(shortcut[2]) == json.loads(full[2])


def test_a_missing_database_is_the_same_503_on_both_paths(catalog, monkeypatch):
    def unavailable(self, pk):
        raise OperationalError("connection refused")

    monkeypatch.setattr(RowByPk, "get", unavailable)

    shortcut, full = both_paths(f"{PRODUCTS}{catalog['active'].pk}/")

    assert shortcut[0] == full[0] == 503
    assert json.loads(shortcut[2]) == json.loads(full[2])
    assert shortcut[1]["retry-after"] == full[1]["retry-after"]


def test_an_unexpected_error_is_a_bare_500_with_the_traceback_logged(catalog, monkeypatch, caplog):
    def broken(self, pk):
        raise RuntimeError("boom")

    monkeypatch.setattr(RowByPk, "get", broken)

    with caplog.at_level(logging.ERROR):
        status, headers, body, _ = call(application, f"{PRODUCTS}{catalog['active'].pk}/")

    assert status == 500
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "Internal server error."}
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)


def test_each_answer_logs_one_line_and_echoes_the_request_id(catalog, caplog):
    path = f"{PRODUCTS}{catalog['active'].pk}/"

    with caplog.at_level(logging.INFO, logger="backend.requests"):
        _, _, _, request_id = call(application, path, x_request_id="trace-42")

    lines = [record for record in caplog.records if record.name == "backend.requests"]
    assert request_id == "trace-42"
    assert [(r.method, r.path, r.status, r.request_id) for r in lines] == [
        ("GET", path, 200, "trace-42")
    ]
