"""Input-side findings of the security review (issue 11), through Django's test client:
chunked bodies, a missing or empty Host, form posts and booleans, prices, redirects under /api/.
tests/ops/test_hardening.py checks the same against a real gunicorn."""

import io
from urllib.parse import urlencode

import pytest
from django.core.exceptions import DisallowedHost

from backend.exceptions import SUSPICIOUS_REQUEST, api_exception_handler
from backend.fields import NOT_A_PLAIN_DECIMAL
from products.models import Product
from tests.factories import make_category, make_product

PRODUCTS_URL = "/api/v1/products/"
HOST_REQUIRED = {
    "detail": "A Host header naming this server is required.",
    "code": "parse_error",
}
PRICE_ERROR = {"price": [NOT_A_PLAIN_DECIMAL.format(whole=8, places=2)]}


def detail_url(pk: int) -> str:
    return f"{PRODUCTS_URL}{pk}/"


# --- chunked bodies --------------------------------------------------------------------------


def chunked(body: bytes, *, terminated: bool = True) -> dict:
    """What gunicorn hands over for `Transfer-Encoding: chunked`: no Content-Length, and the
    decoded body on an input stream the server ends itself."""
    return {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": terminated,
    }


def test_a_chunked_patch_is_read_and_written(editor_client):
    product = make_product(name="Before")
    body = b'{"name": "After"}'
    response = editor_client.patch(detail_url(product.pk), body, **chunked(body))
    assert response.status_code == 200
    assert response.json()["name"] == "After"
    product.refresh_from_db()
    assert product.name == "After"


def test_a_chunked_body_over_the_limit_is_a_413_and_writes_nothing(editor_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    product = make_product(name="Before")
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    response = editor_client.patch(detail_url(product.pk), body, **chunked(body))
    assert response.status_code == 413
    assert response.json() == {
        "detail": "Request body too large: the limit is 1000 bytes.",
        "code": "payload_too_large",
    }
    product.refresh_from_db()
    assert product.name == "Before"


def test_a_chunked_body_a_server_does_not_end_is_a_411_and_writes_nothing(editor_client):
    body = b'{"name": "Chunked", "sku": "CH-1", "price": "1.00"}'
    response = editor_client.post(PRODUCTS_URL, body, **chunked(body, terminated=False))
    assert response.status_code == 411
    assert set(response.json()) == {"detail", "code"}
    assert not Product.objects.exists()


# --- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PRODUCTS_URL, "/api/v1/", "/api/v1/categories/", "/healthz"])
@pytest.mark.parametrize("host", ["", " ", "bad host"])
def test_an_empty_or_invalid_host_is_a_json_400(api_client, path, host):
    make_product()
    response = api_client.get(path, HTTP_HOST=host)
    assert response.status_code == 400
    assert response.json() == HOST_REQUIRED


def test_an_empty_host_writes_nothing(editor_client):
    body = {"name": "Hostless", "sku": "HOST-1", "price": "1.00"}
    response = editor_client.post(PRODUCTS_URL, body, format="json", HTTP_HOST="")
    assert response.status_code == 400
    assert not Product.objects.exists()


def test_a_disallowed_host_met_inside_a_view_is_a_400_not_a_500():
    response = api_exception_handler(DisallowedHost("Invalid HTTP_HOST header: ''."), {})
    assert response.status_code == 400
    assert response.data == {"detail": SUSPICIOUS_REQUEST, "code": "parse_error"}


# --- forms: a field left out means its default -------------------------------------------------


FORM = {"name": "F", "sku": "FORM-1", "price": "1.00"}


def test_a_urlencoded_form_without_is_active_creates_an_active_product(editor_client):
    response = editor_client.post(
        PRODUCTS_URL, urlencode(FORM), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 201
    assert response.json()["is_active"] is True
    assert Product.objects.get().is_active is True


def test_a_multipart_form_without_is_active_creates_an_active_product(editor_client):
    response = editor_client.post(PRODUCTS_URL, FORM, format="multipart")
    assert response.status_code == 201
    assert Product.objects.get().is_active is True


def test_a_form_may_still_create_an_inactive_product(editor_client):
    response = editor_client.post(PRODUCTS_URL, FORM | {"is_active": "false"}, format="multipart")
    assert response.status_code == 201
    assert Product.objects.get().is_active is False


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_form_update_without_is_active_leaves_it_alone(editor_client, method):
    product = make_product(is_active=False, category=make_category())
    form = FORM | {"stock": "3"}
    response = getattr(editor_client, method)(detail_url(product.pk), form, format="multipart")
    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.is_active, product.stock) == (False, 3)


# --- prices ------------------------------------------------------------------------------------

BAD_PRICES = [
    "-0.00", "-1.00", "1_000", "\uff11\uff12", "\u0661\u0662", "\u00a05", " 5", "5 ", "5\n",
    "1e2", "+5", ".5", "5.", "1.001", "1,00", "NaN", "Infinity", "0x10", "", "12.5.0",
    "123456789", "012345678.00",
]  # fmt: skip


@pytest.mark.parametrize("price", BAD_PRICES)
def test_a_price_that_is_not_plain_ascii_decimal_is_refused(editor_client, price):
    response = editor_client.post(PRODUCTS_URL, FORM | {"price": price}, format="json")
    assert response.status_code == 400
    assert response.json() == PRICE_ERROR
    assert not Product.objects.exists()


@pytest.mark.parametrize("price", ["-0.00", "1_000", "\uff11\uff12", "1e2", "+5", ".5"])
def test_a_form_price_meets_the_same_rule(editor_client, price):
    response = editor_client.post(PRODUCTS_URL, FORM | {"price": price}, format="multipart")
    assert response.status_code == 400
    assert response.json() == PRICE_ERROR
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("price", "stored"),
    [("0", "0.00"), ("5", "5.00"), ("12.5", "12.50"), ("012.50", "12.50"), ("99999999.99", None)],
)
def test_a_plain_decimal_price_is_accepted(editor_client, price, stored):
    response = editor_client.post(PRODUCTS_URL, FORM | {"price": price}, format="json")
    assert response.status_code == 201
    assert response.json()["price"] == (stored or price)


def test_a_price_update_meets_the_same_rule(editor_client):
    product = make_product(price="9.99")
    response = editor_client.patch(detail_url(product.pk), {"price": "-0.00"}, format="json")
    assert response.status_code == 400
    assert response.json() == PRICE_ERROR
    product.refresh_from_db()
    assert str(product.price) == "9.99"


# --- redirects under /api/ ---------------------------------------------------------------------


def test_the_trailing_slash_redirect_under_api_is_json(api_client):
    response = api_client.get("/api/v1/products")
    assert response.status_code == 301
    assert response["Location"] == PRODUCTS_URL
    assert response.json() == {"detail": f"Moved to {PRODUCTS_URL}", "code": "moved_permanently"}


@pytest.mark.parametrize("bound", ["min_price", "max_price"])
@pytest.mark.parametrize("value", ["-0", "1e2", "1_000", "\uff11", "+5", ".5", " 5"])
def test_a_price_bound_in_the_list_meets_the_same_rule(api_client, bound, value):
    response = api_client.get(PRODUCTS_URL, {bound: value})
    assert response.status_code == 400
    assert response.json() == {bound: [NOT_A_PLAIN_DECIMAL.format(whole=10, places=2)]}


def test_a_plain_price_bound_filters_the_list(api_client):
    make_product(price="5.00")
    cheap = make_product(price="2.50")
    response = api_client.get(PRODUCTS_URL, {"max_price": "2.5"})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [cheap.pk]
