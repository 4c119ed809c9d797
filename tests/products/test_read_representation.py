"""The fast read path (API.md, "Catalog"): catalog reads are built from plain rows as the
resource declaration says (`products.resources`), not by DRF's fields, so these tests hold the
two equal, value and JSON type, and pin what a read costs in SQL."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from products.images import add_image, prepare
from products.models import Category, Product
from products.resources import CATEGORY, PRODUCT
from products.serializers import CategorySerializer, ProductSerializer
from tests.factories import make_category, make_product, make_products
from tests.products.images import as_listed, image_bytes, upload

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
PRODUCT_VARIANTS = {
    "in a category": {"category": "lamps"},
    "without a category": {"category": None},
    "out of stock": {"stock": 0},
    "in stock": {"stock": 7},
    "largest stock": {"stock": 2**31 - 1},
    "inactive": {"is_active": False},
    "free": {"price": Decimal("0.00")},
    "price with a trailing zero": {"price": Decimal("1.10")},
    "largest price": {"price": Decimal("99999999.99")},
    "created on a whole second": {"created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)},
    "created with microseconds": {"created_at": datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)},
    "created in another time zone": {
        "created_at": datetime(2025, 6, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    },
    "with a long description": {"description": 'Line one.\nLine two: ünïcödé, "quoted".'},
}


def typed(representation: dict) -> dict:
    """Each value with its type: `True == 1` and `"1" != 1` must not hide behind `==`."""
    return {key: (type(value).__name__, value) for key, value in representation.items()}


def product_fields(variant: str) -> dict:
    fields = dict(PRODUCT_VARIANTS[variant])
    if fields.get("category") == "lamps":
        fields["category"] = make_category(name="Lamps")
    return fields


# --- rows against the serializer --------------------------------------------------------------


@pytest.mark.parametrize("variant", list(PRODUCT_VARIANTS))
def test_a_product_row_is_represented_as_the_serializer_represents_the_product(variant):
    product = make_product(**product_fields(variant))
    make_product(category=make_category())  # a neighbour, so the row is picked, not the only one

    row = PRODUCT.rows(Product.objects.all()).get(pk=product.pk)
    expected = ProductSerializer(Product.objects.for_api().get(pk=product.pk)).data

    assert typed(PRODUCT.represent(row)) == typed(expected)
    assert list(PRODUCT.represent(row)) == list(expected)


def test_a_whole_second_timestamp_keeps_its_six_zero_microseconds():
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    product = make_product(created_at=moment)
    Product.objects.filter(pk=product.pk).update(updated_at=moment)

    row = PRODUCT.rows(Product.objects.all()).get(pk=product.pk)

    represented = PRODUCT.represent(row)
    assert represented["created_at"] == "2025-01-02T03:04:05.000000Z"
    assert represented["updated_at"] == "2025-01-02T03:04:05.000000Z"


@pytest.mark.parametrize(
    ("price", "text"),
    [("0.00", "0.00"), ("0.1", "0.10"), ("1.10", "1.10"), ("99999999.99", "99999999.99")],
)
def test_a_price_is_a_string_with_two_places(price, text):
    product = make_product(price=Decimal(price))

    row = PRODUCT.rows(Product.objects.all()).get(pk=product.pk)

    assert PRODUCT.represent(row)["price"] == text


CATEGORY_VARIANTS = {
    "empty": [],
    "with products on sale": [True, True],
    "with inactive products only": [False],
    "with both": [True, False, True],
    "in a tree": [True],
}


@pytest.mark.parametrize("variant", list(CATEGORY_VARIANTS))
def test_a_category_row_is_represented_as_the_serializer_represents_the_category(variant):
    parent = make_category(parent=make_category()) if variant == "in a tree" else None
    category = make_category(
        description="Things that glow." if variant == "with both" else "", parent=parent
    )
    for is_active in CATEGORY_VARIANTS[variant]:
        make_product(category=category, is_active=is_active)
    make_product(category=make_category(parent=category), is_active=variant == "in a tree")
    make_product(category=make_category())

    row = CATEGORY.rows(Category.objects.for_api()).get(pk=category.pk)
    expected = CategorySerializer(Category.objects.for_api().get(pk=category.pk)).data

    assert typed(CATEGORY.represent(row)) == typed(expected)
    assert expected["product_count"] == CATEGORY_VARIANTS[variant].count(True) + (
        variant == "in a tree"
    )
    assert len(expected["ancestors"]) == (2 if variant == "in a tree" else 0)


# --- Lists and details agree --------------------------------------------------------------------


@pytest.fixture
def catalog():
    lamps = make_category(name="Lamps", description="Bright.")
    make_category(name="Empty")
    pictured = make_product(category=lamps, price=Decimal("0.00"), stock=0)
    for position in (2, 1):
        add_image(product=pictured, prepared=prepare(upload(image_bytes())), position=position)
    make_product(category=lamps, price=Decimal("1.10"), is_active=False)
    make_product(category=None, price=Decimal("99999999.99"))
    make_product(created_at=datetime(2024, 2, 29, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
@pytest.mark.parametrize("url", [PRODUCTS_URL, CATEGORIES_URL])
def test_each_list_row_equals_the_detail_body(request, catalog, client_name, url):
    client = request.getfixturevalue(client_name)

    listed = client.get(url, {"page_size": 100})

    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert rows
    for row in rows:
        detail = client.get(f"{url}{row['id']}/")
        assert detail.status_code == 200
        expected = as_listed(detail.json()) if url == PRODUCTS_URL else detail.json()
        assert typed(expected) == typed(row)


def test_the_staff_list_includes_inactive_products_with_their_detail_bodies(staff_client, catalog):
    rows = staff_client.get(PRODUCTS_URL).json()["results"]

    inactive = [row for row in rows if not row["is_active"]]
    assert len(inactive) == 1
    detail = staff_client.get(f"{PRODUCTS_URL}{inactive[0]['id']}/").json()
    assert as_listed(detail) == inactive[0]


# --- Ids no row can have ------------------------------------------------------------------------


BAD_IDS = [0, 2**63 - 1, 2**63, 2**64 + 1, 10**30]


@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
@pytest.mark.parametrize("pk", BAD_IDS)
@pytest.mark.parametrize("url", [PRODUCTS_URL, CATEGORIES_URL])
def test_reading_an_id_no_row_can_have_is_a_json_404(request, client_name, url, pk):
    make_product(category=make_category())

    response = request.getfixturevalue(client_name).get(f"{url}{pk}/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert list(response.json()) == ["detail", "code"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("pk", BAD_IDS)
@pytest.mark.parametrize("url", [PRODUCTS_URL, CATEGORIES_URL])
def test_writing_to_an_id_no_row_can_have_is_a_json_404(editor_client, url, pk, method):
    make_product(category=make_category())
    before = (list(Product.objects.values()), list(Category.objects.values()))

    response = getattr(editor_client, method)(f"{url}{pk}/", {"name": "X"}, format="json")

    assert response.status_code == 404
    assert list(response.json()) == ["detail", "code"]
    assert (list(Product.objects.values()), list(Category.objects.values())) == before


# --- What a read costs --------------------------------------------------------------------------


def test_a_product_detail_costs_its_row_and_its_images(api_client, django_assert_num_queries):
    product = make_product(category=make_category())

    with django_assert_num_queries(2):
        response = api_client.get(f"{PRODUCTS_URL}{product.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == product.pk


def test_a_missing_product_detail_costs_one_query(api_client, django_assert_num_queries):
    hidden = make_product(is_active=False)

    with django_assert_num_queries(1):
        response = api_client.get(f"{PRODUCTS_URL}{hidden.pk}/")

    assert response.status_code == 404


def test_a_category_detail_costs_one_query(api_client, django_assert_num_queries):
    category = make_category()
    make_products(3, category=category)

    with django_assert_num_queries(1):
        response = api_client.get(f"{CATEGORIES_URL}{category.pk}/")

    assert response.status_code == 200
    assert response.json()["product_count"] == 3


@pytest.mark.parametrize("page_size", [None, 1, 100])
def test_a_product_list_costs_a_count_and_a_page(api_client, django_assert_num_queries, page_size):
    make_products(30, category=make_category())
    make_products(5)
    params = {} if page_size is None else {"page_size": page_size}

    with django_assert_num_queries(2):  # count, page
        response = api_client.get(PRODUCTS_URL, params)

    assert response.status_code == 200
    assert response.json()["count"] == 35
    assert len(response.json()["results"]) == min(page_size or 20, 35)


def test_a_category_list_costs_a_count_and_a_page(api_client, django_assert_num_queries):
    for _ in range(25):
        make_product(category=make_category())

    with django_assert_num_queries(2):  # count, page
        response = api_client.get(CATEGORIES_URL, {"page_size": 100})

    assert response.status_code == 200
    assert response.json()["count"] == 25
    assert all(row["product_count"] == 1 for row in response.json()["results"])
