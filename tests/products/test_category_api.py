"""Categories over the API, and the invariants the database itself keeps for the catalog
(API.md, "Catalog"; CONVENTIONS.md section 3: invariants live in the database)."""

import re
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import ProtectedError
from rest_framework.test import APIClient

from products.models import CATEGORY_NAME_TAKEN, Category, Product
from tests.factories import grant, make_category, make_product, make_staff, make_user

CATEGORIES_URL = "/api/v1/categories/"
ABSOLUTE_CATEGORIES_URL = "http://testserver/api/v1/categories/"
SLUG = re.compile(r"^[a-z0-9_-]+$")
WRITE_METHODS = ["post", "put", "patch", "delete"]
SUCCESS = {"post": 201, "put": 200, "patch": 200, "delete": 204}
PERMISSION_FOR = {
    "post": "products.add_category",
    "put": "products.change_category",
    "patch": "products.change_category",
    "delete": "products.delete_category",
}


def detail_url(pk: int) -> str:
    return f"{CATEGORIES_URL}{pk}/"


def stored_categories() -> list[dict]:
    return list(Category.objects.order_by("pk").values())


def stored_products() -> list[dict]:
    return list(Product.objects.order_by("pk").values())


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def send(client: APIClient, method: str, category: Category):
    """One write of each kind, each valid in itself, so only permissions decide."""
    payload = {"name": "Brand New", "slug": "brand-new", "description": "Fresh."}
    if method == "post":
        return client.post(CATEGORIES_URL, payload, format="json")
    if method == "put":
        return client.put(detail_url(category.pk), payload, format="json")
    if method == "patch":
        return client.patch(detail_url(category.pk), {"name": "Renamed"}, format="json")
    return client.delete(detail_url(category.pk))


# --- Reads --------------------------------------------------------------------------------------


def test_list_is_ordered_by_name(api_client):
    for name in ["Toys", "Garden", "Kitchen", "Bathroom", "Garden Tools", "Decor"]:
        make_category(name=name)

    response = api_client.get(CATEGORIES_URL)

    assert response.status_code == 200
    names = [row["name"] for row in response.json()["results"]]
    assert names == ["Bathroom", "Decor", "Garden", "Garden Tools", "Kitchen", "Toys"]


