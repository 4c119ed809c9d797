"""The catalog in the Django admin, where staff work every day (API.md, "Documentation and
operations": `/admin/` for categories and products)."""

import html
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from products.models import PARENT_CYCLE, PATH_SEPARATOR, Category, Product
from tests.factories import grant, make_category, make_product, make_user
from tests.products.images import NO_IMAGE_FORMS

PRODUCT_CHANGELIST_URL = "/admin/products/product/"
PRODUCT_ADD_URL = "/admin/products/product/add/"
CATEGORY_CHANGELIST_URL = "/admin/products/category/"
CATEGORY_ADD_URL = "/admin/products/category/add/"
ADMIN_LOGIN_URL = "/admin/login/"
PRODUCT_COLUMNS = [
    "name",
    "sku",
    "price",
    "stock",
    "is_active",
    "category",
    "created_at",
    "updated_at",
]


def product_change_url(pk: int) -> str:
    return f"{PRODUCT_CHANGELIST_URL}{pk}/change/"


def listed_pks(response) -> list[int]:
    assert response.status_code == 200
    return sorted(product.pk for product in response.context["cl"].result_list)


def changelist_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured]


def list_edit_form(product, **values: str) -> dict:
    """The change list's form (its editable columns) saving `values` for one product."""
    cells = {"price": str(product.price), "stock": str(product.stock), "is_active": "on"}
    return {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(product.pk),
        **{f"form-0-{name}": value for name, value in (cells | values).items()},
        "_save": "Save",
    }


def product_form(**overrides) -> dict:
    return (
        {
            "name": "Copper Kettle",
            "sku": "KTL-copper",
            "description": "Whistles.",
            "category": "",
            "price": "39.90",
            "stock": "12",
            "is_active": "on",
            "_save": "Save",
        }
        | NO_IMAGE_FORMS
        | overrides
    )


# --- Product changelist -------------------------------------------------------------------------


def test_product_changelist_cost_does_not_grow_with_the_number_of_products(admin_client):
    for _ in range(5):
        make_product(category=make_category())
    changelist_queries(admin_client, PRODUCT_CHANGELIST_URL)  # warm per-process caches
    with_five = changelist_queries(admin_client, PRODUCT_CHANGELIST_URL)

    for _ in range(35):
        make_product(category=make_category())
    with_forty = changelist_queries(admin_client, PRODUCT_CHANGELIST_URL)

    assert len(with_forty) == len(with_five), "\n".join(with_forty)


