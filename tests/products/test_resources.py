"""Each catalog resource is declared once (`products.resources`): the API's fields, the fast
rows, the CSV columns and the admin's list all come from that declaration, and these tests fail
as soon as one of them disagrees with it or with the model."""

import pytest

from products.admin import ProductAdmin
from products.bulk import exporter
from products.bulk.rules import category_columns, product_columns
from products.bulk.staging import product_columns as staging_columns
from products.models import Category, Product, SearchDocument
from products.resources import CATEGORY, PRODUCT
from products.serializers import CategorySerializer, ProductListItemSerializer, ProductSerializer

# A relation to a row of the same file is written as that row's natural key, which the file
# holds; ids of another file's rows stay ids (API.md, "Bulk data").
WRITTEN_BY_NATURAL_KEY = {"parent_id": "parent_slug"}
RESOURCES = [
    pytest.param(PRODUCT, Product, ProductSerializer, id="product"),
    pytest.param(CATEGORY, Category, CategorySerializer, id="category"),
]


@pytest.mark.parametrize(("resource", "model", "serializer"), RESOURCES)
def test_every_column_of_the_model_is_declared(resource, model, serializer):
    columns = {field.name for field in model._meta.concrete_fields}
    assert columns <= set(resource.api_fields)


@pytest.mark.parametrize(("resource", "model", "serializer"), RESOURCES)
def test_the_csv_columns_are_exactly_the_models_columns(resource, model, serializer):
    """A column the model stores but the files leave out would be lost on a move between
    databases; a CSV column the model does not store could not be imported."""
    csv_names = [name for name, _ in resource.csv_fields]
    columns = [field.attname for field in model._meta.concrete_fields]
    assert csv_names == [WRITTEN_BY_NATURAL_KEY.get(column, column) for column in columns]


@pytest.mark.parametrize(("resource", "model", "serializer"), RESOURCES)
def test_the_serializer_shows_the_declared_fields_in_their_order(resource, model, serializer):
    fields = serializer().fields
    assert list(fields) == resource.api_fields
    read_only = {name for name, field in fields.items() if field.read_only}
    assert read_only == set(resource.read_only_fields)


def test_the_list_serializer_shows_the_declared_list_fields_in_their_order():
    assert list(ProductListItemSerializer().fields) == PRODUCT.list_api_fields
    assert "image" in PRODUCT.list_api_fields
    assert "images" not in PRODUCT.list_api_fields


def test_export_writes_the_columns_import_reads():
    assert list(product_columns()) == exporter.PRODUCT_HEADER
    assert list(category_columns()) == exporter.CATEGORY_HEADER
    assert staging_columns()[1:-1] == exporter.PRODUCT_HEADER


def test_search_matches_the_declared_searchable_fields():
    searched = {expression.name for expression in SearchDocument().get_source_expressions()}
    assert searched == set(PRODUCT.search_fields)


def test_the_admin_lists_the_declared_columns():
    """By name: a date-time column is a display function named after its field."""
    columns = [getattr(column, "__name__", column) for column in ProductAdmin.list_display]
    assert tuple(columns) == PRODUCT.admin_list
    assert set(ProductAdmin.list_editable) <= set(PRODUCT.admin_list)