def test_list_is_paginated_like_every_list(api_client):
    for n in range(25):
        make_category(name=f"Category {n:02d}")

    first = api_client.get(CATEGORIES_URL).json()
    small = api_client.get(CATEGORIES_URL, {"page_size": 5, "page": 5}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert (first["count"], len(first["results"]), first["previous"]) == (25, 20, None)
    assert first["next"].startswith(ABSOLUTE_CATEGORIES_URL)
    assert [row["name"] for row in small["results"]] == [f"Category {n}" for n in range(20, 25)]
    assert small["next"] is None
    assert api_client.get(CATEGORIES_URL, {"page": 3}).status_code == 404


def test_detail_is_the_exact_representation(api_client):
    category = make_category(name="Lighting", slug="lighting", description="Lamps and bulbs.")

    response = api_client.get(detail_url(category.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": category.pk,
        "name": "Lighting",
        "slug": "lighting",
        "description": "Lamps and bulbs.",
        "parent": None,
        "ancestors": [],
        "product_count": 0,
    }


def test_unknown_category_is_a_json_404(api_client):
    response = api_client.get(detail_url(999_999))

    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("client_name", ["api_client", "customer_client", "staff_client"])
def test_product_count_counts_active_products_only(request, client_name):
    busy, hidden_only, empty = make_category(), make_category(), make_category()
    for is_active in (True, True, True, False, False):
        make_product(category=busy, is_active=is_active)
    make_product(category=hidden_only, is_active=False)
    make_product(category=None)
    client = request.getfixturevalue(client_name)

    listed = {
        row["id"]: row["product_count"] for row in client.get(CATEGORIES_URL).json()["results"]
    }

    assert listed == {busy.pk: 3, hidden_only.pk: 0, empty.pk: 0}
    assert client.get(detail_url(busy.pk)).json()["product_count"] == 3


# --- Creating and changing ----------------------------------------------------------------------


def test_create_with_a_slug_keeps_it(editor_client):
    response = editor_client.post(
        CATEGORIES_URL, {"name": "Garden", "slug": "outdoors", "description": ""}, format="json"
    )

    assert response.status_code == 201, response.content
    category = Category.objects.get()
    assert response.json() == {
        "id": category.pk,
        "name": "Garden",
        "slug": "outdoors",
        "description": "",
        "parent": None,
        "ancestors": [],
        "product_count": 0,
    }
    assert category.slug == "outdoors"


def test_create_without_a_slug_makes_one_from_the_name(editor_client):
    response = editor_client.post(CATEGORIES_URL, {"name": "Home & Garden"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "home-garden"
    assert Category.objects.get().slug == "home-garden"


def test_a_name_giving_a_taken_slug_gets_another_unique_slug(editor_client):
    first = editor_client.post(CATEGORIES_URL, {"name": "Home & Garden"}, format="json")
    second = editor_client.post(CATEGORIES_URL, {"name": "Home Garden"}, format="json")
    third = editor_client.post(CATEGORIES_URL, {"name": "home  garden!"}, format="json")

    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    slugs = [r.json()["slug"] for r in (first, second, third)]
    assert slugs[0] == "home-garden"
    assert len(set(slugs)) == 3
    assert all(SLUG.match(slug) for slug in slugs), slugs
    assert sorted(Category.objects.values_list("slug", flat=True)) == sorted(slugs)


def test_a_slug_given_in_capitals_is_stored_lower_case(editor_client):
    response = editor_client.post(
        CATEGORIES_URL, {"name": "Kitchen", "slug": "Kitchen-Stuff"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "kitchen-stuff"
    assert Category.objects.get().slug == "kitchen-stuff"


@pytest.mark.parametrize("name", ["garden", "GARDEN", "Garden", "gArDeN"])
def test_create_rejects_a_name_taken_in_any_letter_case(editor_client, name):
    make_category(name="Garden", slug="garden")
    before = stored_categories()

    response = editor_client.post(CATEGORIES_URL, {"name": name, "slug": "other"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert stored_categories() == before


def test_rename_onto_another_categorys_name_in_another_case_is_refused(editor_client):
    make_category(name="Garden")
    mine = make_category(name="Kitchen")
    before = stored_categories()

    response = editor_client.patch(detail_url(mine.pk), {"name": "GARDEN"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
    assert stored_categories() == before


def test_a_category_may_change_the_letter_case_of_its_own_name(editor_client):
    mine = make_category(name="kitchen")

    response = editor_client.patch(detail_url(mine.pk), {"name": "Kitchen"}, format="json")

    assert response.status_code == 200, response.content
    mine.refresh_from_db()
    assert mine.name == "Kitchen"


@pytest.mark.parametrize("slug", ["garden", "GARDEN"])
def test_create_rejects_a_taken_slug(editor_client, slug):
    make_category(name="Garden", slug="garden")
    before = stored_categories()

    response = editor_client.post(CATEGORIES_URL, {"name": "Yard", "slug": slug}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["slug"]
    assert stored_categories() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("name", "", id="name-empty"),
        pytest.param("name", "n" * 10_000, id="name-10000-chars"),
        pytest.param("name", "a\x00b", id="name-nul"),
        pytest.param("name", 42, id="name-number"),
        pytest.param("slug", "has space", id="slug-space"),
        pytest.param("slug", "a/b", id="slug-slash"),
        pytest.param("slug", 42, id="slug-number"),
        pytest.param("description", "d" * 10_000, id="description-10000-chars"),
        pytest.param("description", "a\x00b", id="description-nul"),
    ],
)
def test_create_rejects_a_bad_field_and_writes_nothing(editor_client, field, value):
    payload = {"name": "Fine", "slug": "fine", "description": ""} | {field: value}

    response = editor_client.post(CATEGORIES_URL, payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Category.objects.exists()


def test_product_count_in_the_body_is_ignored(editor_client):
    response = editor_client.post(
        CATEGORIES_URL, {"name": "Tools", "product_count": 99}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["product_count"] == 0


# --- Write permissions --------------------------------------------------------------------------


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_anonymous_writes_are_401_with_a_bearer_challenge(api_client, method):
    category = make_category()
    before = stored_categories()

    response = send(api_client, method, category)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"detail", "code"}
    assert stored_categories() == before


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("client_name", ["customer_client", "staff_client"])
def test_writes_without_the_model_permission_are_403(request, client_name, method):
    category = make_category()
    before = stored_categories()

    response = send(request.getfixturevalue(client_name), method, category)

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert stored_categories() == before


@pytest.mark.parametrize("permission", sorted(set(PERMISSION_FOR.values())))
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_each_write_needs_exactly_its_own_model_permission(method, permission):
    client = client_for(grant(make_staff(), permission))
    category = make_category()
    before = stored_categories()

    response = send(client, method, category)

    if PERMISSION_FOR[method] == permission:
        assert response.status_code == SUCCESS[method], response.content
    else:
        assert response.status_code == 403
        assert stored_categories() == before


@pytest.mark.parametrize("is_staff", [False, True])
def test_add_permission_alone_creates_but_may_not_change_or_delete(is_staff):
    client = client_for(grant(make_user(is_staff=is_staff), "products.add_category"))

    created = client.post(CATEGORIES_URL, {"name": "Toys"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    before = stored_categories()

    assert client.patch(detail_url(pk), {"name": "Games"}, format="json").status_code == 403
    assert client.delete(detail_url(pk)).status_code == 403
    assert stored_categories() == before


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_editor_may_make_every_write(editor_client, method):
    response = send(editor_client, method, make_category())

    assert response.status_code == SUCCESS[method], response.content


def test_put_and_patch_store_the_change(editor_client):
    category = make_category(name="Old", slug="old")

    put = editor_client.put(
        detail_url(category.pk),
        {"name": "New", "slug": "new", "description": "Replaced."},
        format="json",
    )
    patch = editor_client.patch(detail_url(category.pk), {"description": "Patched."})

    assert (put.status_code, patch.status_code) == (200, 200)
    category.refresh_from_db()
    assert (category.name, category.slug, category.description) == ("New", "new", "Patched.")


# --- Deleting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("states", [[True], [False], [True, False], [False, False]], ids=str)
def test_deleting_a_category_with_products_is_409_and_deletes_nothing(editor_client, states):
    category = make_category()
    for is_active in states:
        make_product(category=category, is_active=is_active)
    categories_before, products_before = stored_categories(), stored_products()

    response = editor_client.delete(detail_url(category.pk))

    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail", "code"}
    assert isinstance(response.json()["detail"], str)
    assert response.json()["detail"]
    assert stored_categories() == categories_before
    assert stored_products() == products_before


def test_deleting_an_empty_category_is_204_and_removes_it(editor_client):
    empty, kept = make_category(), make_category()
    make_product(category=kept)

    response = editor_client.delete(detail_url(empty.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Category.objects.values_list("pk", flat=True)) == [kept.pk]


# --- What the database itself refuses -----------------------------------------------------------


def test_database_refuses_a_category_name_taken_in_another_case():
    make_category(name="Garden", slug="garden")

    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="gARDEN", slug="other-garden")

    assert Category.objects.count() == 1


def test_database_refuses_a_duplicate_slug():
    make_category(name="Garden", slug="garden")

    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="Yard", slug="garden")

    assert Category.objects.count() == 1


def test_database_refuses_a_sku_taken_in_another_case():
    make_product(sku="Lamp-01")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_product(sku="LAMP-01")

    assert Product.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"stock": -1},
        {"price": Decimal("-0.01")},
        {"price": Decimal("100000000.00")},
    ],
    ids=["negative-stock", "negative-price", "price-over-maximum"],
)
def test_database_refuses_out_of_range_money_and_stock(fields):
    # SQLite stops it at the check constraint; PostgreSQL already at numeric(10, 2) overflow.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        make_product(**fields)

    assert not Product.objects.exists()


def test_database_refuses_an_update_that_makes_stock_negative():
    product = make_product(stock=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(stock=-5)

    product.refresh_from_db()
    assert product.stock == 1


def test_database_keeps_a_category_that_still_has_products():
    category = make_category()
    make_product(category=category, is_active=False)

    with pytest.raises(ProtectedError), transaction.atomic():
        category.delete()

    assert Category.objects.filter(pk=category.pk).exists()
    assert Product.objects.filter(category=category).count() == 1


# --- Look-alike names (NFKC and letter case) -----------------------------------------------------

CAFE_NFC = "Caf\u00e9"
LOOK_ALIKES = {
    "decomposed": "Cafe\u0301",  # `e` and a combining acute accent
    "fullwidth": "\uff23\uff41\uff46\u00e9",
    "upper case": "CAF\u00c9",
    "fullwidth upper case": "\uff23\uff21\uff26\u00c9",
}


@pytest.mark.parametrize("look_alike", list(LOOK_ALIKES))
def test_a_look_alike_of_a_category_name_is_taken(editor_client, look_alike):
    name = LOOK_ALIKES[look_alike]
    if look_alike.endswith("upper case") and connection.vendor == "sqlite":
        name = name.replace("\u00c9", "\u00e9")  # SQLite's LOWER() folds ASCII letters only
    make_category(name=CAFE_NFC, slug="cafe")

    response = editor_client.post(CATEGORIES_URL, {"name": name, "slug": "other"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": [CATEGORY_NAME_TAKEN]}
    assert Category.objects.count() == 1


def test_a_category_name_is_stored_in_its_nfkc_form(editor_client):
    response = editor_client.post(CATEGORIES_URL, {"name": LOOK_ALIKES["decomposed"]})

    assert response.status_code == 201
    assert response.json()["name"] == CAFE_NFC
    assert Category.objects.get().name == CAFE_NFC


def test_the_admin_refuses_a_look_alike_category_name(admin_client):
    make_category(name=CAFE_NFC, slug="cafe")

    response = admin_client.post(
        "/admin/products/category/add/",
        {"name": LOOK_ALIKES["fullwidth"], "slug": "cafe-2", "description": ""},
    )

    assert response.status_code == 200  # the form again, with its error
    assert Category.objects.count() == 1
