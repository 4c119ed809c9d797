"""The catalog's versions (`products.versions`): the database moves them on every write, and a
query's topics name what it reads, so a cached answer is thrown away exactly when it can be
wrong."""

from decimal import Decimal

from django.db import connection

from products import versions
from products.models import Category, Product
from tests.factories import make_category, make_product

PRODUCTS = Product._meta.db_table


def moved_by(write) -> set[str]:
    before = versions.current()
    write()
    after = versions.current()
    return {topic for topic, version in after.items() if version != before.get(topic, 0)}


def test_creating_and_deleting_a_product_moves_its_table():
    product = make_product()
    assert PRODUCTS in moved_by(lambda: make_product())
    assert PRODUCTS in moved_by(product.delete)


def test_an_update_moves_the_columns_it_changed_and_no_others():
    product = make_product(stock=3, price=Decimal("5.00"))

    moved = moved_by(lambda: Product.objects.filter(pk=product.pk).update(stock=0))

    if connection.vendor == "postgresql":
        assert moved == {f"{PRODUCTS}.stock"}
    else:  # SQLite's row triggers cannot name columns: the whole table moves
        assert moved == {PRODUCTS}


def test_an_update_that_changes_nothing_moves_nothing_on_postgresql():
    product = make_product(stock=3)

    moved = moved_by(lambda: Product.objects.filter(pk=product.pk).update(stock=3))

    assert moved == (set() if connection.vendor == "postgresql" else {PRODUCTS})


def test_a_category_rename_moves_the_category_table_or_its_name():
    shelf = make_category(name="Lamps")

    moved = moved_by(lambda: Category.objects.filter(pk=shelf.pk).update(name="Lights"))

    expected = (
        "products_category.name" if connection.vendor == "postgresql" else "products_category"
    )
    assert expected in moved


def test_a_lists_topics_are_what_it_filters_orders_and_hides_by():
    shelf = make_category()
    query = (
        Product.objects.filter(is_active=True, category_id__in=[shelf.pk], price__gte=1)
        .order_by("-stock", "-id")
        .query
    )

    unordered = set(versions.topics_of(query, ordered=False))
    ordered = set(versions.topics_of(query))

    columns = {f"{PRODUCTS}.{name}" for name in ("is_active", "category_id", "price")}
    assert columns <= unordered
    assert f"{PRODUCTS}.stock" not in unordered
    assert {f"{PRODUCTS}.stock", f"{PRODUCTS}.id"} <= ordered
    assert f"{PRODUCTS}.name" not in ordered


def test_a_stamp_moves_when_any_of_its_topics_moves():
    product = make_product(stock=3)
    topics = (PRODUCTS, f"{PRODUCTS}.stock")
    before = versions.stamp(versions.current(), topics)

    Product.objects.filter(pk=product.pk).update(stock=4)

    assert versions.stamp(versions.current(), topics) > before


def test_an_update_moves_each_changed_rows_own_version_on_postgresql():
    changed, untouched = make_product(stock=1), make_product(stock=1)
    topics = [versions.row_topic(PRODUCTS, changed.pk), versions.row_topic(PRODUCTS, untouched.pk)]
    before = versions.current(topics)

    Product.objects.filter(pk=changed.pk).update(stock=2)

    after = versions.current(topics)
    moved = {topic for topic in topics if after.get(topic, 0) != before.get(topic, 0)}
    expected = {topics[0]} if connection.vendor == "postgresql" else set()
    assert moved == expected
