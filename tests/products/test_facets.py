"""The product list's facet counts (API.md, "Facet counts"): every count is checked against one
found here in plain Python from the rows the test made, over many mixes of filters, for
customers and for staff."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from products.models import Product
from tests.factories import make_category, make_product

FACETS_URL = "/api/v1/products/facets/"
START = datetime(2026, 3, 1, tzinfo=UTC)
BANDS = [(0, 10), (10, 50), (50, 100), (100, 500), (500, None)]
# Prices on and beside every band's bounds.
PRICES = ["0.00", "9.99", "10.00", "10.01", "49.99", "50.00", "99.99", "100.00", "499.99"]
PRICES += ["500.00", "500.01", "12345.67"]
WORDS = ["oak", "pine", "lamp", "chair"]


@pytest.fixture
def shop():
    """60 products over four categories (and none), three of them a branch of the tree (Room 0 >
    Room 1 > Room 2), every price band, in and out of stock, on and off sale, created a day
    apart, named from two words each."""
    categories = []
    for n in range(4):
        parent = categories[-1] if 0 < n < 3 else None
        categories.append(make_category(name=f"Room {n}", slug=f"room-{n}", parent=parent))
    rng = random.Random(7)
    for n in range(60):
        make_product(
            name=f"{rng.choice(WORDS)} {rng.choice(WORDS)} {n}",
            price=Decimal(rng.choice(PRICES)),
            stock=rng.choice([0, 0, 1, 5]),
            is_active=rng.random() < 0.75,
            category=rng.choice([*categories, None]),
            created_at=START + timedelta(days=n % 20),
        )
    return categories


def band_of(price: Decimal) -> int:
    return next(n for n, (low, high) in enumerate(BANDS) if high is None or price < high)


def lineage(product: Product) -> list:
    """The product's category and every category above it."""
    found, category = [], product.category
    while category is not None:
        found.append(category)
        category = category.parent
    return found


def keeps(product: Product, params: dict, *, staff: bool, leave_out: tuple = ()) -> bool:
    """What the list shows for `params`, minus the filters `leave_out` names."""
    given = {key: value for key, value in params.items() if key not in leave_out}
    checks = [
        product.is_active or staff,
        "search" not in given or given["search"] in product.name,
        "category" not in given or any(c.pk in given["category"] for c in lineage(product)),
        "min_price" not in given or product.price >= Decimal(given["min_price"]),
        "max_price" not in given or product.price <= Decimal(given["max_price"]),
        "in_stock" not in given or (product.stock > 0) == (given["in_stock"] == "true"),
        "created_after" not in given
        or product.created_at.date().isoformat() >= given["created_after"],
        "created_before" not in given
        or product.created_at.date().isoformat() <= given["created_before"],
        not staff
        or "is_active" not in given
        or product.is_active == (given["is_active"] == "true"),
    ]
    return all(checks)


def expected_facets(params: dict, *, staff: bool) -> dict:
    products = list(Product.objects.select_related("category__parent__parent"))

    def matching(*leave_out):
        return [p for p in products if keeps(p, params, staff=staff, leave_out=leave_out)]

    categories = {}
    for product in matching("category"):
        for category in lineage(product):  # a category counts its whole subtree
            entry = categories.setdefault(
                category.pk, {"id": category.pk, "name": category.name, "slug": category.slug}
            )
            entry["count"] = entry.get("count", 0) + 1
    by_stock = matching("in_stock")
    by_price = matching("min_price", "max_price")
    return {
        "count": len(matching()),
        "categories": sorted(categories.values(), key=lambda entry: (entry["name"], entry["id"])),
        "in_stock": {
            "true": sum(p.stock > 0 for p in by_stock),
            "false": sum(p.stock == 0 for p in by_stock),
        },
        "price": [
            {
                "min": f"{low:.2f}",
                "max": None if high is None else f"{high:.2f}",
                "count": sum(band_of(p.price) == n for p in by_price),
            }
            for n, (low, high) in enumerate(BANDS)
        ],
    }


def random_params(rng: random.Random, categories, *, staff: bool) -> dict:
    params = {}
    if rng.random() < 0.4:
        params["search"] = rng.choice(WORDS)
    if rng.random() < 0.5:
        params["category"] = [c.pk for c in rng.sample(categories, rng.randint(1, 3))]
    if rng.random() < 0.4:
        params["min_price"] = rng.choice(PRICES)
    if rng.random() < 0.4:
        params["max_price"] = rng.choice(PRICES)
    if rng.random() < 0.4:
        params["in_stock"] = rng.choice(["true", "false"])
    if rng.random() < 0.3:
        params["created_after"] = (START + timedelta(days=rng.randint(0, 19))).date().isoformat()
    if rng.random() < 0.3:
        params["created_before"] = (START + timedelta(days=rng.randint(0, 19))).date().isoformat()
    if rng.random() < (0.4 if staff else 0.1):  # ignored for customers
        params["is_active"] = rng.choice(["true", "false"])
    return params


@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
def test_every_count_matches_a_brute_force_count_over_many_filter_mixes(request, client_name, shop):
    client = request.getfixturevalue(client_name)
    staff = client_name == "staff_client"
    rng = random.Random(client_name)
    for _ in range(60):
        params = random_params(rng, shop, staff=staff)
        response = client.get(FACETS_URL, params)
        assert response.status_code == 200, (params, response.content)
        assert response.json() == expected_facets(params, staff=staff), params


def test_the_shop_fixture_spreads_over_every_facet(shop):
    facets = expected_facets({}, staff=True)
    assert len(facets["categories"]) == 4
    assert all(band["count"] > 0 for band in facets["price"])
    assert facets["in_stock"]["true"] > 0
    assert facets["in_stock"]["false"] > 0
    assert facets["count"] > expected_facets({}, staff=False)["count"]


