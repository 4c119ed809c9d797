"""The shared cache of catalog lists (API.md, "Conditional requests"): a repeated read costs one
small query (the catalog's versions) instead of a count and a search, and one after a write the
list does not depend on costs one more (its rows by id); yet a write through any path (the API,
the admin, an import, the shell, `QuerySet.update`, raw SQL) is seen by the very next read,
because the database moves the versions itself; and what staff see never reaches anyone else.

pytest-django runs each test in one transaction: the triggers move the versions inside it, so
no write below needs a commit to be seen."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from products.models import Category, Product
from tests.factories import make_category, make_product, make_products
from tests.products.images import NO_IMAGE_FORMS
from tests.products.test_admin import list_edit_form

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
PRODUCT_CHANGELIST_URL = "/admin/products/product/"
CATEGORY_HEADER = "id,name,slug"
PRODUCT_HEADER = "id,name,sku,description,price,stock,is_active,category_id,created_at,updated_at"
CACHED = 1  # the versions; the page comes rendered from the cache
BY_ID = 2  # the versions, then the page's rows by id (the rendered page was thrown away)


@pytest.fixture(autouse=True)
def _catalog_caches_on(_fast_and_isolated, settings):
    settings.API_CACHE_SECONDS = 300


def read(client, url: str = PRODUCTS_URL, params: dict | None = None, **extra):
    response = client.get(url, params or {}, **extra)
    assert response.status_code == 200, response.content
    return response


def cached_read(client, django_assert_num_queries, url: str = PRODUCTS_URL, params=None):
    """Read until the page is cached rendered: the second read finds its count and ids in the
    cache and its rows by id (and caches it rendered: only then were the rows' versions read
    first); the third costs only the versions. All three are the same bytes."""
    first = read(client, url, params)
    with django_assert_num_queries(BY_ID):
        second = read(client, url, params)
    with django_assert_num_queries(CACHED):
        third = read(client, url, params)
    assert first.content == second.content == third.content
    assert first["ETag"] == second["ETag"] == third["ETag"]
    return first


def rows_by_id(response) -> dict[int, dict]:
    return {row["id"]: row for row in response.json()["results"]}


def assert_fresh(before, after) -> None:
    assert after.content != before.content
    assert after["ETag"] != before["ETag"]


# --- Served from the cache ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [PRODUCTS_URL, CATEGORIES_URL])
def test_a_repeated_anonymous_list_read_costs_only_the_versions_and_is_identical(
    api_client, django_assert_num_queries, url
):
    make_products(3, category=make_category())

    first = cached_read(api_client, django_assert_num_queries, url)

    assert first.json()["count"] == (3 if url == PRODUCTS_URL else 1)


def test_a_cached_list_still_answers_304_to_a_matching_if_none_match(
    api_client, django_assert_num_queries
):
    make_products(2)
    first = cached_read(api_client, django_assert_num_queries)

    with django_assert_num_queries(CACHED):
        again = api_client.get(PRODUCTS_URL, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]


def test_pages_of_one_filtered_list_share_its_count(api_client, django_assert_num_queries):
    make_products(5, price=Decimal("20.00"))
    make_products(2, price=Decimal("1.00"))
    params = {"min_price": "10", "page_size": 2}

    first_page = read(api_client, params=params)
    with django_assert_num_queries(2):  # versions, the page; the count is the first page's
        second_page = read(api_client, params=params | {"page": 2})
    with django_assert_num_queries(2):  # another order of the same rows: the same count
        by_price = read(api_client, params=params | {"ordering": "price"})

    assert first_page.json()["count"] == second_page.json()["count"] == 5
    assert by_price.json()["count"] == 5
    seen = [*rows_by_id(first_page), *rows_by_id(second_page)]
    assert len(set(seen)) == 4


def test_a_differently_filtered_list_counts_its_own_rows(api_client, django_assert_num_queries):
    make_products(3, price=Decimal("20.00"))
    make_products(2, price=Decimal("1.00"))
    read(api_client, params={"min_price": "10"})

    with django_assert_num_queries(3):  # versions, count, page
        cheap = read(api_client, params={"max_price": "10"})

    assert cheap.json()["count"] == 2


# --- Writes through the API ---------------------------------------------------------------------


def product_payload(**overrides) -> dict:
    return {
        "name": "Oak Lantern",
        "sku": "LNT-NEW",
        "description": "",
        "price": "12.50",
        "stock": 4,
        "is_active": True,
        "category": None,
    } | overrides


PRODUCT_WRITES = {
    "post": lambda client, pk: client.post(PRODUCTS_URL, product_payload(), format="json"),
    "patch": lambda client, pk: client.patch(
        f"{PRODUCTS_URL}{pk}/", {"name": "Renamed"}, format="json"
    ),
    "put": lambda client, pk: client.put(
        f"{PRODUCTS_URL}{pk}/", product_payload(name="Renamed", sku="LNT-PUT"), format="json"
    ),
    "delete": lambda client, pk: client.delete(f"{PRODUCTS_URL}{pk}/"),
}
STATUS = {"post": 201, "patch": 200, "put": 200, "delete": 204}


@pytest.mark.parametrize("reader", ["api_client", "staff_client"])
@pytest.mark.parametrize("method", list(PRODUCT_WRITES))
def test_the_next_product_list_read_shows_a_product_write_through_the_api(
    request, editor_client, django_assert_num_queries, reader, method
):
    client = request.getfixturevalue(reader)
    target, other = make_product(name="Target"), make_product(name="Other")
    before = cached_read(client, django_assert_num_queries)

    response = PRODUCT_WRITES[method](editor_client, target.pk)

    assert response.status_code == STATUS[method], response.content
    after = read(client)
    assert_fresh(before, after)
    rows = rows_by_id(after)
    assert rows[other.pk]["name"] == "Other"
    if method == "post":
        assert after.json()["count"] == 3
        assert rows[response.json()["id"]]["sku"] == "LNT-NEW"
    elif method == "delete":
        assert after.json()["count"] == 1
        assert target.pk not in rows
    else:
        assert rows[target.pk]["name"] == "Renamed"


CATEGORY_WRITES = {
    "post": lambda client, pk: client.post(
        CATEGORIES_URL, {"name": "Garden", "slug": "garden"}, format="json"
    ),
    "patch": lambda client, pk: client.patch(
        f"{CATEGORIES_URL}{pk}/", {"name": "Renamed"}, format="json"
    ),
    "put": lambda client, pk: client.put(
        f"{CATEGORIES_URL}{pk}/",
        {"name": "Renamed", "slug": "renamed", "description": "New."},
        format="json",
    ),
    "delete": lambda client, pk: client.delete(f"{CATEGORIES_URL}{pk}/"),
}


@pytest.mark.parametrize("method", list(CATEGORY_WRITES))
def test_the_next_category_list_read_shows_a_category_write_through_the_api(
    api_client, editor_client, django_assert_num_queries, method
):
    target, other = make_category(name="Target"), make_category(name="Other")
    before = cached_read(api_client, django_assert_num_queries, CATEGORIES_URL)

    response = CATEGORY_WRITES[method](editor_client, target.pk)

    assert response.status_code == STATUS[method], response.content
    after = read(api_client, CATEGORIES_URL)
    assert_fresh(before, after)
    rows = rows_by_id(after)
    assert rows[other.pk]["name"] == "Other"
    if method == "post":
        assert after.json()["count"] == 3
        assert rows[response.json()["id"]]["slug"] == "garden"
    elif method == "delete":
        assert after.json()["count"] == 1
        assert target.pk not in rows
    else:
        assert rows[target.pk]["name"] == "Renamed"


def test_renaming_a_category_through_the_api_changes_the_product_list(
    api_client, editor_client, django_assert_num_queries
):
    lamps = make_category(name="Lamps")
    product = make_product(category=lamps)
    before = cached_read(api_client, django_assert_num_queries)

    response = editor_client.patch(
        f"{CATEGORIES_URL}{lamps.pk}/", {"name": "Lights"}, format="json"
    )

    assert response.status_code == 200
    after = read(api_client)
    assert_fresh(before, after)
    assert rows_by_id(after)[product.pk]["category_name"] == "Lights"


def test_a_new_product_changes_the_product_count_in_the_category_list(
    api_client, editor_client, django_assert_num_queries
):
    lamps = make_category(name="Lamps")
    make_product(category=lamps)
    before = cached_read(api_client, django_assert_num_queries, CATEGORIES_URL)

    response = editor_client.post(PRODUCTS_URL, product_payload(category=lamps.pk), format="json")

    assert response.status_code == 201, response.content
    after = read(api_client, CATEGORIES_URL)
    assert_fresh(before, after)
    assert rows_by_id(after)[lamps.pk]["product_count"] == 2


def test_a_refused_write_leaves_the_cached_list_in_place(
    api_client, editor_client, django_assert_num_queries
):
    product = make_product(name="Target")
    before = cached_read(api_client, django_assert_num_queries)

    response = editor_client.patch(
        f"{PRODUCTS_URL}{product.pk}/", {"price": "-1.00"}, format="json"
    )

    assert response.status_code == 400
    with django_assert_num_queries(CACHED):
        after = read(api_client)
    assert after.content == before.content


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda product: Product.objects.filter(pk=product.pk).update(name="Renamed"),
            id="queryset-update",
        ),
        pytest.param(
            lambda product: Product.objects.bulk_create(
                [Product(name="Bulk", sku="BULK-1", price=Decimal("1.00"))]
            ),
            id="bulk-create",
        ),
        pytest.param(
            lambda product: raw_sql(
                "UPDATE products_product SET stock = stock + 7 WHERE id = %s", [product.pk]
            ),
            id="raw-sql",
        ),
        pytest.param(
            lambda product: raw_sql("DELETE FROM products_product WHERE id = %s", [product.pk]),
            id="raw-delete",
        ),
    ],
)
def test_a_write_behind_the_applications_back_is_seen_by_the_next_list_read(
    api_client, django_assert_num_queries, write
):
    """What a shell, a data migration or a script does moves the versions too: the database
    moves them, not the code that writes."""
    product = make_product(name="Target", stock=1)
    before = cached_read(api_client, django_assert_num_queries)

    write(product)

    after = read(api_client)
    assert_fresh(before, after)
    shown = {(row["id"], row["name"], row["stock"]) for row in after.json()["results"]}
    assert shown == set(Product.objects.values_list("id", "name", "stock"))


def raw_sql(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_junk_reordered_and_default_parameters_share_the_cached_entries(
    api_client, django_assert_num_queries
):
    """Keys are made from what the API understood, so a client cannot mint new ones."""
    make_products(3, price=Decimal("20.00"))
    cached_read(
        api_client, django_assert_num_queries, params={"min_price": "10", "in_stock": "true"}
    )

    for params in [
        {"in_stock": "true", "min_price": "10", "utm_source": "mail"},
        {"min_price": "10", "in_stock": "true", "page": "1", "page_size": "20"},
        {"min_price": "10", "in_stock": "true", "ordering": "-created_at", "x": "1"},
    ]:
        with django_assert_num_queries(CACHED):
            assert read(api_client, params=params).json()["count"] == 3


def test_a_stock_write_keeps_the_rendered_pages_that_do_not_show_that_product(
    api_client, editor_client, django_assert_num_queries
):
    """On PostgreSQL each changed row moves a version of its own, so a rendered page stays
    good while none of its rows changed; SQLite's triggers only say the table changed."""
    lamps, chairs = make_category(name="Lamps"), make_category(name="Chairs")
    lamp, chair = make_product(category=lamps, stock=3), make_product(category=chairs, stock=3)
    lamps_page = cached_read(api_client, django_assert_num_queries, params={"category": lamps.pk})
    cached_read(api_client, django_assert_num_queries, params={"category": chairs.pk})

    response = editor_client.patch(f"{PRODUCTS_URL}{chair.pk}/", {"stock": 9}, format="json")
    assert response.status_code == 200

    selective = connection.vendor == "postgresql"
    with django_assert_num_queries(CACHED if selective else 3):
        lamps_again = read(api_client, params={"category": lamps.pk})
    with django_assert_num_queries(BY_ID if selective else 3):
        chairs_again = read(api_client, params={"category": chairs.pk})
    assert lamps_again.content == lamps_page.content
    assert rows_by_id(chairs_again)[chair.pk]["stock"] == 9
    assert rows_by_id(lamps_again)[lamp.pk]["stock"] == 3


