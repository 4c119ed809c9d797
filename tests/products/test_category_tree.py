"""The category tree (API.md, "A catalog a storefront can be built on"): `parent`, `ancestors`,
counts that take in the categories below, the list's `parent` and `slug` filters, the nested
tree, and product filters that take in the categories below."""

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from products.models import (
    CATEGORY_HAS_CHILDREN,
    MAX_DEPTH,
    PARENT_CYCLE,
    PARENT_TOO_DEEP,
    Category,
    Product,
)
from tests.factories import make_category, make_product
from tests.products.test_import_export import csv_file, failed_import, run_export, run_import

CATEGORIES_URL = "/api/v1/categories/"
TREE_URL = "/api/v1/categories/tree/"
PRODUCTS_URL = "/api/v1/products/"


def detail_url(pk: int) -> str:
    return f"{CATEGORIES_URL}{pk}/"


def stored_parents() -> dict[int, int | None]:
    return dict(Category.objects.values_list("pk", "parent_id"))


def chain(depth: int, prefix: str = "level") -> list[Category]:
    """Categories `depth` levels deep, each under the one before."""
    categories, parent = [], None
    for level in range(1, depth + 1):
        parent = make_category(name=f"{prefix} {level}", slug=f"{prefix}-{level}", parent=parent)
        categories.append(parent)
    return categories


@pytest.fixture
def garden() -> dict[str, Category]:
    """Home > Garden > Tools and Seeds, Home > Kitchen, and Toys (a root)."""
    home = make_category(name="Home", slug="home")
    garden = make_category(name="Garden", slug="garden", parent=home)
    return {
        "home": home,
        "garden": garden,
        "tools": make_category(name="Tools", slug="tools", parent=garden),
        "seeds": make_category(name="Seeds", slug="seeds", parent=garden),
        "kitchen": make_category(name="Kitchen", slug="kitchen", parent=home),
        "toys": make_category(name="Toys", slug="toys"),
    }


def brief(category: Category) -> dict:
    return {"id": category.pk, "name": category.name, "slug": category.slug}


# --- parent and ancestors -----------------------------------------------------------------------


