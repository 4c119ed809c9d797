"""Cursor pages of the product list (API.md, "Cursor pagination"): `?pagination=cursor` answers
`{next, previous, results}`, in any ordering, with search and filters. Walking the pages sees
every row that stayed matching, and kept its place in the ordering, exactly once, whatever
else is added, changed or deleted between pages; a cursor works only for the list it was made
for."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.pagination import BAD_CURSOR, BAD_PAGINATION, FOREIGN_CURSOR, NOT_A_PAGE_NUMBER
from products.models import Product
from tests.factories import make_category, make_product

PRODUCTS_URL = "/api/v1/products/"
CURSOR = {"pagination": "cursor"}
START = datetime(2026, 5, 1, tzinfo=UTC)
ORDERINGS = ["price", "-price", "name", "-name", "created_at", "-created_at", "stock", "-stock"]
ORDERINGS += [""]  # the default, -created_at
# Lower-case names of one shape sort alike in every collation (SQLite's, PostgreSQL's).
NAMES = ["ash", "beech", "cedar", "elm"]


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def walk(client, params: dict, between=lambda: None) -> list[int]:
    """Every page from the first, following `next`; `between` runs before each next page."""
    response = client.get(PRODUCTS_URL, CURSOR | params)
    seen = [row["id"] for row in results(response)]
    while response.json()["next"]:
        between()
        response = client.get(response.json()["next"])
        seen += [row["id"] for row in results(response)]
    return seen


def walk_back(client, last_page_url: str) -> list[int]:
    response = client.get(last_page_url)
    seen = [row["id"] for row in results(response)]
    while response.json()["previous"]:
        response = client.get(response.json()["previous"])
        seen = [row["id"] for row in results(response)] + seen
    return seen


def make_tied_product(rng: random.Random, **fields) -> Product:
    """Few distinct values per ordering key, so every ordering has long runs of ties."""
    fields = {
        "name": f"{rng.choice(NAMES)} {rng.randint(0, 2)}",
        "price": Decimal(rng.choice(["1.00", "2.50", "10.00"])),
        "stock": rng.choice([0, 1, 2]),
        "created_at": START + timedelta(minutes=rng.randint(0, 3)),
    } | fields
    return make_product(**fields)


def numbered_order(client, params: dict) -> list[int]:
    """The same list by page numbers, the order cursor pages must follow."""
    response = client.get(PRODUCTS_URL, params | {"page_size": 100})
    assert response.json()["count"] <= 100
    return [row["id"] for row in results(response)]


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_walking_forward_then_back_gives_the_numbered_list_in_its_order(api_client, ordering):
    rng = random.Random(ordering)
    category = make_category()
    for _ in range(40):
        make_tied_product(rng, category=rng.choice([category, None]))
    params = {"ordering": ordering, "page_size": 6, "category": category.pk}

    forward = walk(api_client, params)

    assert forward == numbered_order(api_client, params)
    assert 6 < len(forward) < 40
    last = api_client.get(PRODUCTS_URL, CURSOR | params)
    while last.json()["next"]:
        last = api_client.get(last.json()["next"])
    assert walk_back(api_client, last.wsgi_request.build_absolute_uri()) == forward


def test_a_cursor_page_has_no_count_and_links_that_keep_the_query(api_client):
    for n in range(5):
        make_product(name=f"oak {n}")
    response = api_client.get(PRODUCTS_URL, CURSOR | {"page_size": 2, "search": "oak"})
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["previous"] is None
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["pagination"] == ["cursor"]
    assert query["search"] == ["oak"]
    assert query["page_size"] == ["2"]
    assert len(query["cursor"][0]) < 200
    assert response["ETag"]


def test_the_last_page_has_no_next_and_an_empty_list_no_links(api_client):
    make_product()
    assert api_client.get(PRODUCTS_URL, CURSOR).json()["next"] is None
    empty = api_client.get(PRODUCTS_URL, CURSOR | {"search": "nothing-like-this"}).json()
    assert empty == {"next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("page_size", "expected"), [("1", 1), ("7", 7), ("100", 100), ("500", 100)]
)
def test_page_size_works_as_on_numbered_pages(api_client, page_size, expected):
    for _ in range(105):
        make_product()
    response = api_client.get(PRODUCTS_URL, CURSOR | {"page_size": page_size})
    assert len(results(response)) == expected


def test_a_bad_page_size_is_a_400(api_client):
    response = api_client.get(PRODUCTS_URL, CURSOR | {"page_size": "0"})
    assert response.status_code == 400
    assert "page_size" in response.json()


@pytest.mark.parametrize("value", ["page", "Cursor", "offset", "cursor "])
def test_another_pagination_is_a_400(api_client, value):
    response = api_client.get(PRODUCTS_URL, {"pagination": value})
    assert response.status_code == 400
    assert response.json() == {"pagination": [BAD_PAGINATION]}


@pytest.mark.parametrize("page", ["2", "-1", ""])
def test_a_cursor_page_ignores_a_page_number(api_client, page):
    make_product()
    assert len(results(api_client.get(PRODUCTS_URL, CURSOR | {"page": page}))) == 1


@pytest.mark.parametrize("page", ["E\u00f3", "1.5", "two", "\u0661", " 1"])
def test_a_page_that_is_not_a_number_is_a_400_on_cursor_pages_too(api_client, page):
    make_product()
    first = api_client.get(PRODUCTS_URL, CURSOR)
    response = api_client.get(
        PRODUCTS_URL, CURSOR | {"page": page}, HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert response.status_code == 400
    assert response.json() == {"page": [NOT_A_PAGE_NUMBER]}


def test_an_empty_pagination_means_numbered_pages(api_client):
    make_product()
    assert api_client.get(PRODUCTS_URL, {"pagination": ""}).json()["count"] == 1


def next_cursor(client, params: dict) -> str:
    """The cursor of the second page of the list `params` ask for (three products match)."""
    for n in range(3):
        make_product(name=f"oak {n}", price=Decimal("9.99"), stock=10)
    response = client.get(PRODUCTS_URL, CURSOR | params | {"page_size": 1})
    return parse_qs(urlsplit(response.json()["next"]).query)["cursor"][0]


@pytest.mark.parametrize(
    "cursor", ["x", "", "a:b:c", "\u00e9", "eyJxIjoiIn0:1abc:forged", "0" * 10_000]
)
def test_a_malformed_cursor_is_a_400(api_client, cursor):
    response = api_client.get(PRODUCTS_URL, CURSOR | {"cursor": cursor})
    if cursor == "":  # sent empty: taken as not sent, like every other parameter
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json() == {"cursor": [BAD_CURSOR]}


def test_a_tampered_cursor_is_a_400(api_client):
    cursor = next_cursor(api_client, {})
    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    response = api_client.get(PRODUCTS_URL, CURSOR | {"cursor": tampered})
    assert response.json() == {"cursor": [BAD_CURSOR]}


@pytest.mark.parametrize(
    ("made_for", "sent_with"),
    [
        ({}, {"ordering": "price"}),
        ({"ordering": "price"}, {"ordering": "-price"}),
        ({"ordering": "price"}, {"ordering": "price,name"}),
        ({"search": "oak"}, {"search": "pine"}),
        ({"search": "oak"}, {}),
        ({"in_stock": "true"}, {"in_stock": "false"}),
        ({"min_price": "1"}, {"min_price": "2"}),
        ({}, {"created_after": "2026-01-01"}),
    ],
)
def test_a_cursor_sent_with_other_filters_or_ordering_is_a_400(api_client, made_for, sent_with):
    cursor = next_cursor(api_client, made_for)
    response = api_client.get(PRODUCTS_URL, CURSOR | sent_with | {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"cursor": [FOREIGN_CURSOR]}


def test_the_same_query_spelled_otherwise_keeps_its_cursor(api_client):
    cursor = next_cursor(api_client, {"ordering": "price", "in_stock": "true"})
    same = {"ordering": "price,-id", "in_stock": "1", "unknown": "x", "page_size": "5"}
    response = api_client.get(PRODUCTS_URL, CURSOR | same | {"cursor": cursor})
    assert response.status_code == 200


def test_a_staff_cursor_is_a_400_for_a_customer(staff_client, customer_client):
    cursor = next_cursor(staff_client, {})
    response = customer_client.get(PRODUCTS_URL, CURSOR | {"cursor": cursor})
    assert response.status_code == 400


@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
def test_a_cursor_page_costs_one_query_whatever_its_size_or_depth(
    request, client_name, django_assert_num_queries
):
    client = request.getfixturevalue(client_name)
    for _ in range(30):
        make_product()
    for page_size in (1, 10, 25):
        with django_assert_num_queries(1):
            first = client.get(PRODUCTS_URL, CURSOR | {"page_size": page_size})
        with django_assert_num_queries(1):
            assert len(results(client.get(first.json()["next"]))) == min(page_size, 30 - page_size)


# --- Walking while the catalog changes ---------------------------------------------------------


class ChangingCatalog:
    """Between pages, inserts, updates and deletes products at random, recording which rows
    ever stopped matching the walk's filters and which moved in its ordering."""

    def __init__(self, rng: random.Random, category, ordering_field: str):
        self.rng = rng
        self.category = category
        self.ordering_field = ordering_field
        self.left = set()  # stopped matching (or were deleted) at some point
        self.moved = set()  # their ordering value changed

    def matches(self, product: Product) -> bool:
        """The walk's filters: active, in stock, in the category, named with an "e"."""
        return (
            product.is_active
            and product.stock > 0
            and product.category_id == self.category.pk
            and "e" in product.name
        )

    def matching_ids(self) -> set[int]:
        return {product.pk for product in Product.objects.all() if self.matches(product)}

    def change(self) -> None:
        for _ in range(self.rng.randint(1, 4)):
            products = list(Product.objects.all())
            action = self.rng.choice(["insert", "update", "update", "delete"])
            if action == "insert" or not products:
                make_tied_product(self.rng, category=self.category)
                continue
            product = self.rng.choice(products)
            if action == "delete":
                self.left.add(product.pk)
                product.delete()
                continue
            self._update(product)

    def _update(self, product: Product) -> None:
        field = self.rng.choice(["price", "name", "stock", "is_active", "description"])
        before = getattr(product, self.ordering_field)
        new = {
            "price": Decimal(self.rng.choice(["1.00", "2.50", "10.00", "99.00"])),
            "name": f"{self.rng.choice(NAMES)} {self.rng.randint(0, 2)}",
            "stock": self.rng.choice([0, 1, 2, 5]),
            "is_active": self.rng.random() < 0.7,
            "description": "changed",
        }[field]
        setattr(product, field, new)
        product.save()
        if not self.matches(product):
            self.left.add(product.pk)
        if getattr(product, self.ordering_field) != before:
            self.moved.add(product.pk)


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_a_walk_sees_each_row_that_stayed_in_place_exactly_once_while_others_change(
    api_client, ordering
):
    rng = random.Random(f"walk {ordering}")
    category, other = make_category(), make_category()
    for _ in range(100):
        make_tied_product(rng, category=rng.choice([category, category, other]))
    catalog = ChangingCatalog(rng, category, ordering.lstrip("-") or "created_at")
    at_start = catalog.matching_ids()
    params = {"ordering": ordering, "page_size": 4, "in_stock": "true", "search": "e"}
    params["category"] = category.pk

    seen = walk(api_client, params, between=catalog.change)

    stayed = at_start & catalog.matching_ids() - catalog.left - catalog.moved
    assert len(stayed) > 15
    assert sorted(pk for pk in seen if pk in stayed) == sorted(stayed)
    settled = [pk for pk in seen if pk not in catalog.moved]
    assert len(settled) == len(set(settled))  # only a row that moved may show twice


def test_the_browsable_api_pages_by_cursor_too(api_client):
    for n in range(3):
        make_product(name=f"oak {n}")
    response = api_client.get(PRODUCTS_URL, CURSOR | {"page_size": 2}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"cursor=" in response.content