def test_a_stock_write_throws_away_only_the_lists_that_depend_on_stock(
    api_client, editor_client, django_assert_num_queries
):
    """On PostgreSQL the triggers name the columns a write changed, so a list that neither
    filters nor orders by stock keeps its cached count and page; SQLite's triggers only say
    that the table changed, so there everything is found again."""
    shelf = make_category()
    product = make_product(category=shelf, stock=3)
    by_category = {"category": shelf.pk}
    by_stock = {"category": shelf.pk, "in_stock": "true"}
    read(api_client, params=by_category)
    read(api_client, params=by_stock)

    response = editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", {"stock": 0}, format="json")
    assert response.status_code == 200

    selective = connection.vendor == "postgresql"
    with django_assert_num_queries(BY_ID if selective else 3):
        unchanged = read(api_client, params=by_category)
    with django_assert_num_queries(2):  # versions, count: no row is left to page through
        emptied = read(api_client, params=by_stock)
    assert unchanged.json()["results"][0]["stock"] == 0  # rows are always read afresh
    assert emptied.json()["count"] == 0


# --- Writes through the admin -------------------------------------------------------------------


def product_form(product: Product, **overrides) -> dict:
    return (
        {
            "name": product.name,
            "sku": product.sku,
            "description": product.description,
            "category": product.category_id or "",
            "price": str(product.price),
            "stock": str(product.stock),
            "is_active": "on" if product.is_active else "",
            "_save": "Save",
        }
        | NO_IMAGE_FORMS
        | overrides
    )