def test_a_category_created_under_a_parent_shows_its_ancestors_from_the_root(editor_client, garden):
    response = editor_client.post(
        CATEGORIES_URL, {"name": "Rakes", "parent": garden["tools"].pk}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent"] == garden["tools"].pk
    expected = [brief(garden["home"]), brief(garden["garden"]), brief(garden["tools"])]
    assert body["ancestors"] == expected
    assert Category.objects.get(pk=body["id"]).parent == garden["tools"]
    assert editor_client.get(detail_url(body["id"])).json()["ancestors"] == expected


def test_the_list_shows_each_categorys_parent_and_ancestors(api_client, garden):
    rows = {row["slug"]: row for row in api_client.get(CATEGORIES_URL).json()["results"]}

    assert rows["home"]["parent"] is None
    assert rows["home"]["ancestors"] == []
    assert rows["tools"]["parent"] == garden["garden"].pk
    assert rows["tools"]["ancestors"] == [brief(garden["home"]), brief(garden["garden"])]


def test_moving_a_category_moves_its_subtree_and_answers_the_new_ancestors(editor_client, garden):
    response = editor_client.patch(
        detail_url(garden["garden"].pk), {"parent": garden["toys"].pk}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["ancestors"] == [brief(garden["toys"])]
    tools = editor_client.get(detail_url(garden["tools"].pk)).json()
    assert tools["ancestors"] == [brief(garden["toys"]), brief(garden["garden"])]


def test_a_category_may_become_a_root_again(editor_client, garden):
    response = editor_client.patch(detail_url(garden["garden"].pk), {"parent": None}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["ancestors"] == []
    assert Category.objects.get(pk=garden["garden"].pk).parent is None


@pytest.mark.parametrize("under", ["garden", "tools"])
def test_a_parent_that_makes_a_cycle_is_refused_and_nothing_is_written(
    editor_client, garden, under
):
    """Under itself, or under one of its own descendants."""
    before = stored_parents()

    response = editor_client.patch(
        detail_url(garden["garden"].pk), {"parent": garden[under].pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"parent": [PARENT_CYCLE]}
    assert stored_parents() == before


def test_a_new_category_past_the_deepest_level_is_refused(editor_client):
    deepest = chain(MAX_DEPTH)[-1]
    count = Category.objects.count()

    response = editor_client.post(
        CATEGORIES_URL, {"name": "Too deep", "parent": deepest.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"parent": [PARENT_TOO_DEEP]}
    assert Category.objects.count() == count


def test_the_deepest_level_itself_is_allowed(editor_client):
    above = chain(MAX_DEPTH - 1)[-1]

    response = editor_client.post(CATEGORIES_URL, {"name": "Deepest", "parent": above.pk})

    assert response.status_code == 201, response.content
    assert len(response.json()["ancestors"]) == MAX_DEPTH - 1


def test_moving_a_subtree_so_that_its_leaves_pass_the_deepest_level_is_refused(editor_client):
    """The category itself would be at level 7, its grandchild at 9."""
    long = chain(MAX_DEPTH - 2, "long")
    subtree = chain(3, "short")
    before = stored_parents()

    response = editor_client.patch(
        detail_url(subtree[0].pk), {"parent": long[-1].pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"parent": [PARENT_TOO_DEEP]}
    assert stored_parents() == before


def test_an_unknown_parent_is_refused(editor_client):
    response = editor_client.post(CATEGORIES_URL, {"name": "Orphan", "parent": 999_999})

    assert response.status_code == 400
    assert response.json() == {"parent": ["There is no category with id 999999."]}
    assert not Category.objects.exists()


def test_a_category_with_subcategories_cannot_be_deleted(editor_client, garden):
    response = editor_client.delete(detail_url(garden["garden"].pk))

    assert response.status_code == 409
    assert response.json()["detail"] == CATEGORY_HAS_CHILDREN
    assert Category.objects.count() == len(garden)


def test_a_leaf_category_can_be_deleted(editor_client, garden):
    response = editor_client.delete(detail_url(garden["tools"].pk))

    assert response.status_code == 204
    assert not Category.objects.filter(pk=garden["tools"].pk).exists()


def test_a_whole_subtree_may_be_deleted_in_one_operation(garden):
    """As the admin's "delete selected" does: nothing is left pointing at a deleted row."""
    Category.objects.filter(slug__in=["garden", "tools", "seeds"]).delete()

    assert set(Category.objects.values_list("slug", flat=True)) == {"home", "kitchen", "toys"}


@pytest.mark.django_db(transaction=True)
def test_two_moves_racing_to_make_a_cycle_let_only_one_through(editor):
    """A under B and B under A, each fine alone, checked at the same moment: the second
    check must see the first move, or the tree would hold a cycle."""
    first, second = make_category(name="First"), make_category(name="Second")
    moves = [(first, second), (second, first)]
    barrier = threading.Barrier(len(moves))
    statuses: list[int] = []

    def move(category: Category, parent: Category) -> None:
        client = APIClient()
        client.force_authenticate(editor)
        try:
            barrier.wait(timeout=10)
            response = client.patch(detail_url(category.pk), {"parent": parent.pk}, format="json")
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=pair) for pair in moves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200, 400]
    parents = stored_parents()
    assert None in (parents[first.pk], parents[second.pk])


# --- product_count ------------------------------------------------------------------------------


def test_product_count_takes_in_the_active_products_of_every_category_below(api_client, garden):
    for name, actives, inactives in [("home", 1, 1), ("tools", 2, 1), ("seeds", 3, 0)]:
        for is_active in [True] * actives + [False] * inactives:
            make_product(category=garden[name], is_active=is_active)
    make_product(category=garden["toys"])
    expected = {"home": 6, "garden": 5, "tools": 2, "seeds": 3, "kitchen": 0, "toys": 1}

    listed = {
        row["slug"]: row["product_count"]
        for row in api_client.get(CATEGORIES_URL).json()["results"]
    }

    assert listed == expected
    assert api_client.get(detail_url(garden["garden"].pk)).json()["product_count"] == 5


def test_the_deepest_level_counts_in_every_category_above_and_matches_their_filters(api_client):
    levels = chain(MAX_DEPTH)
    make_product(category=levels[-1], sku="deepest")

    counts = {row["slug"]: row["product_count"] for row in api_client.get(TREE_URL).json()}
    listed = {
        row["slug"]: row["product_count"]
        for row in api_client.get(CATEGORIES_URL, {"page_size": 100}).json()["results"]
    }

    assert counts == {"level-1": 1}
    assert set(listed.values()) == {1}
    assert listed.keys() == {category.slug for category in levels}
    for category in levels:
        assert listed_skus(api_client, category=category.pk) == {"deepest"}
        assert listed_skus(api_client, category_slug=category.slug) == {"deepest"}


# --- list filters -------------------------------------------------------------------------------


def listed_slugs(client, **params) -> list[str]:
    response = client.get(CATEGORIES_URL, params)
    assert response.status_code == 200, response.content
    return [row["slug"] for row in response.json()["results"]]


def test_the_list_filters_by_parent(api_client, garden):
    assert listed_slugs(api_client, parent=garden["garden"].pk) == ["seeds", "tools"]
    assert listed_slugs(api_client, parent=garden["tools"].pk) == []


def test_parent_null_lists_the_roots(api_client, garden):
    assert listed_slugs(api_client, parent="null") == ["home", "toys"]


def test_the_list_filters_by_slug_exactly(api_client, garden):
    assert listed_slugs(api_client, slug="garden") == ["garden"]
    assert listed_slugs(api_client, slug="GARDEN") == ["garden"]
    assert listed_slugs(api_client, slug="gard") == []


@pytest.mark.parametrize(
    ("name", "value"), [("parent", "x"), ("parent", "-1"), ("parent", "None"), ("slug", "a b")]
)
def test_a_malformed_list_filter_is_400_naming_it(api_client, garden, name, value):
    response = api_client.get(CATEGORIES_URL, {name: value})

    assert response.status_code == 400
    assert list(response.json()) == [name]


# --- the whole tree -----------------------------------------------------------------------------


def test_the_tree_nests_every_category_by_name_with_counts_of_everything_below(api_client, garden):
    make_product(category=garden["tools"])
    make_product(category=garden["kitchen"])
    make_product(category=garden["kitchen"], is_active=False)

    response = api_client.get(TREE_URL)

    def node(name, count, *children):
        return brief(garden[name]) | {"product_count": count, "children": list(children)}

    assert response.status_code == 200
    assert response.json() == [
        node(
            "home",
            2,
            node("garden", 1, node("seeds", 0), node("tools", 1)),
            node("kitchen", 1),
        ),
        node("toys", 0),
    ]


def test_the_tree_of_an_empty_catalog_is_an_empty_list(api_client):
    assert api_client.get(TREE_URL).json() == []


def test_the_tree_answers_304_to_its_etag_and_a_new_etag_after_a_move(
    api_client, editor_client, garden
):
    first = api_client.get(TREE_URL)
    again = api_client.get(TREE_URL, HTTP_IF_NONE_MATCH=first["ETag"])
    editor_client.patch(detail_url(garden["seeds"].pk), {"parent": None}, format="json")
    moved = api_client.get(TREE_URL, HTTP_IF_NONE_MATCH=first["ETag"])

    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])
    assert moved.status_code == 200
    assert moved["ETag"] != first["ETag"]
    assert [root["slug"] for root in moved.json()] == ["home", "seeds", "toys"]


# --- product filters ----------------------------------------------------------------------------


def listed_skus(client, **params) -> set[str]:
    response = client.get(PRODUCTS_URL, params)
    assert response.status_code == 200, response.content
    return {row["sku"] for row in response.json()["results"]}


@pytest.fixture
def stocked(garden) -> dict[str, Category]:
    for name in garden:
        make_product(category=garden[name], sku=f"in-{name}")
    make_product(category=None, sku="nowhere")
    return garden


def test_the_category_filter_takes_in_the_categories_below(api_client, stocked):
    assert listed_skus(api_client, category=stocked["garden"].pk) == {
        "in-garden",
        "in-tools",
        "in-seeds",
    }
    assert listed_skus(api_client, category=stocked["tools"].pk) == {"in-tools"}
    assert listed_skus(api_client, category=[stocked["kitchen"].pk, stocked["toys"].pk]) == {
        "in-kitchen",
        "in-toys",
    }


def test_the_category_slug_filter_does_the_same_by_slug(api_client, stocked):
    assert listed_skus(api_client, category_slug="home") == {
        "in-home",
        "in-garden",
        "in-tools",
        "in-seeds",
        "in-kitchen",
    }
    assert listed_skus(api_client, category_slug=["Seeds", "toys"]) == {"in-seeds", "in-toys"}


def test_an_unknown_category_slug_matches_no_product(api_client, stocked):
    response = api_client.get(PRODUCTS_URL, {"category_slug": "no-such-category"})

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_malformed_category_slug_is_400(api_client, stocked):
    response = api_client.get(PRODUCTS_URL, {"category_slug": "not a slug"})

    assert response.status_code == 400
    assert list(response.json()) == ["category_slug"]


# --- costs: a deep tree costs what a flat one does ----------------------------------------------


def flat_and_deep() -> tuple[list[Category], list[Category]]:
    flat = [make_category(name=f"Flat {n}", slug=f"flat-{n}") for n in range(3)]
    deep = chain(3, "deep")
    for category in [*flat, *deep]:
        make_product(category=category)
    return flat, deep


@pytest.mark.parametrize("shape", ["flat", "deep"])
def test_the_tree_costs_two_queries_whatever_its_shape(
    api_client, django_assert_num_queries, shape
):
    flat_and_deep() if shape == "deep" else [make_category() for _ in range(3)]

    with django_assert_num_queries(2):  # the categories, the products on sale per category
        response = api_client.get(TREE_URL)

    assert response.status_code == 200


@pytest.mark.parametrize("shape", ["flat", "deep"])
def test_the_category_list_costs_the_same_whatever_the_depth(
    api_client, django_assert_num_queries, shape
):
    _, deep = flat_and_deep()
    parent = {"flat": "null", "deep": deep[1].pk}[shape]

    with django_assert_num_queries(2):  # count, page
        response = api_client.get(CATEGORIES_URL, {"parent": parent})

    assert response.status_code == 200


@pytest.mark.parametrize("shape", ["flat", "deep"])
def test_a_product_list_filtered_by_category_costs_the_same_whatever_the_depth(
    api_client, django_assert_num_queries, shape
):
    flat, deep = flat_and_deep()
    root = {"flat": flat[0], "deep": deep[0]}[shape]

    with django_assert_num_queries(2):  # count, page
        response = api_client.get(PRODUCTS_URL, {"category": root.pk})

    assert response.json()["count"] == {"flat": 1, "deep": 3}[shape]


# --- the shared list cache follows the tree -----------------------------------------------------


@pytest.fixture
def _caches_on(settings):
    settings.API_CACHE_SECONDS = 300


@pytest.mark.usefixtures("_caches_on")
def test_a_cached_product_list_follows_a_move_made_behind_the_applications_back(
    api_client, stocked
):
    """`QuerySet.update` skips every Python hook: the database's versions still move."""
    before = listed_skus(api_client, category=stocked["toys"].pk)
    assert listed_skus(api_client, category=stocked["toys"].pk) == before == {"in-toys"}

    Category.objects.filter(pk=stocked["garden"].pk).update(parent=stocked["toys"])

    after = listed_skus(api_client, category=stocked["toys"].pk)
    assert after == {"in-toys", "in-garden", "in-tools", "in-seeds"}


@pytest.mark.usefixtures("_caches_on")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "garden"}, {"in-garden", "in-tools", "in-seeds"}),
        ({"category_slug": "home"}, {"in-home", "in-garden", "in-tools", "in-seeds", "in-kitchen"}),
        ({"category": ["tools", "toys"]}, {"in-tools", "in-toys"}),
        ({"category_slug": "nowhere-at-all"}, set()),
    ],
    ids=["id", "slug", "two", "unknown-slug"],
)
def test_a_list_read_with_the_versions_names_its_categories_ids(
    api_client, stocked, django_assert_num_queries, params, expected
):
    """The walk is read with the versions, and the count and the page name the ids it found,
    which PostgreSQL plans with what it knows of each: no more queries than a flat filter."""
    params = {
        name: [stocked[value].pk for value in values] if isinstance(values, list) else values
        for name, values in params.items()
    }
    if "category" in params and not isinstance(params["category"], list):
        params["category"] = stocked[params["category"]].pk

    statements = 3 if expected else 2  # versions (and the walk), count, page (none if empty)
    with django_assert_num_queries(statements) as queries:
        skus = listed_skus(api_client, **params)

    walks = ["RECURSIVE" in query["sql"] for query in queries.captured_queries]
    assert skus == expected
    assert walks == [True] + [False] * (statements - 1)


