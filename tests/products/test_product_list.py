"""The product list: every query parameter of API.md's table ("Product list query parameters"),
alone and combined, its pages and its cost. Expected rows are computed here in plain Python
from the rows the test made, never by asking the code under test."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from products.models import Category
from tests.factories import make_category, make_product

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
ABSOLUTE_PRODUCTS_URL = "http://testserver/api/v1/products/"
BIG_PAGE = {"page_size": 100}
START = datetime(2026, 3, 1, tzinfo=UTC)
COLOURS = ["Red", "Blue", "Green", "Oak"]
NOUNS = [("Chair", "CH"), ("Table", "TB"), ("Lamp", "LP")]
DESCRIPTIONS = ["", "Solid oak, oiled.", "With LED bulb.", "Handmade in Porto."]
PRICES = ["5.00", "9.99", "10.00", "10.01", "20.00", "0.00"]
STOCKS = [0, 3, 7]
CATALOG_SIZE = 36


@dataclass(frozen=True)
class Row:
    """What the test knows about a product it made."""

    id: int
    name: str
    description: str
    sku: str
    price: Decimal
    stock: int
    is_active: bool
    category: int | None
    created_at: datetime


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def make_row(**fields) -> Row:
    product = make_product(**fields)
    return Row(
        id=product.pk,
        name=product.name,
        description=product.description,
        sku=product.sku,
        price=Decimal(product.price),
        stock=product.stock,
        is_active=product.is_active,
        category=product.category_id,
        created_at=product.created_at,
    )


@pytest.fixture
def categories() -> dict[str, Category]:
    return {key: make_category(name=f"Catalog {key}") for key in ("c0", "c1", "c2")}


@pytest.fixture
def catalog(categories) -> list[Row]:
    """36 products whose attributes cycle at different rates, so every filter splits them
    differently; names, prices, stocks and creation times repeat, so every ordering has ties."""
    category_cycle = [categories["c0"], categories["c1"], categories["c2"], None]
    rows = []
    for i in range(CATALOG_SIZE):
        noun, code = NOUNS[i % 3]
        rows.append(
            make_row(
                name=f"{COLOURS[i % 4]} {noun}",
                description=DESCRIPTIONS[(i // 3) % 4],
                sku=f"{code}-{i:03d}",
                price=Decimal(PRICES[i % 6]),
                stock=STOCKS[(i // 2) % 3],
                is_active=i % 5 != 0,
                category=category_cycle[(i // 3) % 4],
                created_at=START + timedelta(hours=10 * (i // 2)),
            )
        )
    return rows


# --- The expected answer, in plain Python ---------------------------------------------------------


def matches_search(row: Row, text: str) -> bool:
    words = text.replace(",", " ").split()
    fields = (row.name.lower(), row.description.lower(), row.sku.lower())
    return all(any(word.lower() in field for field in fields) for word in words)


def lower_bound(text: str) -> datetime:
    if "T" in text:
        return datetime.fromisoformat(text)
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


def is_before_or_at(created: datetime, text: str) -> bool:
    """A bare date takes in its whole day: anything before the next midnight."""
    if "T" in text:
        return created <= datetime.fromisoformat(text)
    return created < lower_bound(text) + timedelta(days=1)


def truth(text: str) -> bool:
    return {"true": True, "false": False}[text]


def keeps(row: Row, params: dict, *, staff: bool) -> bool:
    checks = [
        row.is_active or staff,
        "is_active" not in params or not staff or row.is_active == truth(params["is_active"]),
        "search" not in params or matches_search(row, params["search"]),
        "category" not in params or row.category in params["category"],
        "min_price" not in params or row.price >= Decimal(params["min_price"]),
        "max_price" not in params or row.price <= Decimal(params["max_price"]),
        "in_stock" not in params or (row.stock > 0) == truth(params["in_stock"]),
        "created_after" not in params or row.created_at >= lower_bound(params["created_after"]),
        "created_before" not in params or is_before_or_at(row.created_at, params["created_before"]),
    ]
    return all(checks)


def ordered(rows: list[Row], ordering: str = "-created_at") -> list[int]:
    """Sort by each key, then by `-id`: Python's sort is stable, so sort by the last key
    first (`-id`) and by the first key last."""
    result = sorted(rows, key=lambda row: row.id, reverse=True)
    for key in reversed(ordering.split(",")):
        field = key.lstrip("-")
        result = sorted(result, key=lambda row, f=field: getattr(row, f), reverse=key[0] == "-")
    return [row.id for row in result]


def expected_ids(rows: list[Row], params: dict, *, staff: bool) -> list[int]:
    kept = [row for row in rows if keeps(row, params, staff=staff)]
    return ordered(kept, params.get("ordering", "-created_at"))


def with_category_ids(params: dict, categories: dict[str, Category]) -> dict:
    """Parameters name categories by fixture key ("c0"); the request needs their ids."""
    if "category" not in params:
        return params
    return params | {"category": [categories[key].pk for key in params["category"]]}


# --- Filters alone and combined -------------------------------------------------------------------

LIST_CASES = [
    pytest.param({}, id="no-parameters"),
    pytest.param({"search": "oak"}, id="search-one-word-in-name-or-description"),
    pytest.param({"search": "OAK"}, id="search-any-case"),
    pytest.param({"search": "oak chair"}, id="search-all-words-across-fields"),
    pytest.param({"search": "led red"}, id="search-description-and-name"),
    pytest.param({"search": "tb-01"}, id="search-sku"),
    pytest.param({"search": "porto lamp lp"}, id="search-three-words"),
    pytest.param({"search": "chair table"}, id="search-words-that-never-meet"),
    pytest.param({"search": "nothing-like-this"}, id="search-no-match"),
    pytest.param({"category": ["c0"]}, id="category-one"),
    pytest.param({"category": ["c0", "c2"]}, id="category-repeated"),
    pytest.param({"min_price": "10.00"}, id="min-price-at-a-price"),
    pytest.param({"max_price": "10"}, id="max-price-at-a-price"),
    pytest.param({"min_price": "9.99", "max_price": "10.01"}, id="price-window"),
    pytest.param({"max_price": "0"}, id="max-price-zero"),
    pytest.param({"in_stock": "true"}, id="in-stock-true"),
    pytest.param({"in_stock": "false"}, id="in-stock-false"),
    pytest.param({"created_after": "2026-03-03"}, id="created-after-date"),
    pytest.param({"created_before": "2026-03-03"}, id="created-before-date-whole-day"),
    pytest.param(
        {"created_after": "2026-03-03", "created_before": "2026-03-03"}, id="created-one-day"
    ),
    pytest.param({"created_after": "2026-03-02T16:00:00Z"}, id="created-after-instant"),
    pytest.param({"created_before": "2026-03-02T16:00:00Z"}, id="created-before-instant"),
    pytest.param({"created_before": "2026-03-02T16:00:00.000001Z"}, id="created-microsecond"),
    pytest.param({"created_after": "2026-03-02T17:00:00+01:00"}, id="created-with-offset"),
    # ISO 8601 offsets reach ±23:59; PostgreSQL's stop at ±15:59.
    pytest.param({"created_after": "2026-03-03T10:55:00+18:55"}, id="created-offset-past-16h"),
    pytest.param({"created_before": "2026-03-02T00:30:00-23:30"}, id="created-offset-minus-23h"),
    pytest.param({"is_active": "true"}, id="is-active-true"),
    pytest.param({"is_active": "false"}, id="is-active-false"),
    pytest.param({"ordering": "price"}, id="order-price"),
    pytest.param({"ordering": "-price"}, id="order-price-descending"),
    pytest.param({"ordering": "name"}, id="order-name"),
    pytest.param({"ordering": "-name"}, id="order-name-descending"),
    pytest.param({"ordering": "created_at"}, id="order-created"),
    pytest.param({"ordering": "-created_at"}, id="order-created-descending"),
    pytest.param({"ordering": "stock"}, id="order-stock"),
    pytest.param({"ordering": "-stock"}, id="order-stock-descending"),
    pytest.param({"ordering": "stock,-price"}, id="order-two-keys"),
    pytest.param(
        {"search": "chair", "category": ["c1", "c2"], "in_stock": "true", "ordering": "price"},
        id="search-category-stock-ordered",
    ),
    pytest.param(
        {
            "min_price": "5",
            "max_price": "10.00",
            "created_after": "2026-03-02",
            "created_before": "2026-03-05T12:00:00Z",
            "ordering": "-stock",
        },
        id="prices-and-dates",
    ),
    pytest.param(
        {"is_active": "false", "search": "oak", "ordering": "name"}, id="inactive-oak-by-name"
    ),
    pytest.param(
        {
            "search": "a",
            "category": ["c0", "c1", "c2"],
            "min_price": "0",
            "max_price": "99999999.99",
            "in_stock": "false",
            "created_after": "2026-03-01",
            "created_before": "2026-03-08",
            "is_active": "true",
            "ordering": "-name",
        },
        id="every-parameter",
    ),
]


@pytest.mark.parametrize("params", LIST_CASES)
@pytest.mark.parametrize(
    ("client_name", "sees_everything"),
    [("api_client", False), ("customer_client", False), ("staff_client", True)],
)
def test_list_answers_every_parameter_alone_and_combined(
    request, catalog, categories, client_name, sees_everything, params
):
    client = request.getfixturevalue(client_name)
    query = with_category_ids(params, categories)
    expected = expected_ids(catalog, query, staff=sees_everything)

    response = client.get(PRODUCTS_URL, query | BIG_PAGE)

    assert ids(response) == expected
    assert response.json()["count"] == len(expected)


def test_the_catalog_fixture_splits_every_filter(catalog, categories):
    """Guards the cases above against passing vacuously: each filter keeps some rows and drops
    others, and each ordering has ties to break."""
    for params in LIST_CASES:
        kept = expected_ids(catalog, with_category_ids(params.values[0], categories), staff=True)
        if params.id not in {"no-parameters", "search-words-that-never-meet", "search-no-match"}:
            assert len(kept) > 0, params.id
        if not params.id.startswith("order") and params.id != "no-parameters":
            assert len(kept) < len(catalog), params.id
    for field in ("price", "name", "created_at", "stock"):
        values = [getattr(row, field) for row in catalog]
        assert len(set(values)) < len(values), field


# --- Focused cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_price": "10.00"}, ["10.00", "10.01"]),
        ({"max_price": "10.00"}, ["9.99", "10.00"]),
        ({"min_price": "10.00", "max_price": "10.00"}, ["10.00"]),
    ],
)
def test_a_product_priced_exactly_at_a_bound_is_in_the_list(api_client, params, expected):
    for price in ("9.99", "10.00", "10.01"):
        make_product(price=Decimal(price))

    response = api_client.get(PRODUCTS_URL, params | {"ordering": "price"})

    assert [row["price"] for row in response.json()["results"]] == expected


def test_search_matches_each_field_in_any_case_and_needs_every_word(api_client):
    by_name = make_product(name="Red Oak Chair", description="", sku="A-1")
    by_description = make_product(name="Blue Chair", description="Made of OAK", sku="A-2")
    by_sku = make_product(name="Table", description="", sku="TB-oak-9")
    make_product(name="Oak chair, hidden", is_active=False)

    def found(text):
        return sorted(ids(api_client.get(PRODUCTS_URL, {"search": text})))

    assert found("oak") == sorted([by_name.pk, by_description.pk, by_sku.pk])
    assert found("oAk ChAiR") == sorted([by_name.pk, by_description.pk])
    assert found("tb-OAK") == [by_sku.pk]
    assert found("oak table chair") == []


def test_repeated_category_parameters_combine(api_client):
    first, second, third = make_category(), make_category(), make_category()
    in_first, in_second = make_product(category=first), make_product(category=second)
    make_product(category=third)
    make_product(category=None)

    response = api_client.get(f"{PRODUCTS_URL}?category={first.pk}&category={second.pk}")

    assert sorted(ids(response)) == sorted([in_first.pk, in_second.pk])


ALL_MOMENTS = {
    "day-before": datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
    "midnight": datetime(2026, 3, 1, tzinfo=UTC),
    "noon": datetime(2026, 3, 1, 12, tzinfo=UTC),
    "last-moment": datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
    "next-midnight": datetime(2026, 3, 2, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("params", "expected_names"),
    [
        ({"created_after": "2026-03-01"}, ["midnight", "noon", "last-moment", "next-midnight"]),
        ({"created_before": "2026-03-01"}, ["day-before", "midnight", "noon", "last-moment"]),
        ({"created_after": "2026-03-01T12:00:00Z"}, ["noon", "last-moment", "next-midnight"]),
        ({"created_before": "2026-03-01T12:00:00Z"}, ["day-before", "midnight", "noon"]),
        ({"created_before": "2026-03-01T12:00:00"}, ["day-before", "midnight", "noon"]),
        ({"created_after": "2026-03-01T13:00:00+01:00"}, ["noon", "last-moment", "next-midnight"]),
        # RFC 3339 (the schema's date-time) also writes `t` and `z` in lower case
        ({"created_before": "2026-03-01t12:00:00z"}, ["day-before", "midnight", "noon"]),
        (
            {"created_after": "2026-03-01", "created_before": "2026-03-01"},
            ["midnight", "noon", "last-moment"],
        ),
        # Offsets ISO 8601 allows and PostgreSQL does not (past ±15:59), read as UTC instants
        ({"created_after": "2026-03-02T11:30:00+23:30"}, ["noon", "last-moment", "next-midnight"]),
        ({"created_before": "2026-02-28T19:00:00-17:00"}, ["day-before", "midnight", "noon"]),
        # The calendar's ends: bounds that leave nothing out (no UTC time or no next day there)
        ({"created_after": "0001-01-01T00:00:00+05:00"}, list(ALL_MOMENTS)),
        ({"created_before": "9999-12-31"}, list(ALL_MOMENTS)),
        ({"created_before": "9999-12-31T23:00:00-05:00"}, list(ALL_MOMENTS)),
        ({"created_after": "9999-12-31"}, []),
        ({"created_before": "0001-01-01"}, []),
    ],
)
def test_created_bounds_are_inclusive_for_dates_and_date_times(api_client, params, expected_names):
    for name, moment in ALL_MOMENTS.items():
        make_product(name=name, created_at=moment)

    response = api_client.get(PRODUCTS_URL, params | {"ordering": "created_at"})

    assert [row["name"] for row in response.json()["results"]] == expected_names


@pytest.mark.parametrize("client_name", ["api_client", "customer_client"])
@pytest.mark.parametrize("value", ["false", "true"])
def test_is_active_is_ignored_for_everyone_but_staff(request, client_name, value):
    on_sale = make_product(is_active=True)
    make_product(is_active=False)

    response = request.getfixturevalue(client_name).get(PRODUCTS_URL, {"is_active": value})

    assert ids(response) == [on_sale.pk]


@pytest.mark.parametrize(("value", "active"), [("true", True), ("false", False)])
def test_staff_filter_on_is_active(staff_client, value, active):
    on_sale, hidden = make_product(is_active=True), make_product(is_active=False)

    response = staff_client.get(PRODUCTS_URL, {"is_active": value})

    assert ids(response) == [on_sale.pk if active else hidden.pk]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("category", "abc"),
        ("category", "1.5"),
        ("category", "1e3"),
        ("min_price", "abc"),
        ("min_price", "NaN"),
        ("min_price", "1,50"),
        ("max_price", "ten"),
        ("in_stock", "maybe"),
        ("in_stock", "yes"),
        ("in_stock", "2"),
        ("created_after", "yesterday"),
        ("created_after", "2026-13-01"),
        ("created_after", "2026-02-30"),
        ("created_before", "01/03/2026"),
        ("created_before", "2026-03-01T25:00:00Z"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api_client, param, value):
    make_product()

    response = api_client.get(PRODUCTS_URL, {param: value})

    assert response.status_code == 400, response.content
    assert param in response.json()


@pytest.mark.parametrize("bad", ["x", "%zz", "50%", "%s", "\u00b2", "\u0661"])
def test_a_bad_category_among_good_ones_is_a_400_quoting_it(api_client, bad):
    category = make_category()

    response = api_client.get(PRODUCTS_URL, {"category": [category.pk, bad]})

    assert response.status_code == 400
    assert response.json() == {"category": [f"'{bad}' is not a category id (a whole number)."]}


@pytest.mark.parametrize("value", ["maybe", "2", "yes"])
def test_a_bad_is_active_is_a_400_for_staff(staff_client, value):
    response = staff_client.get(PRODUCTS_URL, {"is_active": value})

    assert response.status_code == 400
    assert "is_active" in response.json()


# --- Ordering -----------------------------------------------------------------------------------


def test_default_order_is_newest_first_with_ties_by_id_descending(api_client):
    moment = datetime(2026, 5, 5, 5, 5, 5, tzinfo=UTC)
    older = make_product(created_at=moment - timedelta(microseconds=1))
    tied = [make_product(created_at=moment).pk for _ in range(4)]
    newer = make_product(created_at=moment + timedelta(days=1))

    response = api_client.get(PRODUCTS_URL)

    assert ids(response) == [newer.pk, *sorted(tied, reverse=True), older.pk]


@pytest.mark.parametrize("ordering", ["price", "-price"])
def test_products_with_the_same_price_are_ordered_by_id_descending(api_client, ordering):
    cheap = make_product(price=Decimal("1.00"))
    same = [make_product(price=Decimal("5.00")).pk for _ in range(5)]
    dear = make_product(price=Decimal("9.00"))

    response = api_client.get(PRODUCTS_URL, {"ordering": ordering})

    ends = [cheap.pk, dear.pk] if ordering == "price" else [dear.pk, cheap.pk]
    assert ids(response) == [ends[0], *sorted(same, reverse=True), ends[1]]


@pytest.mark.parametrize(
    "ordering",
    ["nonsense", "-nonsense", "id", "sku", "description", "updated_at", "category__name", ""],
)
def test_an_unknown_ordering_field_is_ignored(api_client, ordering):
    moment = datetime(2026, 5, 5, tzinfo=UTC)
    products = [
        make_product(created_at=moment + timedelta(hours=hours), price=Decimal(price), sku=sku)
        for hours, price, sku in [(2, "1.00", "C-1"), (1, "3.00", "A-1"), (3, "2.00", "B-1")]
    ]
    tied = make_product(created_at=moment + timedelta(hours=2), sku="D-1")
    newest_first = [products[2].pk, tied.pk, products[0].pk, products[1].pk]

    response = api_client.get(PRODUCTS_URL, {"ordering": ordering})

    assert ids(response) == newest_first


# --- Pages --------------------------------------------------------------------------------------


def test_pages_hold_20_by_default_with_absolute_next_and_previous(api_client):
    made = [make_product().pk for _ in range(25)]

    first = api_client.get(PRODUCTS_URL).json()
    second = api_client.get(first["next"]).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (25, 20, None)
    assert first["next"].startswith(ABSOLUTE_PRODUCTS_URL)
    assert parse_qs(urlsplit(first["next"]).query) == {"page": ["2"]}
    assert (second["count"], len(second["results"]), second["next"]) == (25, 5, None)
    assert second["previous"].startswith(ABSOLUTE_PRODUCTS_URL)
    assert parse_qs(urlsplit(second["previous"]).query).get("page", ["1"]) == ["1"]
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(seen) == sorted(made)


def test_page_links_keep_the_filters(api_client):
    kept = [make_product(name=f"Lamp {n}").pk for n in range(5)]
    make_products_named("Chair", 3)

    first = api_client.get(PRODUCTS_URL, {"search": "lamp", "page_size": 2}).json()

    query = parse_qs(urlsplit(first["next"]).query)
    assert query == {"search": ["lamp"], "page_size": ["2"], "page": ["2"]}
    assert sorted(
        follow_every_page(api_client, PRODUCTS_URL, {"search": "lamp", "page_size": 2})
    ) == sorted(kept)


def make_products_named(name: str, count: int) -> None:
    for n in range(count):
        make_product(name=f"{name} {n}")


def follow_every_page(client, url, params) -> list[int]:
    response = client.get(url, params)
    seen = ids(response)
    while response.json()["next"]:
        response = client.get(response.json()["next"])
        seen += ids(response)
    return seen


@pytest.mark.parametrize(("page_size", "expected"), [(100, 100), (500, 100), (1, 1), (37, 37)])
def test_page_size_is_honoured_up_to_100(api_client, page_size, expected):
    for _ in range(105):
        make_product()

    response = api_client.get(PRODUCTS_URL, {"page_size": page_size})

    assert response.json()["count"] == 105
    assert len(response.json()["results"]) == expected


@pytest.mark.parametrize("page", ["4", "99", str(10**20)])
def test_a_page_past_the_end_is_a_json_404(api_client, page):
    for _ in range(5):
        make_product()

    response = api_client.get(PRODUCTS_URL, {"page": page, "page_size": 2})

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail", "code"}


def test_the_last_page_is_not_past_the_end(api_client):
    for _ in range(5):
        make_product()

    response = api_client.get(PRODUCTS_URL, {"page": 3, "page_size": 2})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("ordering", ["price", "-price", "stock", "name", "created_at"])
def test_paging_through_a_tie_heavy_order_returns_every_id_exactly_once(api_client, ordering):
    moment = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        make_row(
            name=f"Item {n % 2}",
            price=Decimal(["1.00", "2.00", "3.00"][n % 3]),
            stock=n % 2,
            created_at=moment + timedelta(minutes=n % 4),
        )
        for n in range(45)
    ]

    seen = follow_every_page(api_client, PRODUCTS_URL, {"ordering": ordering, "page_size": 7})

    assert len(seen) == len(set(seen)) == 45
    assert seen == ordered(rows, ordering)


# --- Cost ---------------------------------------------------------------------------------------


def queries_for(client, url, page_size: int) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == min(page_size, response.json()["count"])
    return [query["sql"] for query in captured]


def test_product_list_costs_at_most_two_queries_whatever_the_page_size(api_client):
    for _ in range(30):
        make_product(category=make_category())

    small = queries_for(api_client, PRODUCTS_URL, 1)
    large = queries_for(api_client, PRODUCTS_URL, 100)

    assert len(small) == len(large), "\n".join(large)
    assert len(large) <= 2  # a count, and the page with its categories joined


@pytest.mark.parametrize("client_name", ["customer_client", "staff_client", "editor_client"])
def test_product_list_cost_does_not_grow_with_the_page_for_anyone(request, client_name):
    client = request.getfixturevalue(client_name)
    for n in range(30):
        make_product(category=make_category(), is_active=n % 3 != 0)

    small = queries_for(client, PRODUCTS_URL, 1)
    large = queries_for(client, PRODUCTS_URL, 100)

    assert len(small) == len(large), "\n".join(large)


def test_product_list_names_each_category_without_a_query_per_row(api_client):
    categories = [make_category(name=f"Shelf {n:02d}") for n in range(10)]
    for category in categories:
        make_product(category=category)

    results = api_client.get(PRODUCTS_URL, BIG_PAGE).json()["results"]

    assert sorted(row["category_name"] for row in results) == [f"Shelf {n:02d}" for n in range(10)]


def test_category_list_costs_at_most_two_queries_whatever_the_page_size(api_client):
    for _ in range(30):
        category = make_category()
        make_product(category=category)
        make_product(category=category, is_active=False)

    small = queries_for(api_client, CATEGORIES_URL, 1)
    large = queries_for(api_client, CATEGORIES_URL, 100)

    assert len(small) == len(large), "\n".join(large)
    assert len(large) <= 2  # a count, and the page with its product counts


# --- Compiled list SQL (products/viewsets.py: ListPlan) ------------------------------------------


def test_a_repeated_list_compiles_its_sql_once_and_still_reads_fresh_rows(api_client):
    first = make_product(name="Oak lamp")
    url_params = {"search": "lamp", "ordering": "name"}
    before = api_client.get(PRODUCTS_URL, url_params).json()

    second = make_product(name="Ash lamp")
    first.price = Decimal("1.23")
    first.save()
    make_product(name="Oak lamp, old", is_active=False)
    after = api_client.get(PRODUCTS_URL, url_params).json()

    assert [row["id"] for row in before["results"]] == [first.pk]
    assert [row["id"] for row in after["results"]] == [second.pk, first.pk]
    assert after["count"] == 2
    assert after["results"][1]["price"] == "1.23"


def test_a_compiled_list_is_kept_apart_for_staff_and_for_everyone_else(api_client, staff_client):
    on_sale = make_product(name="Lamp")
    withdrawn = make_product(name="Old lamp", is_active=False)

    public = api_client.get(PRODUCTS_URL, {"search": "lamp"}).json()
    staff = staff_client.get(PRODUCTS_URL, {"search": "lamp"}).json()
    public_again = api_client.get(PRODUCTS_URL, {"search": "lamp"}).json()

    assert [row["id"] for row in public["results"]] == [on_sale.pk]
    assert sorted(row["id"] for row in staff["results"]) == sorted([on_sale.pk, withdrawn.pk])
    assert public_again == public


def test_a_list_nothing_matches_costs_only_its_count(api_client, django_assert_num_queries):
    make_product(name="Chair")

    with django_assert_num_queries(1):
        response = api_client.get(PRODUCTS_URL, {"search": "table"})

    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