def test_product_changelist_shows_every_column(admin_client):
    category = make_category(name="Kitchen")
    make_product(name="Copper Kettle", sku="KTL-1", price=Decimal("39.90"), category=category)

    response = admin_client.get(PRODUCT_CHANGELIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    headers = re.findall(r'<th[^>]*class="[^"]*column-(\w+)', content)
    assert headers == PRODUCT_COLUMNS
    for text in ("Copper Kettle", "KTL-1", "39.90", "Kitchen"):
        assert text in content


def test_product_changelist_writes_timestamps_as_a_date_over_a_time(admin_client):
    product = make_product()
    created = datetime(2026, 1, 31, 12, 5, 9, tzinfo=UTC)
    Product.objects.filter(pk=product.pk).update(created_at=created)

    response = admin_client.get(PRODUCT_CHANGELIST_URL)

    assert response.status_code == 200
    cell = re.search(r'<td class="field-created_at">(.*?)</td>', response.content.decode())[1]
    assert cell == (
        '<time datetime="2026-01-31T12:05:09+00:00" title="2026-01-31 12:05:09 UTC">'
        "2026-01-31<br>12:05</time>"
    )


def test_product_changelist_search_finds_a_product_by_sku(admin_client):
    wanted = make_product(sku="FIND-ME-42", name="Plain")
    make_product(sku="OTHER-1", name="Plain")

    response = admin_client.get(PRODUCT_CHANGELIST_URL, {"q": "find-me-42"})

    assert listed_pks(response) == [wanted.pk]


@pytest.mark.parametrize(("value", "active"), [("0", False), ("1", True)])
def test_product_changelist_filters_by_is_active(admin_client, value, active):
    on_sale, hidden = make_product(is_active=True), make_product(is_active=False)

    response = admin_client.get(PRODUCT_CHANGELIST_URL, {"is_active__exact": value})

    assert listed_pks(response) == [on_sale.pk if active else hidden.pk]


def test_product_changelist_filters_by_category(admin_client):
    garden, kitchen = make_category(), make_category()
    in_garden = [make_product(category=garden).pk for _ in range(2)]
    make_product(category=kitchen)
    make_product(category=None)

    response = admin_client.get(PRODUCT_CHANGELIST_URL, {"category__id__exact": garden.pk})

    assert listed_pks(response) == sorted(in_garden)


@pytest.mark.parametrize(
    ("action", "before", "after"), [("deactivate", True, False), ("activate", False, True)]
)
def test_activate_and_deactivate_actions_change_the_database(admin_client, action, before, after):
    chosen = [make_product(is_active=before) for _ in range(2)]
    untouched = make_product(is_active=before)

    response = admin_client.post(
        PRODUCT_CHANGELIST_URL,
        {"action": action, "_selected_action": [str(product.pk) for product in chosen]},
    )

    assert response.status_code == 302
    for product in chosen:
        product.refresh_from_db()
        assert product.is_active is after
    untouched.refresh_from_db()
    assert untouched.is_active is before


def test_add_form_creates_a_product(admin_client):
    kitchen = make_category(name="Kitchen")

    response = admin_client.post(PRODUCT_ADD_URL, product_form(category=str(kitchen.pk)))

    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get(sku="KTL-copper")
    assert (product.name, product.description) == ("Copper Kettle", "Whistles.")
    assert (product.price, product.stock, product.is_active) == (Decimal("39.90"), 12, True)
    assert product.category == kitchen


@pytest.mark.parametrize(
    ("field", "value"),
    [("sku", "ktl-COPPER"), ("sku", "has space"), ("price", "-1.00"), ("stock", "-1")],
)
def test_add_form_refuses_what_the_api_refuses(admin_client, field, value):
    make_product(sku="KTL-copper")

    response = admin_client.post(PRODUCT_ADD_URL, product_form(**{field: value}))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Product.objects.count() == 1


def test_created_at_and_updated_at_are_read_only_on_the_change_form(admin_client):
    moment = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
    product = make_product(sku="KTL-copper", created_at=moment)
    Product.objects.filter(pk=product.pk).update(updated_at=moment)

    page = admin_client.get(product_change_url(product.pk))
    posted = admin_client.post(
        product_change_url(product.pk),
        product_form(created_at="2000-01-01 00:00:00", updated_at="2000-01-01 00:00:00"),
    )

    assert page.status_code == 200
    form_fields = page.context["adminform"].form.fields
    assert "created_at" not in form_fields
    assert "updated_at" not in form_fields
    assert 'name="created_at"' not in page.content.decode()
    assert posted.status_code == 302
    product.refresh_from_db()
    assert product.created_at == moment
    assert product.updated_at > moment


# --- Categories ---------------------------------------------------------------------------------


def category_row_cells(content: str, name: str) -> list[str]:
    """The text of every cell in the changelist row of the category called `name`."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", content, flags=re.DOTALL):
        if f">{name}<" in row:
            cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.DOTALL)
            return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]
    raise AssertionError(f"no row for {name!r}")


def test_category_changelist_shows_product_counts(admin_client):
    lamps, empty = make_category(name="Lamps"), make_category(name="Empty shelf")
    for is_active in (True, True, False):
        make_product(category=lamps, is_active=is_active)

    response = admin_client.get(CATEGORY_CHANGELIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert "2" in category_row_cells(content, "Lamps")
    assert "0" in category_row_cells(content, empty.name)


def test_category_changelist_cost_does_not_grow_with_the_number_of_categories(admin_client):
    for _ in range(3):
        make_product(category=make_category())
    changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)  # warm per-process caches
    with_three = changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)

    for _ in range(30):
        make_product(category=make_category())
    with_thirty_three = changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)

    assert len(with_thirty_three) == len(with_three), "\n".join(with_thirty_three)


def test_category_add_form_prepopulates_the_slug_from_the_name(admin_client):
    response = admin_client.get(CATEGORY_ADD_URL)

    assert response.status_code == 200
    found = re.search(r'data-prepopulated-fields="([^"]*)"', response.content.decode())
    assert found, "no prepopulated-fields data on the page"
    fields = json.loads(html.unescape(found.group(1)))
    slug = next(field for field in fields if field["id"] == "#id_slug")
    assert slug["dependency_ids"] == ["#id_name"]


def test_category_add_form_creates_a_category(admin_client):
    response = admin_client.post(
        CATEGORY_ADD_URL, {"name": "Garden", "slug": "garden", "description": "", "_save": "Save"}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Category.objects.filter(name="Garden", slug="garden").exists()


# --- Who may enter ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [PRODUCT_CHANGELIST_URL, CATEGORY_CHANGELIST_URL, PRODUCT_ADD_URL])
def test_a_non_staff_user_is_sent_to_the_login_page(client, customer, url):
    client.force_login(customer)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN_URL)


@pytest.mark.parametrize("url", [PRODUCT_CHANGELIST_URL, CATEGORY_CHANGELIST_URL])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN_URL)


def test_staff_without_catalog_permissions_are_refused(client, staff):
    client.force_login(staff)

    assert client.get(PRODUCT_CHANGELIST_URL).status_code == 403
    assert client.post(PRODUCT_ADD_URL, product_form()).status_code == 403
    assert not Product.objects.exists()


def test_a_non_staff_user_cannot_run_actions_even_with_permissions(client):
    user = grant(make_user(), "products.change_product", "products.view_product")
    product = make_product(is_active=True)
    client.force_login(user)

    response = client.post(
        PRODUCT_CHANGELIST_URL, {"action": "deactivate", "_selected_action": [str(product.pk)]}
    )

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN_URL)
    product.refresh_from_db()
    assert product.is_active is True


def garden_tree() -> dict[str, Category]:
    home = make_category(name="Home")
    garden = make_category(name="Garden", parent=home)
    return {
        "home": home,
        "garden": garden,
        "tools": make_category(name="Tools", parent=garden),
        "toys": make_category(name="Toys"),
    }


def test_category_changelist_shows_each_categorys_path_in_the_tree(admin_client):
    garden_tree()

    response = admin_client.get(CATEGORY_CHANGELIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert category_row_cells(content, f"Home{PATH_SEPARATOR}Garden{PATH_SEPARATOR}Tools")
    assert category_row_cells(content, f"Home{PATH_SEPARATOR}Garden")
    assert category_row_cells(content, "Toys")


def listed_categories(response) -> list[str]:
    assert response.status_code == 200
    return sorted(category.name for category in response.context["cl"].result_list)


def test_category_changelist_filters_by_parent_and_by_roots(admin_client):
    tree = garden_tree()

    children = admin_client.get(CATEGORY_CHANGELIST_URL, {"parent": tree["home"].pk})
    roots = admin_client.get(CATEGORY_CHANGELIST_URL, {"parent": "null"})

    assert listed_categories(children) == ["Garden"]
    assert listed_categories(roots) == ["Home", "Toys"]
    assert f"Home{PATH_SEPARATOR}Garden" in children.content.decode()  # a choice of the filter


def test_category_changelist_cost_does_not_grow_with_the_depth(admin_client):
    for _ in range(3):
        make_category()
    changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)  # warm per-process caches
    flat = changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)

    parent = None
    for level in range(6):
        parent = make_category(name=f"Level {level}", parent=parent)
    deep = changelist_queries(admin_client, CATEGORY_CHANGELIST_URL)

    assert len(deep) == len(flat), "\n".join(deep)


def test_category_change_form_refuses_a_parent_below_the_category(admin_client):
    tree = garden_tree()
    change_url = f"{CATEGORY_CHANGELIST_URL}{tree['garden'].pk}/change/"

    response = admin_client.post(
        change_url,
        {
            "name": "Garden",
            "slug": tree["garden"].slug,
            "description": "",
            "parent": tree["tools"].pk,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"parent": [PARENT_CYCLE]}
    assert Category.objects.get(pk=tree["garden"].pk).parent == tree["home"]