@pytest.mark.usefixtures("_caches_on")
def test_a_list_reads_the_subtree_again_after_a_category_moves(api_client, stocked):
    before = listed_skus(api_client, category=stocked["garden"].pk)

    Category.objects.filter(pk=stocked["tools"].pk).update(parent=stocked["toys"])

    assert before == {"in-garden", "in-tools", "in-seeds"}
    assert listed_skus(api_client, category=stocked["garden"].pk) == {
        "in-garden",
        "in-seeds",
    }
    assert listed_skus(api_client, category=stocked["toys"].pk) == {"in-toys", "in-tools"}


@pytest.mark.usefixtures("_caches_on")
def test_a_cached_category_list_follows_an_ancestors_new_name(api_client, garden):
    """Tools' row shows Home's name though Home is on no page of the children of Garden."""
    params = {"parent": garden["garden"].pk}
    api_client.get(CATEGORIES_URL, params)
    api_client.get(CATEGORIES_URL, params)

    Category.objects.filter(pk=garden["home"].pk).update(name="House", slug="house")

    rows = api_client.get(CATEGORIES_URL, params).json()["results"]
    assert [ancestor["slug"] for ancestor in rows[0]["ancestors"]] == ["house", "garden"]
    assert rows[0]["ancestors"][0]["name"] == "House"