def test_the_admin_change_form_is_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries
):
    product = make_product(name="Target")
    before = cached_read(api_client, django_assert_num_queries)

    response = admin_client.post(
        f"{PRODUCT_CHANGELIST_URL}{product.pk}/change/", product_form(product, name="Renamed")
    )

    assert response.status_code == 302
    after = read(api_client)
    assert_fresh(before, after)
    assert rows_by_id(after)[product.pk]["name"] == "Renamed"


def test_the_admin_add_form_is_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries
):
    existing = make_product()
    before = cached_read(api_client, django_assert_num_queries)
    new = Product(name="Added", sku="ADD-1", price=Decimal("3.00"), stock=1, is_active=True)

    response = admin_client.post(f"{PRODUCT_CHANGELIST_URL}add/", product_form(new))

    assert response.status_code == 302
    after = read(api_client)
    assert_fresh(before, after)
    assert {row["sku"] for row in after.json()["results"]} == {existing.sku, "ADD-1"}


@pytest.mark.parametrize(("action", "before_state"), [("deactivate", True), ("activate", False)])
def test_the_admin_activate_and_deactivate_actions_are_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries, action, before_state
):
    chosen = make_product(is_active=before_state)
    always_on_sale = make_product(is_active=True)
    before = cached_read(api_client, django_assert_num_queries)

    response = admin_client.post(
        PRODUCT_CHANGELIST_URL, {"action": action, "_selected_action": [str(chosen.pk)]}
    )

    assert response.status_code == 302
    after = read(api_client)
    assert_fresh(before, after)
    expected = {always_on_sale.pk} | ({chosen.pk} if action == "activate" else set())
    assert set(rows_by_id(after)) == expected