@pytest.mark.parametrize(
    ("price", "band"),
    [
        ("0.00", 0),
        ("9.99", 0),
        ("10.00", 1),
        ("49.99", 1),
        ("50.00", 2),
        ("100.00", 3),
        ("499.99", 3),
        ("500.00", 4),
        ("99999999.99", 4),
    ],
)
def test_a_price_is_in_the_one_band_that_holds_its_min_but_not_its_max(api_client, price, band):
    make_product(price=Decimal(price))
    response = api_client.get(FACETS_URL)
    assert [entry["count"] for entry in response.json()["price"]] == [
        int(n == band) for n in range(5)
    ]


def test_the_answer_without_products_lists_no_category_and_every_band_at_zero(api_client):
    make_category()
    response = api_client.get(FACETS_URL)
    assert response.status_code == 200
    assert response.json() == {
        "count": 0,
        "categories": [],
        "in_stock": {"true": 0, "false": 0},
        "price": [
            {"min": "0.00", "max": "10.00", "count": 0},
            {"min": "10.00", "max": "50.00", "count": 0},
            {"min": "50.00", "max": "100.00", "count": 0},
            {"min": "100.00", "max": "500.00", "count": 0},
            {"min": "500.00", "max": None, "count": 0},
        ],
    }


def test_customers_never_count_inactive_products(customer_client):
    category = make_category()
    make_product(category=category, is_active=False, stock=0, price=Decimal("600"))
    response = customer_client.get(FACETS_URL, {"is_active": "false"})
    body = response.json()
    assert body["count"] == 0
    assert body["categories"] == []
    assert body["in_stock"] == {"true": 0, "false": 0}


@pytest.mark.parametrize(
    ("param", "value"),
    [("category", "x"), ("min_price", "1e2"), ("in_stock", "maybe"), ("created_after", "May")],
)
def test_a_bad_filter_is_a_400_naming_it(api_client, param, value):
    response = api_client.get(FACETS_URL, {param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_the_answer_has_an_etag_and_is_304_when_unchanged(api_client):
    make_product()
    first = api_client.get(FACETS_URL, {"in_stock": "true"})
    again = api_client.get(FACETS_URL, {"in_stock": "true"}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    make_product()
    changed = api_client.get(FACETS_URL, {"in_stock": "true"}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed.json()["count"] == 2


@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
@pytest.mark.parametrize(
    ("params", "queries"),
    [
        # One scan counts what the count, the stock and the price facets share, the categories
        # are another, and the tree they are rolled up in a third; a facet whose own filter is
        # sent filters other rows: one scan more.
        ({}, 3),
        ({"search": "oak", "category": "shop", "created_after": "2026-03-02"}, 3),
        ({"in_stock": "true"}, 4),
        ({"max_price": "50"}, 4),
        ({"search": "oak", "category": "shop", "min_price": "10", "in_stock": "true"}, 5),
    ],
)
def test_facets_cost_a_fixed_number_of_queries(
    request, client_name, shop, params, queries, django_assert_num_queries
):
    client = request.getfixturevalue(client_name)
    if "category" in params:
        params = params | {"category": [shop[0].pk]}
    with django_assert_num_queries(queries):
        response = client.get(FACETS_URL, params)
    assert response.json() == expected_facets(params, staff=client_name == "staff_client")


@pytest.fixture
def _cache_on(settings):
    settings.API_CACHE_SECONDS = 300


@pytest.mark.usefixtures("_cache_on")
def test_a_repeated_answer_comes_from_the_cache_for_one_small_query(
    api_client, shop, django_assert_num_queries
):
    params = {"category": [shop[1].pk], "in_stock": "false"}
    first = api_client.get(FACETS_URL, params)
    with django_assert_num_queries(1):  # the catalog's versions
        again = api_client.get(FACETS_URL, params)
    assert again.content == first.content
    assert first.json() == expected_facets(params, staff=False)


@pytest.mark.usefixtures("_cache_on")
@pytest.mark.parametrize(
    "write",
    [
        lambda: make_product(price=Decimal("75")),
        lambda: Product.objects.filter(stock=0).update(stock=3),
        lambda: Product.objects.update(price=Decimal("1")),
        lambda: Product.objects.filter(is_active=True).update(is_active=False),
        lambda: Product.objects.filter(pk=Product.objects.first().pk).delete(),
        lambda: Product.objects.exclude(category=None).update(category=None),
    ],
)
def test_any_write_that_changes_a_count_is_seen_by_the_next_answer(api_client, shop, write):
    api_client.get(FACETS_URL)
    write()
    assert api_client.get(FACETS_URL).json() == expected_facets({}, staff=False)


@pytest.mark.usefixtures("_cache_on")
def test_a_renamed_category_shows_its_new_name_at_once(api_client, shop):
    api_client.get(FACETS_URL)
    shop[0].name = "Attic"
    shop[0].save()
    names = [entry["name"] for entry in api_client.get(FACETS_URL).json()["categories"]]
    assert names[0] == "Attic"


@pytest.mark.usefixtures("_cache_on")
def test_staff_and_customers_never_share_a_cached_answer(api_client, staff_client, shop):
    staff_answer = staff_client.get(FACETS_URL).json()
    assert api_client.get(FACETS_URL).json() == expected_facets({}, staff=False)
    assert staff_answer == expected_facets({}, staff=True)


def test_the_browsable_api_shows_the_counts(api_client):
    make_product(price=Decimal("12"))
    response = api_client.get(FACETS_URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"&quot;10.00&quot;" in response.content