def test_products_are_not_touched_by_a_move(editor_client, stocked):
    before = list(Product.objects.order_by("pk").values())

    editor_client.patch(detail_url(stocked["garden"].pk), {"parent": None}, format="json")

    assert list(Product.objects.order_by("pk").values()) == before


# --- CSV: parent_slug ---------------------------------------------------------------------------

TREE_HEADER = "name,slug,parent_slug"
NO_PRODUCTS = ("name,sku,price,stock,is_active,category_id",)


def test_an_import_resolves_parent_slugs_in_any_row_order(tmp_path):
    make_category(name="Home", slug="home")
    categories = csv_file(
        tmp_path,
        "categories.csv",
        TREE_HEADER,
        "Tools,tools,garden",
        "Garden,garden,home",
        "Toys,toys,",
    )

    run_import(categories, csv_file(tmp_path, "products.csv", *NO_PRODUCTS))

    parents = dict(Category.objects.values_list("slug", "parent__slug"))
    assert parents == {"home": None, "garden": "home", "tools": "garden", "toys": None}


def test_an_import_without_the_column_keeps_the_parents(tmp_path, garden):
    categories = csv_file(tmp_path, "categories.csv", "name,slug", "Tools,tools", "Rakes,rakes")

    run_import(categories, csv_file(tmp_path, "products.csv", *NO_PRODUCTS))

    parents = dict(Category.objects.values_list("slug", "parent__slug"))
    assert (parents["tools"], parents["rakes"]) == ("garden", None)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["A,a,nowhere"], [(2, "no category 'nowhere' in the file or the database")]),
        (["A,a,b", "B,b,a"], [(2, PARENT_CYCLE), (3, PARENT_CYCLE)]),
        (["A,a,a"], [(2, PARENT_CYCLE)]),
        (["Home,home,tools"], [(2, PARENT_CYCLE)]),  # Tools is below Home in the database
        (
            [f"L{n},l{n},{f'l{n - 1}' if n > 1 else ''}" for n in range(1, MAX_DEPTH + 2)],
            [(line, PARENT_TOO_DEEP) for line in range(2, MAX_DEPTH + 3)],
        ),
    ],
    ids=["unknown", "cycle", "itself", "cycle-with-the-database", "too-deep"],
)
def test_a_bad_parent_slug_is_reported_at_its_line_and_nothing_is_written(
    tmp_path, garden, records, expected
):
    path = csv_file(tmp_path, "categories.csv", TREE_HEADER, *records)
    before = stored_parents()

    _, stderr = failed_import(path, csv_file(tmp_path, "products.csv", *NO_PRODUCTS))

    problems = [line.split(": ", 2) for line in stderr.splitlines() if line.strip()]
    assert [(location, field) for location, field, _ in problems] == [
        (f"{path}:{line}", "parent_slug") for line, _ in expected
    ]
    assert [message for _, _, message in problems] == [message for _, message in expected]
    assert stored_parents() == before


def test_an_export_imported_elsewhere_gives_the_same_tree(tmp_path, garden):
    categories, products = run_export(tmp_path)
    (tmp_path / "categories.csv").write_bytes(categories)
    (tmp_path / "products.csv").write_bytes(products)
    before = dict(Category.objects.values_list("slug", "parent__slug"))
    Category.objects.filter(parent__isnull=False).update(parent=None)
    Category.objects.all().delete()

    run_import(str(tmp_path / "categories.csv"), str(tmp_path / "products.csv"))

    assert dict(Category.objects.values_list("slug", "parent__slug")) == before
    assert run_export(tmp_path, "again-") == (categories, products)