def test_deleting_a_product_in_the_admin_is_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries
):
    doomed, kept = make_product(), make_product()
    before = cached_read(api_client, django_assert_num_queries)

    response = admin_client.post(f"{PRODUCT_CHANGELIST_URL}{doomed.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Product.objects.filter(pk=doomed.pk).exists()
    after = read(api_client)
    assert_fresh(before, after)
    assert set(rows_by_id(after)) == {kept.pk}


def test_the_admin_delete_selected_action_is_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries
):
    doomed, kept = make_product(), make_product()
    before = cached_read(api_client, django_assert_num_queries)

    response = admin_client.post(
        PRODUCT_CHANGELIST_URL,
        {"action": "delete_selected", "_selected_action": [str(doomed.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Product.objects.filter(pk=doomed.pk).exists()
    after = read(api_client)
    assert_fresh(before, after)
    assert set(rows_by_id(after)) == {kept.pk}


def test_a_list_editable_change_in_the_admin_is_seen_by_the_next_list_read(
    api_client, admin_client, django_assert_num_queries
):
    product = make_product(price=Decimal("9.99"), stock=10)
    before = cached_read(api_client, django_assert_num_queries)
    formset = list_edit_form(product, price="19.50", stock="0")

    response = admin_client.post(PRODUCT_CHANGELIST_URL, formset)

    assert response.status_code == 302
    after = read(api_client)
    assert_fresh(before, after)
    row = rows_by_id(after)[product.pk]
    assert (row["price"], row["stock"], row["in_stock"]) == ("19.50", 0, False)


def test_renaming_a_category_in_the_admin_changes_the_product_list(
    api_client, admin_client, django_assert_num_queries
):
    lamps = make_category(name="Lamps", slug="lamps")
    product = make_product(category=lamps)
    before = cached_read(api_client, django_assert_num_queries)

    response = admin_client.post(
        f"/admin/products/category/{lamps.pk}/change/",
        {"name": "Lights", "slug": "lamps", "description": "", "_save": "Save"},
    )

    assert response.status_code == 302
    after = read(api_client)
    assert_fresh(before, after)
    assert rows_by_id(after)[product.pk]["category_name"] == "Lights"


# --- Imports and bulk updates -------------------------------------------------------------------


def write_catalog(tmp_path, categories: list[str], products: list[str]) -> dict[str, str]:
    files = {"categories": tmp_path / "categories.csv", "products": tmp_path / "products.csv"}
    files["categories"].write_text("\n".join([CATEGORY_HEADER, *categories]) + "\n")
    files["products"].write_text("\n".join([PRODUCT_HEADER, *products]) + "\n")
    return {name: str(path) for name, path in files.items()}


@pytest.fixture
def imported_catalog(tmp_path):
    """A shelf in the database and files that rename it, rename its product and add one."""
    lamps = make_category(name="Lamps", slug="lamps")
    kept = make_product(name="Old name", sku="LMP-1", price=Decimal("5.00"), category=lamps)
    files = write_catalog(
        tmp_path,
        [f"{lamps.pk},Lights,lamps"],
        [
            f",New name,LMP-1,,5.00,3,true,{lamps.pk},,",
            f",Desk lamp,LMP-2,Bright.,12.50,1,true,{lamps.pk},,",
        ],
    )
    return kept, files


def test_an_import_is_seen_by_the_next_list_read(
    api_client, django_assert_num_queries, imported_catalog
):
    kept, files = imported_catalog
    before = cached_read(api_client, django_assert_num_queries)
    categories_before = cached_read(api_client, django_assert_num_queries, CATEGORIES_URL)

    call_command("import_catalog", **files)

    after = read(api_client)
    assert_fresh(before, after)
    rows = {row["sku"]: row for row in after.json()["results"]}
    assert set(rows) == {"LMP-1", "LMP-2"}
    assert (rows["LMP-1"]["id"], rows["LMP-1"]["name"]) == (kept.pk, "New name")
    assert {row["category_name"] for row in rows.values()} == {"Lights"}
    categories_after = read(api_client, CATEGORIES_URL)
    assert_fresh(categories_before, categories_after)
    assert [(row["name"], row["product_count"]) for row in categories_after.json()["results"]] == [
        ("Lights", 2)
    ]


def test_a_dry_run_import_leaves_the_cached_list_in_place(
    api_client, django_assert_num_queries, imported_catalog
):
    _kept, files = imported_catalog
    before = cached_read(api_client, django_assert_num_queries)

    call_command("import_catalog", "--dry-run", **files)

    assert list(Product.objects.values_list("sku", "name")) == [("LMP-1", "Old name")]
    assert Category.objects.get().name == "Lamps"
    with django_assert_num_queries(CACHED):
        after = read(api_client)
    assert after.content == before.content
    assert after["ETag"] == before["ETag"]


def test_set_active_on_a_queryset_is_seen_by_the_next_list_read(
    api_client, django_assert_num_queries
):
    hidden, kept = make_product(name="Hide me"), make_product(name="Keep me")
    before = cached_read(api_client, django_assert_num_queries)

    changed = Product.objects.filter(pk=hidden.pk).set_active(False)

    assert changed == 1
    after = read(api_client)
    assert_fresh(before, after)
    assert set(rows_by_id(after)) == {kept.pk}


# --- Who sees what ------------------------------------------------------------------------------


def test_a_staff_list_in_the_cache_never_reaches_anonymous_or_customers(
    api_client, customer_client, staff_client, django_assert_num_queries
):
    on_sale, hidden = make_product(is_active=True), make_product(is_active=False)
    staff_view = cached_read(staff_client, django_assert_num_queries)

    public = read(api_client)
    customer_view = read(customer_client)

    assert set(rows_by_id(staff_view)) == {on_sale.pk, hidden.pk}
    for response in (public, customer_view):
        assert set(rows_by_id(response)) == {on_sale.pk}
        assert response.json()["count"] == 1
        assert response["ETag"] != staff_view["ETag"]


def test_a_public_list_in_the_cache_never_hides_inactive_products_from_staff(
    api_client, customer_client, staff_client, django_assert_num_queries
):
    on_sale, hidden = make_product(is_active=True), make_product(is_active=False)
    public = cached_read(api_client, django_assert_num_queries)
    with django_assert_num_queries(CACHED):  # a customer's list is the same query: shared
        customer_view = read(customer_client)

    staff_view = read(staff_client)

    assert set(rows_by_id(public)) == set(rows_by_id(customer_view)) == {on_sale.pk}
    assert set(rows_by_id(staff_view)) == {on_sale.pk, hidden.pk}
    assert staff_view.json()["count"] == 2
    assert staff_view["ETag"] != public["ETag"]


def test_a_staff_only_filter_in_the_cache_never_reaches_customers(
    customer_client, staff_client, django_assert_num_queries
):
    make_product(is_active=True)
    hidden = make_product(is_active=False)
    params = {"is_active": "false"}
    staff_view = cached_read(staff_client, django_assert_num_queries, params=params)

    customer_view = read(customer_client, params=params)

    assert set(rows_by_id(staff_view)) == {hidden.pk}
    assert hidden.pk not in rows_by_id(customer_view)
    assert customer_view.json()["count"] == 1


def test_each_host_gets_page_links_with_its_own_host(
    settings, api_client, django_assert_num_queries
):
    settings.ALLOWED_HOSTS = ["a.test", "b.test", "testserver"]
    make_products(3)
    params = {"page_size": 2}

    on_a = read(api_client, params=params, HTTP_HOST="a.test")
    on_b = read(api_client, params=params, HTTP_HOST="b.test")
    on_b_page_2 = read(api_client, params=params | {"page": 2}, HTTP_HOST="b.test")
    on_a_page_2 = read(api_client, params=params | {"page": 2}, HTTP_HOST="a.test")

    assert on_a.json()["next"] == "http://a.test/api/v1/products/?page=2&page_size=2"
    assert on_b.json()["next"] == "http://b.test/api/v1/products/?page=2&page_size=2"
    assert on_b_page_2.json()["previous"] == "http://b.test/api/v1/products/?page_size=2"
    assert on_a_page_2.json()["previous"] == "http://a.test/api/v1/products/?page_size=2"
    assert on_a.json()["results"] == on_b.json()["results"]


@pytest.mark.parametrize(
    ("params", "change"),
    [
        pytest.param({"min_price": "10"}, {"price": Decimal("20.00")}, id="now matches a filter"),
        pytest.param(
            {"ordering": "name", "page_size": 1}, {"name": "A first"}, id="now sorts first"
        ),
    ],
)
def test_a_row_that_moves_onto_a_cached_page_is_seen_by_the_next_read(
    api_client, django_assert_num_queries, params, change
):
    """A rendered page stays good while its own rows do not change, but not when another row
    changes in a column the page's filters or order read."""
    make_product(name="B shown", price=Decimal("15.00"))
    mover = make_product(name="C mover", price=Decimal("5.00"))
    before = cached_read(api_client, django_assert_num_queries, params=params)
    assert mover.pk not in rows_by_id(before)

    Product.objects.filter(pk=mover.pk).update(**change)

    assert mover.pk in rows_by_id(read(api_client, params=params))
