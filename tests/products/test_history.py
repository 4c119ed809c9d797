"""The change history of products and categories (API.md, "Change history"): every write path
records exactly what changed, by whom and how; only staff who may change the model read it."""

import re
from decimal import Decimal

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from backend.change_context import changes_via
from products.models import CatalogChange, Category, Product
from tests.conftest import manage_on
from tests.factories import grant, make_category, make_product, make_staff, make_user
from tests.products.test_admin import list_edit_form, product_change_url, product_form
from tests.products.test_import_export import CATEGORY_HEADER, PRODUCT_HEADER, csv_file, run_import

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
PRODUCT_CHANGELIST_URL = "/admin/products/product/"
REQUEST_ID = "req-history-1"
TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"


def history_url(pk: int, resource: str = "products") -> str:
    return f"/api/v1/{resource}/{pk}/history/"


def history_of(client, pk: int, resource: str = "products", **params) -> list[dict]:
    response = client.get(history_url(pk, resource), params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def latest(client, pk: int, resource: str = "products") -> dict:
    return history_of(client, pk, resource)[0]


def records_of(model, pk: int) -> list[CatalogChange]:
    return list(
        CatalogChange.objects.filter(table_name=model._meta.db_table, object_id=pk).order_by("id")
    )


def by(user) -> dict:
    return {"id": user.pk, "username": user.username}


# --- the API ----------------------------------------------------------------------------------


def test_an_api_creation_records_every_field_it_set_with_the_caller_and_request_id(
    editor_client, editor
):
    category = make_category()
    payload = {"name": "Oak Lantern", "sku": "LNT-001", "price": "12.50", "stock": 4}
    response = editor_client.post(
        PRODUCTS_URL,
        payload | {"category": category.pk, "description": "Oak."},
        format="json",
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert response.status_code == 201
    product = response.json()

    [entry] = history_of(editor_client, product["id"])
    assert entry["actor"] == by(editor)
    assert (entry["via"], entry["request_id"]) == ("api", REQUEST_ID)
    assert entry["changes"] == {
        "name": [None, "Oak Lantern"],
        "sku": [None, "LNT-001"],
        "description": [None, "Oak."],
        "price": [None, "12.50"],
        "stock": [None, 4],
        "is_active": [None, True],
        "category": [None, category.pk],
        "created_at": [None, product["created_at"]],
    }


def test_an_api_change_records_only_the_fields_it_changed_as_the_api_shows_them(
    editor_client, editor
):
    old, new = make_category(), make_category()
    product = make_product(price=Decimal("9.99"), stock=10, category=old)
    response = editor_client.patch(
        f"{PRODUCTS_URL}{product.pk}/",
        {"price": "10.50", "stock": 10, "category": new.pk, "is_active": False},
        format="json",
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert response.status_code == 200

    entry = latest(editor_client, product.pk)
    assert entry == {
        "at": entry["at"],
        "actor": by(editor),
        "via": "api",
        "request_id": REQUEST_ID,
        "changes": {
            "price": ["9.99", "10.50"],
            "is_active": [True, False],
            "category": [old.pk, new.pk],
        },
    }
    assert len(history_of(editor_client, product.pk)) == 2  # its creation, this change


def test_a_request_without_an_id_records_the_one_the_request_log_gave_it(editor_client):
    product = make_product()
    response = editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", {"stock": 3}, format="json")
    assert response.status_code == 200
    assert latest(editor_client, product.pk)["request_id"] == response["X-Request-ID"]


def test_an_api_deletion_is_recorded_and_the_history_is_then_404(editor_client, editor):
    product = make_product(name="Gone", stock=2)
    response = editor_client.delete(f"{PRODUCTS_URL}{product.pk}/")
    assert response.status_code == 204

    deletion = records_of(Product, product.pk)[-1]
    assert (deletion.via, deletion.actor_id) == ("api", editor.pk)
    assert deletion.changes["name"] == ["Gone", None]
    assert deletion.changes["stock"] == [2, None]
    assert editor_client.get(history_url(product.pk)).status_code == 404


@pytest.mark.parametrize(
    "change",
    [{"price": "-1.00"}, {"sku": "has space"}, {"stock": 1.5}, {"name": ""}],
)
def test_a_rejected_write_records_nothing(editor_client, change):
    product = make_product()
    before = CatalogChange.objects.count()
    response = editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", change, format="json")
    assert response.status_code == 400
    assert CatalogChange.objects.count() == before


def test_a_write_of_the_same_values_records_nothing(editor_client):
    product = make_product(stock=5)
    before = CatalogChange.objects.count()
    response = editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", {"stock": 5}, format="json")
    assert response.status_code == 200
    assert CatalogChange.objects.count() == before


def test_category_writes_over_the_api_are_recorded(editor_client, editor):
    response = editor_client.post(CATEGORIES_URL, {"name": "Lamps"}, format="json")
    assert response.status_code == 201
    pk = response.json()["id"]
    response = editor_client.patch(f"{CATEGORIES_URL}{pk}/", {"name": "Lights"}, format="json")
    assert response.status_code == 200

    change, creation = history_of(editor_client, pk, "categories")
    assert change["changes"] == {"name": ["Lamps", "Lights"]}
    assert creation["changes"] == {
        "name": [None, "Lamps"],
        "slug": [None, "lamps"],
        "description": [None, ""],
    }
    assert change["actor"] == creation["actor"] == by(editor)


# --- the admin --------------------------------------------------------------------------------


@pytest.fixture
def admin_editor(client, editor):
    client.force_login(editor)
    return client


def test_the_admin_change_form_is_recorded_as_admin(admin_editor, editor):
    product = make_product(name="Copper Kettle", sku="KTL-copper", price=Decimal("39.90"))
    form = product_form(stock="3", description="Whistles.")
    response = admin_editor.post(product_change_url(product.pk), form)
    assert response.status_code == 302

    [_, change] = records_of(Product, product.pk)
    assert (change.via, change.actor_id, change.request_id) == (
        "admin",
        editor.pk,
        response["X-Request-ID"],
    )
    assert change.changes == {"stock": [10, 3], "description": ["", "Whistles."]}


def test_the_admin_list_edit_is_recorded_as_admin(admin_editor, editor):
    product = make_product(stock=10)
    response = admin_editor.post(PRODUCT_CHANGELIST_URL, list_edit_form(product, stock="11"))
    assert response.status_code == 302

    change = records_of(Product, product.pk)[-1]
    assert (change.via, change.actor_id, change.changes) == (
        "admin",
        editor.pk,
        {"stock": [10, 11]},
    )


def test_an_admin_action_records_each_product_it_changed(admin_editor, editor):
    chosen = [make_product(is_active=True), make_product(is_active=True)]
    untouched = make_product(is_active=False)
    response = admin_editor.post(
        PRODUCT_CHANGELIST_URL,
        {"action": "deactivate", "_selected_action": [str(p.pk) for p in [*chosen, untouched]]},
    )
    assert response.status_code == 302

    for product in chosen:
        change = records_of(Product, product.pk)[-1]
        assert (change.via, change.actor_id) == ("admin", editor.pk)
        assert change.changes == {"is_active": [True, False]}
    assert len(records_of(Product, untouched.pk)) == 1  # its creation only


def test_an_admin_deletion_is_recorded_as_admin(admin_editor, editor):
    product = make_product(name="Old Kettle")
    response = admin_editor.post(f"{PRODUCT_CHANGELIST_URL}{product.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    deletion = records_of(Product, product.pk)[-1]
    assert (deletion.via, deletion.actor_id) == ("admin", editor.pk)
    assert deletion.changes["name"] == ["Old Kettle", None]


def test_the_admin_history_page_shows_the_change_history(admin_editor, editor):
    product = make_product(stock=10)
    admin_editor.post(product_change_url(product.pk), product_form(stock="3"))

    response = admin_editor.get(f"{PRODUCT_CHANGELIST_URL}{product.pk}/history/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "stock" in content
    assert "10 → 3" in content
    assert editor.username in content


def test_the_admin_history_page_of_a_category_shows_its_changes(admin_editor):
    category = make_category(name="Lamps")
    Category.objects.filter(pk=category.pk).update(name="Lights")

    response = admin_editor.get(f"/admin/products/category/{category.pk}/history/")
    assert response.status_code == 200
    assert "Lamps → Lights" in response.content.decode()


def test_the_admin_history_page_shows_no_changes_to_staff_who_may_only_view(client):
    client.force_login(grant(make_staff(), "products.view_product"))
    product = make_product(name="Secret Lamp")
    Product.objects.filter(pk=product.pk).update(stock=99)

    response = client.get(f"{PRODUCT_CHANGELIST_URL}{product.pk}/history/")
    assert response.status_code == 200
    assert "No change recorded." in response.content.decode()
    assert "→" not in response.content.decode()


# --- imports, the shell, bulk writes ----------------------------------------------------------


def test_an_import_records_its_creations_and_updates_as_import(tmp_path, editor_client):
    product = make_product(sku="KEEP-1", price=Decimal("5.00"), stock=1)
    categories = csv_file(tmp_path, "c.csv", CATEGORY_HEADER, "7,Lamps,lamps,")
    products = csv_file(
        tmp_path,
        "p.csv",
        PRODUCT_HEADER,
        f"{product.pk},{product.name},KEEP-1,,6.50,1,true,7,,",
        "900,New Lamp,NEW-1,,20.00,3,true,7,2026-01-31T12:00:00Z,",
    )
    run_import(categories, products)

    lamps = Category.objects.get(slug="lamps")
    [update] = history_of(editor_client, product.pk)[:1]
    assert (update["via"], update["actor"], update["request_id"]) == ("import", None, None)
    assert update["changes"] == {"price": ["5.00", "6.50"], "category": [None, lamps.pk]}
    [creation] = history_of(editor_client, 900)
    assert creation["via"] == "import"
    assert creation["changes"]["price"] == [None, "20.00"]
    assert creation["changes"]["created_at"] == [None, "2026-01-31T12:00:00.000000Z"]
    assert latest(editor_client, lamps.pk, "categories")["via"] == "import"


def test_writes_outside_any_request_are_recorded_as_system(editor_client):
    """The shell, a data migration, a script: `save`, `QuerySet.update`, `bulk_create`."""
    product = make_product(stock=1)
    product.stock = 2
    product.save()
    Product.objects.filter(pk=product.pk).update(stock=3)
    Product.objects.bulk_create([Product(name="Bulk", sku="BULK-1", price="1.00")])

    entries = history_of(editor_client, product.pk)
    assert [entry["changes"].get("stock") for entry in entries] == [[2, 3], [1, 2], [None, 1]]
    assert {(e["via"], e["actor"], e["request_id"]) for e in entries} == {("system", None, None)}
    made = latest(editor_client, Product.objects.get(sku="BULK-1").pk)
    assert (made["via"], made["changes"]["sku"]) == ("system", [None, "BULK-1"])


def test_one_update_of_many_rows_records_each_row(editor_client):
    products = [make_product(stock=n) for n in (1, 2, 3)]
    Product.objects.filter(pk__in=[p.pk for p in products]).update(stock=0)
    for product in products:
        assert latest(editor_client, product.pk)["changes"] == {"stock": [product.stock, 0]}


def test_a_context_ends_with_its_block_even_inside_one_transaction(editor, editor_client):
    product = make_product(stock=1)
    with transaction.atomic():
        with changes_via("import", actor_id=editor.pk, request_id="job-1"):
            Product.objects.filter(pk=product.pk).update(stock=2)
        Product.objects.filter(pk=product.pk).update(stock=3)

    later, earlier = history_of(editor_client, product.pk)[:2]
    assert (earlier["via"], earlier["actor"], earlier["request_id"]) == (
        "import",
        by(editor),
        "job-1",
    )
    assert (later["via"], later["actor"], later["request_id"]) == ("system", None, None)


@pytest.mark.django_db(transaction=True)
def test_writes_outside_a_transaction_carry_their_context(editor_client, editor):
    """Each statement its own transaction (autocommit): the context must reach it all the same
    (on PostgreSQL it is set inside the write's own transaction, never for the session)."""
    response = editor_client.post(
        PRODUCTS_URL,
        {"name": "Lamp", "sku": "LMP-1", "price": "3.00"},
        format="json",
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert response.status_code == 201
    pk = response.json()["id"]
    with changes_via("import", actor_id=editor.pk, request_id="job-2"):
        Product.objects.filter(pk=pk).update(stock=9)
    Product.objects.filter(pk=pk).update(stock=8)

    entries = [(e["via"], e["actor"], e["request_id"]) for e in history_of(editor_client, pk)]
    assert entries == [
        ("system", None, None),
        ("import", by(editor), "job-2"),
        ("api", by(editor), REQUEST_ID),
    ]


def test_a_deleted_actor_shows_as_null(editor_client):
    author = grant(make_staff(), "products.change_product")
    client = APIClient()
    client.force_authenticate(author)
    product = make_product(stock=1)
    response = client.patch(f"{PRODUCTS_URL}{product.pk}/", {"stock": 2}, format="json")
    assert response.status_code == 200
    author.delete()
    assert latest(editor_client, product.pk)["actor"] is None


# --- reading: who, in which order, at what cost -----------------------------------------------


def _client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    "who",
    [
        "anonymous",
        "customer",
        "staff without the change permission",
        "staff who may only view",
        "a non-staff user with the change permission",
    ],
)
@pytest.mark.parametrize("resource", ["products", "categories"])
def test_anyone_but_staff_who_may_change_gets_404(who, resource):
    users = {
        "anonymous": lambda: None,
        "customer": make_user,
        "staff without the change permission": make_staff,
        "staff who may only view": lambda: grant(
            make_staff(), "products.view_product", "products.view_category"
        ),
        "a non-staff user with the change permission": lambda: grant(
            make_user(), "products.change_product", "products.change_category"
        ),
    }
    pk = make_product().pk if resource == "products" else make_category().pk
    response = _client(users[who]()).get(history_url(pk, resource))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_staff_with_the_change_permission_of_that_model_only_read_its_history():
    user = grant(make_staff(), "products.change_category")
    client = _client(user)
    assert client.get(history_url(make_category().pk, "categories")).status_code == 200
    assert client.get(history_url(make_product().pk)).status_code == 404


def test_the_history_of_an_inactive_product_is_there_for_staff(editor_client):
    product = make_product(is_active=False)
    assert len(history_of(editor_client, product.pk)) == 1


def test_the_history_of_an_unknown_id_is_404(editor_client):
    assert editor_client.get(history_url(99999)).status_code == 404
    assert editor_client.get(history_url(99999, "categories")).status_code == 404


def test_the_history_is_newest_first_and_paginated(editor_client):
    product = make_product(stock=0)
    for stock in range(1, 6):
        Product.objects.filter(pk=product.pk).update(stock=stock)

    response = editor_client.get(history_url(product.pk), {"page_size": 2, "page": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6
    assert body["previous"].endswith(f"{history_url(product.pk)}?page_size=2")
    assert body["next"].endswith(f"{history_url(product.pk)}?page=3&page_size=2")
    assert [entry["changes"]["stock"] for entry in body["results"]] == [[2, 3], [1, 2]]
    assert all(entry["at"] for entry in body["results"])
    ats = [entry["at"] for entry in history_of(editor_client, product.pk)]
    assert ats == sorted(ats, reverse=True)


def test_a_page_past_the_end_is_404(editor_client):
    product = make_product()
    assert editor_client.get(history_url(product.pk), {"page": 2}).status_code == 404


def test_times_are_written_as_the_api_writes_them(editor_client):
    product = make_product()
    entry = latest(editor_client, product.pk)
    assert re.match(TIMESTAMP, entry["at"])
    assert re.match(TIMESTAMP, entry["changes"]["created_at"][1])


@pytest.mark.parametrize("page_size", [1, 25])
def test_the_history_costs_the_same_whatever_the_page_size(
    editor_client, django_assert_num_queries, page_size
):
    product = make_product(stock=0)
    for stock in range(1, 30):
        Product.objects.filter(pk=product.pk).update(stock=stock)
    # the permission check (the user's and their groups' permissions), the product, the count,
    # the page with each actor
    with django_assert_num_queries(5):
        response = editor_client.get(history_url(product.pk), {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


def test_the_history_answers_304_to_a_client_that_has_it(editor_client):
    product = make_product()
    first = editor_client.get(history_url(product.pk))
    again = editor_client.get(history_url(product.pk), headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    Product.objects.filter(pk=product.pk).update(stock=99)
    changed = editor_client.get(history_url(product.pk), headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200


# --- migrations -------------------------------------------------------------------------------


def test_migrating_back_before_the_history_leaves_writes_working(tmp_path):
    """Every migrate re-installs the triggers; not those that would write to a table a
    migration back has removed. A process of its own, on a SQLite file of its own. The write
    before is SQL of the schema as it is then (the models are those of the latest migration)."""
    raw = (
        "from django.db import connection; connection.cursor().execute("
        "\"INSERT INTO products_category (name, slug, description) VALUES ('{0}', '{0}', '')\")"
    )
    write = "from products.models import Category; Category.objects.create(name='{0}', slug='{0}')"
    count = "; from products.models import CatalogChange; print(CatalogChange.objects.count())"

    def manage(*args: str) -> str:
        done = manage_on(tmp_path / "db.sqlite3", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("migrate", "products", "0008", "--noinput", "-v0")
    manage("shell", "-v0", "-c", raw.format("before"))
    manage("migrate", "--noinput", "-v0")
    assert manage("shell", "-v0", "-c", write.format("after") + count).split() == ["1"]
