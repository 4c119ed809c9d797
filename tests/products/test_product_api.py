"""One product over the API: who reads what, who may write, and what a write accepts
(API.md, "Catalog" and "Lists, errors, limits")."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from products.models import SKU_TAKEN, Product
from tests.conftest import bearer_client, obtain_tokens
from tests.factories import grant, make_category, make_product, make_staff, make_user
from tests.products.images import as_listed

PRODUCTS_URL = "/api/v1/products/"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
WRITE_METHODS = ["post", "put", "patch", "delete"]
SUCCESS = {"post": 201, "put": 200, "patch": 200, "delete": 204}
PERMISSION_FOR = {
    "post": "products.add_product",
    "put": "products.change_product",
    "patch": "products.change_product",
    "delete": "products.delete_product",
}


def detail_url(pk: int) -> str:
    return f"{PRODUCTS_URL}{pk}/"


def valid_payload(**overrides) -> dict:
    return {
        "name": "Oak Lantern",
        "sku": "LNT-001",
        "description": "A lantern of oak and glass.",
        "price": "12.50",
        "stock": 4,
        "is_active": True,
        "category": None,
    } | overrides


def stored_products() -> list[dict]:
    """Every product row, every column, as the database holds it now."""
    return list(Product.objects.order_by("pk").values())


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def send(client: APIClient, method: str, product: Product):
    """One write of each kind, each valid in itself, so only permissions decide."""
    if method == "post":
        return client.post(PRODUCTS_URL, valid_payload(), format="json")
    if method == "put":
        return client.put(detail_url(product.pk), valid_payload(), format="json")
    if method == "patch":
        return client.patch(detail_url(product.pk), {"name": "Renamed"}, format="json")
    return client.delete(detail_url(product.pk))


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


# --- Reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_name", ["api_client", "customer_client"])
def test_anonymous_and_customers_see_only_active_products_in_the_list(request, client_name):
    active = make_products_with_states([True, True, False, True, False])

    response = request.getfixturevalue(client_name).get(PRODUCTS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == len(active)
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(active)


def make_products_with_states(states: list[bool]) -> list[int]:
    """Products active or not as given; returns the ids of the active ones."""
    products = [make_product(is_active=state) for state in states]
    return [product.pk for product in products if product.is_active]


@pytest.mark.parametrize("client_name", ["api_client", "customer_client"])
def test_inactive_product_detail_is_404_for_anonymous_and_customers(request, client_name):
    hidden = make_product(is_active=False)

    response = request.getfixturevalue(client_name).get(detail_url(hidden.pk))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("client_name", ["staff_client", "editor_client"])
def test_staff_see_every_product_in_the_list(request, client_name):
    products = [make_product(is_active=state) for state in (True, False, True, False)]

    response = request.getfixturevalue(client_name).get(PRODUCTS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 4
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(
        product.pk for product in products
    )


@pytest.mark.parametrize("client_name", ["staff_client", "editor_client"])
def test_staff_read_an_inactive_product(request, client_name):
    hidden = make_product(is_active=False)

    response = request.getfixturevalue(client_name).get(detail_url(hidden.pk))

    assert response.status_code == 200
    assert response.json()["id"] == hidden.pk
    assert response.json()["is_active"] is False


@pytest.mark.parametrize("path", ["999999/", "not-a-number/", "-1/"])
def test_unknown_product_is_a_json_404(api_client, path):
    response = api_client.get(f"{PRODUCTS_URL}{path}")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize(
    ("created_at", "created_text", "updated_at", "updated_text"),
    [
        (
            datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
            "2026-01-02T03:04:05.123456Z",
            datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
            "2026-02-03T04:05:06.000007Z",
        ),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "2026-01-02T03:04:05.000000Z",
            datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "2026-12-31T23:59:59.999999Z",
        ),
    ],
    ids=["microseconds", "whole-second"],
)
def test_product_detail_is_the_exact_representation(
    api_client, created_at, created_text, updated_at, updated_text
):
    lamps = make_category(name="Lamps")
    product = make_product(
        name="Brass Desk Lamp",
        sku="LMP-brass.01",
        description="Warm light.",
        price=Decimal("12.5"),
        stock=3,
        category=lamps,
        created_at=created_at,
    )
    Product.objects.filter(pk=product.pk).update(updated_at=updated_at)

    response = api_client.get(detail_url(product.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": product.pk,
        "name": "Brass Desk Lamp",
        "sku": "LMP-brass.01",
        "description": "Warm light.",
        "price": "12.50",
        "stock": 3,
        "in_stock": True,
        "is_active": True,
        "category": lamps.pk,
        "category_name": "Lamps",
        "created_at": created_text,
        "updated_at": updated_text,
        "images": [],
    }


def test_product_without_a_category_has_null_category_and_category_name(api_client):
    product = make_product(category=None, stock=0, description="", price=Decimal("7"))

    body = api_client.get(detail_url(product.pk)).json()

    assert body["category"] is None
    assert body["category_name"] is None
    assert body["in_stock"] is False
    assert body["stock"] == 0
    assert body["description"] == ""
    assert body["price"] == "7.00"


def test_list_shows_each_product_exactly_as_its_detail(api_client):
    category = make_category(name="Garden")
    products = [make_product(category=category), make_product(category=None)]

    results = api_client.get(PRODUCTS_URL).json()["results"]

    by_id = {row["id"]: row for row in results}
    for product in products:
        assert by_id[product.pk] == as_listed(api_client.get(detail_url(product.pk)).json())


# --- Write permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_anonymous_writes_are_401_with_a_bearer_challenge(api_client, method):
    product = make_product()
    before = stored_products()

    response = send(api_client, method, product)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"detail", "code"}
    assert stored_products() == before


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("client_name", ["customer_client", "staff_client"])
def test_writes_without_the_model_permission_are_403(request, client_name, method):
    product = make_product()
    before = stored_products()

    response = send(request.getfixturevalue(client_name), method, product)

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert stored_products() == before


@pytest.mark.parametrize("is_staff", [False, True])
def test_add_permission_alone_creates_but_may_not_change_or_delete(is_staff):
    client = client_for(grant(make_user(is_staff=is_staff), "products.add_product"))

    created = client.post(PRODUCTS_URL, valid_payload(), format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    before = stored_products()

    assert client.patch(detail_url(pk), {"name": "Renamed"}, format="json").status_code == 403
    assert client.put(detail_url(pk), valid_payload(name="X"), format="json").status_code == 403
    assert client.delete(detail_url(pk)).status_code == 403
    assert stored_products() == before


@pytest.mark.parametrize("permission", sorted(set(PERMISSION_FOR.values())))
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_each_write_needs_exactly_its_own_model_permission(method, permission):
    client = client_for(grant(make_staff(), permission))
    product = make_product()
    before = stored_products()

    response = send(client, method, product)

    if PERMISSION_FOR[method] == permission:
        assert response.status_code == SUCCESS[method], response.content
    else:
        assert response.status_code == 403
        assert stored_products() == before


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_editor_may_make_every_write(editor_client, method):
    product = make_product()

    response = send(editor_client, method, product)

    assert response.status_code == SUCCESS[method], response.content


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_superuser_may_make_every_write_without_grants(method):
    root = make_user(is_staff=True, is_superuser=True)
    product = make_product()

    response = send(client_for(root), method, product)

    assert response.status_code == SUCCESS[method], response.content


def test_editor_creates_a_product_with_a_real_bearer_token(api_client, editor):
    tokens = obtain_tokens(api_client, "eddie")

    response = bearer_client(tokens["access"]).post(PRODUCTS_URL, valid_payload(), format="json")

    assert response.status_code == 201, response.content
    assert Product.objects.filter(sku="LNT-001").exists()


# --- Successful writes ---------------------------------------------------------------------------


def test_create_stores_and_returns_the_product(editor_client):
    kitchen = make_category(name="Kitchen")

    response = editor_client.post(
        PRODUCTS_URL, valid_payload(category=kitchen.pk, price="5.5"), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    product = Product.objects.get()
    assert body == {
        "id": product.pk,
        "name": "Oak Lantern",
        "sku": "LNT-001",
        "description": "A lantern of oak and glass.",
        "price": "5.50",
        "stock": 4,
        "in_stock": True,
        "is_active": True,
        "category": kitchen.pk,
        "category_name": "Kitchen",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "images": [],
    }
    assert (product.name, product.sku, product.price, product.stock) == (
        "Oak Lantern",
        "LNT-001",
        Decimal("5.50"),
        4,
    )
    assert product.category == kitchen
    assert parse_timestamp(body["created_at"]) == product.created_at
    assert parse_timestamp(body["updated_at"]) == product.updated_at


def test_is_active_defaults_to_true_and_stock_to_zero(editor_client):
    payload = {"name": "Bare", "sku": "BARE-1", "price": "1.00"}

    response = editor_client.post(PRODUCTS_URL, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["is_active"], body["stock"], body["in_stock"]) == (True, 0, False)
    assert (body["description"], body["category"], body["category_name"]) == ("", None, None)
    product = Product.objects.get(sku="BARE-1")
    assert (product.is_active, product.stock) == (True, 0)


@pytest.mark.parametrize(("stock", "in_stock"), [(0, False), (1, True), (250, True)])
def test_in_stock_follows_stock(editor_client, api_client, stock, in_stock):
    product = make_product(stock=0 if stock else 9)

    response = editor_client.patch(detail_url(product.pk), {"stock": stock}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["stock"], response.json()["in_stock"]) == (stock, in_stock)
    assert api_client.get(detail_url(product.pk)).json()["in_stock"] is in_stock


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "n" * 200),
        ("name", "Ünïcødé lamp ✓"),
        ("sku", "S" * 64),
        ("sku", "a.B-c_9"),
        ("sku", "X"),
        ("price", "0"),
        ("price", "0.00"),
        ("price", "99999999.99"),
        ("price", "3.1"),
        ("stock", 0),
        ("stock", 2_147_483_647),
        ("description", ""),
        ("is_active", False),
    ],
    ids=lambda value: str(value)[:20],
)
def test_create_accepts_values_at_the_edges_of_the_contract(editor_client, field, value):
    response = editor_client.post(PRODUCTS_URL, valid_payload(**{field: value}), format="json")

    assert response.status_code == 201, response.content
    stored = Product.objects.values(field).get()[field]
    assert stored == (Decimal(value) if field == "price" else value)


def test_put_replaces_every_writable_field(editor_client):
    old, new = make_category(name="Old"), make_category(name="New")
    product = make_product(category=old, is_active=True)
    payload = valid_payload(
        name="Replaced", sku="REPL-9", description="", price="0.99", stock=0, is_active=False
    )

    response = editor_client.put(detail_url(product.pk), payload | {"category": new.pk})

    assert response.status_code == 200, response.content
    product.refresh_from_db()
    assert (product.name, product.sku, product.description) == ("Replaced", "REPL-9", "")
    assert (product.price, product.stock, product.is_active) == (Decimal("0.99"), 0, False)
    assert product.category == new
    assert response.json()["category_name"] == "New"


def test_put_requires_the_required_fields(editor_client):
    product = make_product()
    before = stored_products()

    response = editor_client.put(detail_url(product.pk), {"name": "Only a name"}, format="json")

    assert response.status_code == 400
    assert {"sku", "price"} <= set(response.json())
    assert stored_products() == before


def test_create_requires_name_sku_and_price(editor_client):
    response = editor_client.post(PRODUCTS_URL, {}, format="json")

    assert response.status_code == 400
    assert {"name", "sku", "price"} <= set(response.json())
    assert not Product.objects.exists()


def test_patch_changes_only_what_it_names(editor_client):
    product = make_product(name="Before", price=Decimal("3.00"), stock=5)

    response = editor_client.patch(detail_url(product.pk), {"price": "4.25"}, format="json")

    assert response.status_code == 200, response.content
    product.refresh_from_db()
    assert (product.name, product.price, product.stock) == ("Before", Decimal("4.25"), 5)
    assert response.json()["price"] == "4.25"


def test_patch_may_clear_the_category(editor_client):
    product = make_product(category=make_category())

    response = editor_client.patch(detail_url(product.pk), {"category": None}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["category"], response.json()["category_name"]) == (None, None)
    product.refresh_from_db()
    assert product.category is None


def test_patch_moves_updated_at_and_keeps_created_at(editor_client):
    long_ago = datetime(2025, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)
    product = make_product(created_at=long_ago)
    Product.objects.filter(pk=product.pk).update(updated_at=long_ago)

    response = editor_client.patch(detail_url(product.pk), {"stock": 42}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created_at"] == "2025-01-01T12:00:00.500000Z"
    assert parse_timestamp(body["updated_at"]) > long_ago
    product.refresh_from_db()
    assert product.created_at == long_ago
    assert product.updated_at == parse_timestamp(body["updated_at"])


def test_read_only_fields_in_the_body_are_ignored(editor_client):
    sneaky = {
        "id": 987654,
        "in_stock": True,
        "category_name": "Forged",
        "created_at": "2000-01-01T00:00:00.000000Z",
        "updated_at": "2000-01-01T00:00:00.000000Z",
    }

    response = editor_client.post(PRODUCTS_URL, valid_payload(stock=0) | sneaky, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != 987654
    assert (body["in_stock"], body["category_name"]) == (False, None)
    product = Product.objects.get()
    assert product.pk == body["id"]
    assert product.created_at.year > 2000
    assert product.updated_at.year > 2000


def test_delete_removes_the_row(editor_client, api_client):
    product, other = make_product(), make_product()

    response = editor_client.delete(detail_url(product.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Product.objects.values_list("pk", flat=True)) == [other.pk]
    assert api_client.get(detail_url(product.pk)).status_code == 404


# --- Rejected inputs ----------------------------------------------------------------------------

BAD_VALUES = [
    pytest.param("price", "-0.01", id="price-negative"),
    pytest.param("price", "1.001", id="price-three-decimals"),
    pytest.param("price", "0.005", id="price-fractional-cent"),
    pytest.param("price", "100000000.00", id="price-over-maximum"),
    pytest.param("price", "99999999.995", id="price-over-maximum-by-fraction"),
    pytest.param("price", 12.5, id="price-json-float"),
    pytest.param("price", 12, id="price-json-integer"),
    pytest.param("price", True, id="price-bool"),
    pytest.param("price", "twelve", id="price-words"),
    pytest.param("price", "NaN", id="price-nan"),
    pytest.param("price", "Infinity", id="price-infinity"),
    pytest.param("price", None, id="price-null"),
    pytest.param("price", "", id="price-empty"),
    pytest.param("stock", "5", id="stock-string"),
    pytest.param("stock", 1.5, id="stock-fraction"),
    pytest.param("stock", -1, id="stock-negative"),
    pytest.param("stock", True, id="stock-bool"),
    pytest.param("stock", None, id="stock-null"),
    pytest.param("stock", 10**20, id="stock-beyond-any-column"),
    pytest.param("sku", "has space", id="sku-space"),
    pytest.param("sku", "a/b", id="sku-slash"),
    pytest.param("sku", "a@b", id="sku-at"),
    pytest.param("sku", "", id="sku-empty"),
    pytest.param("sku", "S" * 65, id="sku-65-chars"),
    pytest.param("sku", "ab\x00c", id="sku-nul"),
    pytest.param("sku", 123, id="sku-number"),
    pytest.param("category", 999_999, id="category-unknown"),
    pytest.param("category", 2**63, id="category-beyond-any-id"),
    pytest.param("category", "1", id="category-string"),
    pytest.param("category", True, id="category-bool"),
    pytest.param("name", "n" * 10_000, id="name-10000-chars"),
    pytest.param("name", "n" * 201, id="name-201-chars"),
    pytest.param("name", "", id="name-empty"),
    pytest.param("name", " \t\x1d\u3000", id="name-only-whitespace"),
    pytest.param("name", "n" * 200 + " ", id="name-201-chars-with-a-trailing-space"),
    pytest.param("name", "a\x00b", id="name-nul"),
    pytest.param("name", 123, id="name-number"),
    pytest.param("name", None, id="name-null"),
    pytest.param("description", "a\x00b", id="description-nul"),
    pytest.param("description", "d" * 10_000, id="description-10000-chars"),
    pytest.param("description", 5, id="description-number"),
    pytest.param("is_active", None, id="is_active-null"),
]


def resolve(field: str, value, category):
    """A string category id names a category that exists: only its JSON type is wrong."""
    if field == "category" and value == "1":
        return str(category.pk)
    return value


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_create_rejects_a_bad_field_and_writes_nothing(editor_client, field, value):
    category = make_category()
    payload = valid_payload(**{field: resolve(field, value, category)})

    response = editor_client.post(PRODUCTS_URL, payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Product.objects.exists()


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_patch_rejects_a_bad_field_and_changes_nothing(editor_client, field, value):
    category = make_category()
    product = make_product(category=category)
    before = stored_products()

    response = editor_client.patch(
        detail_url(product.pk), {field: resolve(field, value, category)}, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert stored_products() == before


@pytest.mark.parametrize("taken", ["abc-123", "ABC-123", "Abc-123"])
def test_create_rejects_a_sku_taken_in_any_letter_case(editor_client, taken):
    make_product(sku="aBc-123")
    before = stored_products()

    response = editor_client.post(PRODUCTS_URL, valid_payload(sku=taken), format="json")

    assert response.status_code == 400
    assert response.json() == {"sku": [SKU_TAKEN]}
    assert stored_products() == before


def test_patch_rejects_another_products_sku_in_another_case(editor_client):
    make_product(sku="TAKEN-1")
    product = make_product(sku="MINE-1")
    before = stored_products()

    response = editor_client.patch(detail_url(product.pk), {"sku": "taken-1"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"sku": [SKU_TAKEN]}
    assert stored_products() == before


def test_patch_may_change_the_letter_case_of_its_own_sku(editor_client):
    product = make_product(sku="mine-1")

    response = editor_client.patch(detail_url(product.pk), {"sku": "MINE-1"}, format="json")

    assert response.status_code == 200, response.content
    product.refresh_from_db()
    assert product.sku == "MINE-1"


@pytest.mark.parametrize(
    "body",
    [b'{"name": "Lamp", "sku": "L-1", "price": "1.00"', b"{'name': 'Lamp'}", b"\xff\xfe", b"[1,"],
    ids=["truncated", "single-quotes", "not-utf8", "unterminated-array"],
)
def test_malformed_json_is_a_400_that_names_json_and_writes_nothing(editor_client, body):
    response = editor_client.post(PRODUCTS_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {"detail", "code"}
    assert "JSON" in response.json()["detail"]
    assert not Product.objects.exists()


def test_a_text_plain_body_is_415_and_writes_nothing(editor_client):
    body = '{"name": "Lamp", "sku": "L-1", "price": "1.00"}'

    response = editor_client.post(PRODUCTS_URL, body, content_type="text/plain")

    assert response.status_code == 415
    assert set(response.json()) == {"detail", "code"}
    assert not Product.objects.exists()


def test_a_json_array_instead_of_an_object_is_a_400(editor_client):
    response = editor_client.post(PRODUCTS_URL, [valid_payload()], format="json")

    assert response.status_code == 400
    assert not Product.objects.exists()


# --- OPTIONS: what a caller may send -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # as served: no test transaction around the request
@pytest.mark.parametrize("stale", [False, True])
@pytest.mark.parametrize(
    ("url", "make"),
    [(PRODUCTS_URL, make_product), ("/api/v1/categories/", make_category)],
    ids=["product", "category"],
)
def test_options_on_a_row_describes_the_write_an_editor_may_send(editor_client, url, make, stale):
    """DRF asks for the row under the write's method to see whether the caller may write it:
    that only reads (no lock, which needs a transaction), whatever If-Match says."""
    row = make()
    headers = {"HTTP_IF_MATCH": '"stale"'} if stale else {}

    response = editor_client.options(f"{url}{row.pk}/", **headers)

    assert response.status_code == 200, response.content
    assert "PUT" in response.json()["actions"]
    assert "PUT" in response["Allow"]
