"""`manage.py import_catalog` and `export_catalog`: whole catalogs as CSV (API.md, "Bulk data").

Every CSV file here is written out in the test, so each expected line number is counted by hand:
a quoted field holding a newline spans several physical lines, and a problem is reported at the
physical line where its record starts.
"""

import contextlib
import csv
import io
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone as django_timezone

from products.models import Category, Product
from tests.conftest import manage_on
from tests.factories import make_category, make_product

CATEGORY_HEADER = "id,name,slug,description"
PRODUCT_HEADER = "id,name,sku,description,price,stock,is_active,category_id,created_at,updated_at"
PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
ERROR_LINE = re.compile(r"(?P<file>.+?):(?P<line>\d+): (?P<field>[^:]+): (?P<message>\S.*)")
ANY_FIELD = r"[^:]+"  # a whole-row problem: the contract names no particular column


# --- Helpers -------------------------------------------------------------------------------------


def csv_file(tmp_path: Path, name: str, *records: str) -> str:
    """Each record on its own line(s); a record may hold a newline inside a quoted field."""
    path = tmp_path / name
    path.write_bytes(("\n".join(records) + "\n").encode("utf-8"))
    return str(path)


def run_import(categories: str, products: str, *args: str) -> tuple[str, str]:
    """An import that must succeed; its stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command(
            "import_catalog",
            "--categories",
            categories,
            "--products",
            products,
            *args,
            stdout=stdout,
            stderr=stderr,
        )
    except CommandError as exc:
        pytest.fail(f"import_catalog refused the files: {exc}\n{stderr.getvalue()}")
    return stdout.getvalue(), stderr.getvalue()


def failed_import(categories: str, products: str, *args: str) -> tuple[str, str]:
    """The CommandError's message and what the command wrote to stderr."""
    stderr = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_catalog",
            "--categories",
            categories,
            "--products",
            products,
            *args,
            stdout=io.StringIO(),
            stderr=stderr,
        )
    return str(caught.value), stderr.getvalue()


def run_export(tmp_path: Path, prefix: str = "") -> tuple[bytes, bytes]:
    categories, products = tmp_path / f"{prefix}categories.csv", tmp_path / f"{prefix}products.csv"
    call_command(
        "export_catalog",
        "--categories",
        str(categories),
        "--products",
        str(products),
        stdout=io.StringIO(),
    )
    return categories.read_bytes(), products.read_bytes()


def parse_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True))


def reported(stderr: str) -> list[tuple[str, int, str]]:
    """(file, line, field) of every problem, in the order reported; each line must have the
    contract's shape `FILE:LINE: field: message`."""
    problems = []
    for text in stderr.splitlines():
        if not text.strip():
            continue
        match = ERROR_LINE.fullmatch(text)
        assert match, f"not `FILE:LINE: field: message`: {text!r}"
        problems.append((match["file"], int(match["line"]), match["field"]))
    return problems


def catalog_rows() -> tuple[list[dict], list[dict]]:
    """Every category and product row, every column, as the database holds it now."""
    return (
        list(Category.objects.order_by("pk").values()),
        list(Product.objects.order_by("pk").values()),
    )


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- The catalog most tests start from, and files that are good but for one row --------------


@pytest.fixture
def shop() -> dict:
    """Two categories and two products already in the database; the values files refer to."""
    garden = make_category(name="Garden Tools", slug="garden-tools")
    make_category(name="Sheds", slug="sheds", description="Old")
    existing = make_product(sku="EXIST-1", name="Existing", category=garden)
    make_product(sku="EXIST-2", name="Shed kit")
    return {
        "category_id": garden.pk,
        "existing_id": existing.pk,
        "free_id": existing.pk + 1000,
        "missing_category_id": garden.pk + 1000,
    }


GOOD_CATEGORY_AT_4 = ",Chairs,chairs,"
GOOD_PRODUCT_AT_5 = ",Chair,CHAIR-1,,40.00,2,false,{category_id},2024-01-01T00:00:00+00:00,"


def category_records(line_4: str) -> list[str]:
    return [
        CATEGORY_HEADER,  # line 1
        ',Lamps,lamps,"Bright\nand warm"',  # lines 2-3
        line_4,  # line 4
        ",Sheds and huts,sheds,Wooden",  # line 5: updates a category in the database
    ]


def product_records(line_5: str) -> list[str]:
    return [
        PRODUCT_HEADER,  # line 1
        ',Desk lamp,LAMP-1,"Three\nline\ndescription",12.50,3,true,,,',  # lines 2-4
        line_5,  # line 5
        ",Shed kit v2,exist-2,,7.00,1,true,,,",  # line 6: updates EXIST-2
    ]


def shop_files(tmp_path: Path, shop: dict, *, category_4: str, product_5: str) -> tuple[str, str]:
    return (
        csv_file(tmp_path, "categories.csv", *category_records(category_4.format(**shop))),
        csv_file(tmp_path, "products.csv", *product_records(product_5.format(**shop))),
    )


BAD_PRODUCT_ROWS = [
    pytest.param(",Chair,CHAIR-1,,-0.01,2,false,,,", "price", id="negative price"),
    pytest.param(",Chair,CHAIR-1,,1.001,2,false,,,", "price", id="three decimals"),
    pytest.param(",Chair,CHAIR-1,,100000000.00,2,false,,,", "price", id="price over the maximum"),
    pytest.param(",Chair,CHAIR-1,,cheap,2,false,,,", "price", id="non-numeric price"),
    pytest.param(",Chair,CHAIR-1,,40.00,-1,false,,,", "stock", id="negative stock"),
    pytest.param(",Chair,CHAIR-1,,40.00,1.5,false,,,", "stock", id="fractional stock"),
    pytest.param(",Chair,CHAIR-1,,40.00,two,false,,,", "stock", id="non-integer stock"),
    pytest.param(",Chair,CHAIR-1,,40.00,2,yes,,,", "is_active", id="is_active not true/false"),
    pytest.param(",Chair,CHAIR 1,,40.00,2,false,,,", "sku", id="sku with a space"),
    pytest.param(",Chair,lamp-1,,40.00,2,false,,,", "sku", id="sku repeated in another case"),
    pytest.param("{existing_id},Chair,CHAIR-1,,40.00,2,false,,,", "id", id="id of another sku"),
    pytest.param(
        ",Chair,CHAIR-1,,40.00,2,false,{missing_category_id},,",
        "category_id",
        id="unknown category_id",
    ),
    pytest.param(",,CHAIR-1,,40.00,2,false,,,", "name", id="empty name"),
    pytest.param(",   ,CHAIR-1,,40.00,2,false,,,", "name", id="blank name"),
    pytest.param(f",{'x' * 201},CHAIR-1,,40.00,2,false,,,", "name", id="201-character name"),
    pytest.param(",Chair,CHAIR-1,a\x00b,40.00,2,false,,,", "description", id="NUL byte"),
    pytest.param(",Chair,CHAIR-1,,40.00", ANY_FIELD, id="too few columns"),
    pytest.param(",Chair,CHAIR-1,,40.00,2,false,,,,", ANY_FIELD, id="too many columns"),
    pytest.param(",Chair,CHAIR-1,,40.00,2,false,,yesterday,", "created_at", id="bad created_at"),
    pytest.param(
        ",Chair,CHAIR-1,,40.00,2,false,,2024-02-30T00:00:00+00:00,",
        "created_at",
        id="impossible created_at",
    ),
]

BAD_CATEGORY_ROWS = [
    pytest.param(",Other lamps,lamps,", "slug", id="category slug repeated"),
    pytest.param(",GARDEN TOOLS,outdoor,", "name", id="category name of a database category"),
    pytest.param(",LAMPS,other-lamps,", "name", id="category name repeated in another case"),
    pytest.param(",,chairs,", "name", id="empty category name"),
    pytest.param(",Chairs,chairs and stools,", "slug", id="category slug with spaces"),
]


# --- A good import -------------------------------------------------------------------------------


def test_the_shop_files_without_a_bad_row_import_cleanly(tmp_path, shop):
    """The control for every bad-row case below: only the replaced row is ever wrong."""
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )

    run_import(categories, products)

    assert sorted(Category.objects.values_list("slug", "name", "description")) == [
        ("chairs", "Chairs", ""),
        ("garden-tools", "Garden Tools", ""),
        ("lamps", "Lamps", "Bright\nand warm"),
        ("sheds", "Sheds and huts", "Wooden"),
    ]
    assert sorted(Product.objects.values_list("sku", "name", "description", "category_id")) == [
        ("CHAIR-1", "Chair", "", shop["category_id"]),
        ("EXIST-1", "Existing", "", shop["category_id"]),
        ("LAMP-1", "Desk lamp", "Three\nline\ndescription", None),
        ("exist-2", "Shed kit v2", "", None),
    ]


def test_import_creates_rows_with_the_given_ids_and_timestamps(tmp_path):
    old_category, old = make_category(), make_product()
    c, p = old_category.pk, old.pk
    categories = csv_file(
        tmp_path,
        "categories.csv",
        CATEGORY_HEADER,
        ",Alpha,alpha,",  # no id, before the rows whose ids it must not take
        f"{c + 1},Beta,beta,Beta things",
        f"{c + 40},Gamma,gamma,",
    )
    long_name = "n" * 200
    products = csv_file(
        tmp_path,
        "products.csv",
        PRODUCT_HEADER,
        ",First without id,NOID-1,,1.00,1,true,,,",
        f'{p + 1},Lamp,LAMP-1,"A lamp, ""bright""",12.50,3,true,{c + 1},'
        "2021-03-04T05:06:07.123456+00:00,2022-01-02T03:04:05.654321+00:00",
        f"{p + 30},Chair,CHAIR-1,,0,0,false,{c + 40},2020-01-01T00:00:00+02:00,",
        f",Second without id,NOID-2,,99999999.99,2147483647,false,{c},,",
        f"{p + 2},{long_name},LONG-1,,5.00,1,true,,,",
    )
    started = django_timezone.now()

    run_import(categories, products)

    finished = django_timezone.now()
    assert Category.objects.get(slug="beta").pk == c + 1
    assert Category.objects.get(slug="gamma").pk == c + 40
    assert Category.objects.get(slug="alpha").pk not in {c, c + 1, c + 40}
    assert Category.objects.count() == 4
    lamp = Product.objects.filter(sku="LAMP-1").values().get()
    assert lamp == {
        "id": p + 1,
        "name": "Lamp",
        "sku": "LAMP-1",
        "description": 'A lamp, "bright"',
        "price": Decimal("12.50"),
        "stock": 3,
        "is_active": True,
        "category_id": c + 1,
        "created_at": utc(2021, 3, 4, 5, 6, 7, 123456),
        "updated_at": utc(2022, 1, 2, 3, 4, 5, 654321),
    }
    chair = Product.objects.get(sku="CHAIR-1")
    assert chair.pk == p + 30
    assert (chair.price, chair.stock, chair.is_active) == (Decimal("0.00"), 0, False)
    assert chair.category_id == c + 40
    assert chair.created_at == utc(2019, 12, 31, 22, 0, 0)
    assert started <= chair.updated_at <= finished
    assert Product.objects.get(sku="LONG-1").pk == p + 2
    assert Product.objects.get(sku="LONG-1").name == long_name
    second = Product.objects.get(sku="NOID-2")
    assert (second.price, second.stock, second.category_id) == (
        Decimal("99999999.99"),
        2147483647,
        c,
    )
    assigned = Product.objects.filter(sku__in=["NOID-1", "NOID-2"])
    assert len({product.pk for product in assigned}) == 2
    for product in assigned:
        assert product.pk > p + 30, "an assigned id must come after every id in table and file"
        assert started <= product.created_at <= finished
        assert started <= product.updated_at <= finished
    assert Product.objects.count() == 6


def test_products_created_through_the_api_after_an_import_get_fresh_ids(tmp_path, editor_client):
    first = make_product()
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER, ",Lamps,lamps,")
    products = csv_file(
        tmp_path,
        "products.csv",
        PRODUCT_HEADER,
        f"{first.pk + 1},Next,NEXT-1,,1.00,1,true,,,",  # the id the sequence would give next
        f"{first.pk + 500},Far,FAR-1,,1.00,1,true,,,",
    )
    run_import(categories, products)

    response = editor_client.post(
        PRODUCTS_URL,
        {"name": "After import", "sku": "AFTER-1", "description": "", "price": "1.00"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["id"] > first.pk + 500
    assert Product.objects.count() == 4


def test_categories_created_through_the_api_after_an_import_get_fresh_ids(tmp_path, editor_client):
    first = make_category()
    categories = csv_file(
        tmp_path,
        "categories.csv",
        CATEGORY_HEADER,
        f"{first.pk + 1},Next,next,",
        f"{first.pk + 500},Far,far,",
    )
    products = csv_file(tmp_path, "products.csv", PRODUCT_HEADER)
    run_import(categories, products)

    response = editor_client.post(CATEGORIES_URL, {"name": "After import"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["id"] > first.pk + 500
    assert Category.objects.count() == 4


# --- A second import updates -----------------------------------------------------------------


def test_a_second_import_updates_by_slug_and_by_sku_in_any_case(tmp_path):
    lamps = make_category(name="Lamps", slug="lamps", description="Old")
    created = utc(2020, 5, 5, 5, 5, 5, 5)
    lamp = make_product(
        sku="LAMP-1", name="Lamp", price=Decimal("12.50"), category=lamps, created_at=created
    )
    categories = csv_file(
        tmp_path, "categories.csv", "name,slug,description", "Lamps and lights,lamps,New"
    )
    products = csv_file(
        tmp_path,
        "products.csv",
        "name,sku,description,price,stock,is_active,category_id",
        f"Desk lamp,lamp-1,Brass,15.00,7,false,{lamps.pk}",
    )
    started = django_timezone.now()

    run_import(categories, products)

    assert list(Category.objects.values_list("pk", "name", "slug", "description")) == [
        (lamps.pk, "Lamps and lights", "lamps", "New")
    ]
    row = Product.objects.values().get()
    assert row["id"] == lamp.pk
    assert row["sku"] == "lamp-1"  # an update applies the row as written
    assert (row["name"], row["description"], row["price"], row["stock"], row["is_active"]) == (
        "Desk lamp",
        "Brass",
        Decimal("15.00"),
        7,
        False,
    )
    assert row["category_id"] == lamps.pk
    assert row["created_at"] == created
    assert row["updated_at"] >= started


def test_reimporting_changed_rows_with_their_ids_keeps_ids_and_does_not_duplicate(tmp_path):
    base = make_category().pk + 10
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER, f"{base},Lamps,lamps,")
    first = csv_file(
        tmp_path,
        "first.csv",
        PRODUCT_HEADER,
        f"{base + 1},Lamp,LAMP-1,,12.50,3,true,{base},,",
        f"{base + 2},Chair,CHAIR-1,,40.00,1,true,,,",
    )
    changed = csv_file(
        tmp_path,
        "changed.csv",
        PRODUCT_HEADER,
        f"{base + 1},Desk lamp,Lamp-1,,13.00,4,true,{base},,",
        f"{base + 2},Chair,chair-1,,41.00,0,false,,,",
    )
    run_import(categories, first)

    run_import(categories, changed)

    assert Category.objects.filter(slug="lamps").get().pk == base
    assert Category.objects.count() == 2
    assert sorted(Product.objects.values_list("pk", "name", "price", "stock", "is_active")) == [
        (base + 1, "Desk lamp", Decimal("13.00"), 4, True),
        (base + 2, "Chair", Decimal("41.00"), 0, False),
    ]


def test_a_row_whose_sku_has_another_id_updates_that_product_and_keeps_its_id(tmp_path):
    """Rows are matched by SKU (API.md): the file's id is kept only for rows it creates."""
    existing = make_product(sku="EXIST-9", name="Old")
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER)
    products = csv_file(
        tmp_path, "products.csv", PRODUCT_HEADER, f"{existing.pk + 500},New,exist-9,,3.00,1,true,,,"
    )

    run_import(categories, products)

    assert list(Product.objects.values_list("pk", "name", "sku")) == [
        (existing.pk, "New", "exist-9")
    ]


# --- category_id -------------------------------------------------------------------------------


def test_category_id_may_refer_to_a_file_id_whose_slug_has_another_id_in_the_database(tmp_path):
    lamps = make_category(name="Lamps", slug="lamps")
    file_id = lamps.pk + 500
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER, f"{file_id},Lamps,lamps,")
    products = csv_file(
        tmp_path, "products.csv", PRODUCT_HEADER, f",Desk lamp,DESK-1,,10.00,1,true,{file_id},,"
    )

    run_import(categories, products)

    assert list(Category.objects.values_list("pk", "slug")) == [(lamps.pk, "lamps")]
    assert Product.objects.get(sku="DESK-1").category_id == lamps.pk


def test_category_id_may_refer_to_a_category_only_in_the_database(tmp_path):
    sheds = make_category(name="Sheds", slug="sheds")
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER, ",Lamps,lamps,")
    products = csv_file(
        tmp_path, "products.csv", PRODUCT_HEADER, f",Shed kit,SHED-1,,10.00,1,true,{sheds.pk},,"
    )

    run_import(categories, products)

    assert Product.objects.get(sku="SHED-1").category_id == sheds.pk
    assert Category.objects.count() == 2


# --- Bad rows: every one reported, nothing written ---------------------------------------------


@pytest.mark.parametrize(("row", "field"), BAD_PRODUCT_ROWS)
def test_a_bad_product_row_is_reported_once_at_its_line_and_nothing_is_written(
    tmp_path, shop, row, field
):
    categories, products = shop_files(tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=row)
    before = catalog_rows()

    _, stderr = failed_import(categories, products)

    problems = reported(stderr)
    assert len(problems) == 1, stderr
    [(file, line, reported_field)] = problems
    assert (file, line) == (products, 5)
    assert re.fullmatch(field, reported_field), stderr
    assert catalog_rows() == before


@pytest.mark.parametrize(("row", "field"), BAD_CATEGORY_ROWS)
def test_a_bad_category_row_is_reported_once_at_its_line_and_nothing_is_written(
    tmp_path, shop, row, field
):
    categories, products = shop_files(tmp_path, shop, category_4=row, product_5=GOOD_PRODUCT_AT_5)
    before = catalog_rows()

    _, stderr = failed_import(categories, products)

    problems = reported(stderr)
    assert len(problems) == 1, stderr
    [(file, line, reported_field)] = problems
    assert (file, line) == (categories, 4)
    assert re.fullmatch(field, reported_field), stderr
    assert catalog_rows() == before


def test_every_bad_row_of_both_files_is_reported_in_line_order(tmp_path, shop):
    categories = csv_file(
        tmp_path,
        "categories.csv",
        CATEGORY_HEADER,  # 1
        ',Lamps,lamps,"Bright\nand warm"',  # 2-3
        ",Chairs,chairs,",  # 4
        ",Other lamps,lamps,",  # 5: slug of line 2
        ",,stools,",  # 6: no name
    )
    products = csv_file(
        tmp_path,
        "products.csv",
        PRODUCT_HEADER,  # 1
        ',Desk lamp,LAMP-1,"Three\nline\ndescription",12.50,3,true,,,',  # 2-4
        ",Chair,CHAIR-1,,-1.00,2,false,,,",  # 5: price
        ",Stool,STOOL-1,,5.00,2,maybe,,,",  # 6: is_active
        ",Desk lamp again,Lamp-1,,5.00,1,true,,,",  # 7: sku of line 2
        ',Bench,BENCH-1,"Long\nbench",5.00,1,true,,,',  # 8-9
        f",Table,TABLE-1,,5.00,1,true,{shop['missing_category_id']},,",  # 10: category_id
        ",Shelf,SHELF-1,,5.00,1.5,true,,,",  # 11: stock
        ",Good,GOOD-1,,5.00,1,true,,,",  # 12
    )
    before = catalog_rows()

    _, stderr = failed_import(categories, products)

    problems = reported(stderr)
    assert [(line, field) for file, line, field in problems if file == categories] == [
        (5, "slug"),
        (6, "name"),
    ]
    assert [(line, field) for file, line, field in problems if file == products] == [
        (5, "price"),
        (6, "is_active"),
        (7, "sku"),
        (10, "category_id"),
        (11, "stock"),
    ]
    assert len(problems) == 7, stderr
    assert catalog_rows() == before


# --- Files that cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_file", "header", "row"),
    [
        pytest.param(
            "products",
            "id,name,sku,description,stock,is_active,category_id,created_at,updated_at",
            ",Chair,CHAIR-1,,2,true,,,",
            id="products without price",
        ),
        pytest.param(
            "products",
            "id,name,description,price,stock,is_active,category_id,created_at,updated_at",
            ",Chair,,1.00,2,true,,,",
            id="products without sku",
        ),
        pytest.param(
            "products",
            "id,name,sku,description,price,stock,is_active,created_at,updated_at",
            ",Chair,CHAIR-1,,1.00,2,true,,",
            id="products without category_id",
        ),
        pytest.param(
            "products",
            f"{PRODUCT_HEADER},colour",
            ",Chair,CHAIR-1,,1.00,2,true,,,,red",
            id="products with an unknown column",
        ),
        pytest.param("categories", "id,slug,description", ",chairs,", id="categories without name"),
        pytest.param(
            "categories",
            f"{CATEGORY_HEADER},parent",
            ",Chairs,chairs,,lamps",
            id="categories with an unknown column",
        ),
    ],
)
def test_a_bad_header_is_an_error_naming_the_file_and_nothing_is_written(
    tmp_path, shop, bad_file, header, row
):
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )
    path = csv_file(tmp_path, f"bad-{bad_file}.csv", header, row)
    files = {"categories": categories, "products": products} | {bad_file: path}
    before = catalog_rows()

    message, stderr = failed_import(files["categories"], files["products"])

    assert path in message + stderr
    assert catalog_rows() == before


@pytest.mark.parametrize("missing", ["categories", "products"])
def test_a_file_that_does_not_exist_is_an_error_naming_it_and_nothing_is_written(
    tmp_path, shop, missing
):
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )
    path = str(tmp_path / "no-such-file.csv")
    files = {"categories": categories, "products": products} | {missing: path}
    before = catalog_rows()

    message, stderr = failed_import(files["categories"], files["products"])

    assert path in message + stderr
    assert catalog_rows() == before


@pytest.mark.parametrize("bad_file", ["categories", "products"])
def test_a_file_that_is_not_utf8_is_an_error_naming_it_and_nothing_is_written(
    tmp_path, shop, bad_file
):
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )
    path = tmp_path / f"latin1-{bad_file}.csv"
    if bad_file == "categories":
        path.write_bytes(f"{CATEGORY_HEADER}\n,Caf\xe9s,cafes,\n".encode("latin-1"))
    else:
        path.write_bytes(f"{PRODUCT_HEADER}\n,Caf\xe9,CAFE-1,,1.00,1,true,,,\n".encode("latin-1"))
    files = {"categories": categories, "products": products} | {bad_file: str(path)}
    before = catalog_rows()

    message, stderr = failed_import(files["categories"], files["products"])

    assert str(path) in message + stderr
    assert catalog_rows() == before


# --- Dry run -----------------------------------------------------------------------------------


def dry_run_files(tmp_path: Path, far_category: int, far_product: int) -> tuple[str, str]:
    categories = csv_file(
        tmp_path,
        "categories.csv",
        CATEGORY_HEADER,
        ",Sheds and huts,sheds,Wooden",  # updates
        f"{far_category},Lamps,lamps,",  # creates, with an id far past the others
        ",Chairs,chairs,",  # creates
    )
    products = csv_file(
        tmp_path,
        "products.csv",
        PRODUCT_HEADER,
        ",Shed kit v2,exist-2,,7.00,1,true,,,",  # updates
        f"{far_product},Lamp,LAMP-1,,1.00,1,true,{far_category},,",  # creates
        ",Chair,CHAIR-1,,1.00,1,true,,,",  # creates
    )
    return categories, products


def counts(stdout: str) -> list[tuple[str, str]]:
    """(number, created/updated) pairs: categories first, then products."""
    return re.findall(r"(\d+) (created|updated)", stdout)


def test_dry_run_reports_what_would_be_written_and_writes_nothing(tmp_path, shop):
    categories, products = dry_run_files(
        tmp_path, shop["category_id"] + 5000, shop["existing_id"] + 5000
    )
    before = catalog_rows()

    dry, _ = run_import(categories, products, "--dry-run")

    assert counts(dry) == [("2", "created"), ("1", "updated"), ("2", "created"), ("1", "updated")]
    assert catalog_rows() == before
    real, _ = run_import(categories, products)
    assert counts(real) == counts(dry)
    assert Category.objects.count() == 4
    assert Product.objects.count() == 4


def test_dry_run_leaves_the_next_ids_where_they_were(tmp_path, shop):
    last_category, last_product = make_category(), make_product()
    categories, products = dry_run_files(tmp_path, last_category.pk + 5000, last_product.pk + 5000)

    run_import(categories, products, "--dry-run")

    next_ids = (make_category().pk, make_product().pk)
    assert next_ids == (last_category.pk + 1, last_product.pk + 1)


# --- Export ----------------------------------------------------------------------------------


def test_export_writes_the_documented_columns_and_formats(tmp_path):
    lamps = make_category(name='Lamps, "bright"', slug="lamps", description="Warm\nlight")
    bare = make_category(name="Bare", slug="bare", description="", parent=lamps)
    say = make_product(
        name='Say "hi", world',
        sku="SAY-1",
        description="two\nlines",
        price=Decimal("5"),
        stock=0,
        is_active=False,
        category=None,
        created_at=utc(2024, 1, 2, 3, 4, 5),
    )
    chair = make_product(
        name="Chair",
        sku="CHAIR-1",
        description="",
        price=Decimal("12.5"),
        stock=3,
        is_active=True,
        category=lamps,
        created_at=datetime(2023, 6, 1, 12, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2))),
    )
    Product.objects.filter(pk=say.pk).update(updated_at=utc(2024, 5, 6, 7, 8, 9, 123456))
    Product.objects.filter(pk=chair.pk).update(updated_at=utc(2025, 1, 1))

    category_data, product_data = run_export(tmp_path)

    category_text, product_text = category_data.decode("utf-8"), product_data.decode("utf-8")
    assert category_text.splitlines()[0] == "id,name,slug,description,parent_slug"
    assert product_text.splitlines()[0] == PRODUCT_HEADER
    category_rows, product_rows = parse_csv(category_data), parse_csv(product_data)
    assert len(category_rows) == 3
    assert {row[0]: row for row in category_rows[1:]} == {
        str(lamps.pk): [str(lamps.pk), 'Lamps, "bright"', "lamps", "Warm\nlight", ""],
        str(bare.pk): [str(bare.pk), "Bare", "bare", "", "lamps"],
    }
    assert len(product_rows) == 3
    assert {row[0]: row for row in product_rows[1:]} == {
        str(say.pk): [
            str(say.pk),
            'Say "hi", world',
            "SAY-1",
            "two\nlines",
            "5.00",
            "0",
            "false",
            "",
            "2024-01-02T03:04:05.000000+00:00",
            "2024-05-06T07:08:09.123456+00:00",
        ],
        str(chair.pk): [
            str(chair.pk),
            "Chair",
            "CHAIR-1",
            "",
            "12.50",
            "3",
            "true",
            str(lamps.pk),
            "2023-06-01T10:00:00.654321+00:00",
            "2025-01-01T00:00:00.000000+00:00",
        ],
    }
    # RFC 4180: a field with a comma, a quote or a newline is quoted, its quotes doubled.
    assert '"Lamps, ""bright"""' in category_text
    assert '"Warm\nlight"' in category_text
    assert '"Say ""hi"", world"' in product_text
    assert '"two\nlines"' in product_text


# --- Round trip ----------------------------------------------------------------------------------


def build_awkward_catalog() -> None:
    plain = make_category(name="Plain", slug="plain", description="")
    make_category(name="Gone", slug="gone").delete()  # a gap in the ids
    awkward = make_category(
        name='Lamps, "bright" ones', slug="lamps", description='Line one\nline two, "quoted"'
    )
    cafes = make_category(name="Cafés ☕ 日本", slug="cafes", description="Ünïcødé\r\nCRLF inside")
    say = make_product(
        name='Say "hi", world',
        sku="SAY-1",
        description='He said "yes",\nthen left.',
        price=Decimal("0.00"),
        stock=0,
        is_active=False,
        category=None,
        created_at=utc(2020, 1, 1),
    )
    make_product(sku="GONE-1").delete()
    make_product(
        name="Crème brûlée torch 🔥",
        sku="torch.mini_2",
        description="",
        price=Decimal("99999999.99"),
        stock=2147483647,
        category=cafes,
        created_at=utc(2021, 6, 7, 8, 9, 10, 123456),
    )
    make_product(name="Plain", sku="PLAIN-1", price=Decimal("12.5"), category=plain)
    make_product(name="Comma, lamp", sku="Lamp-2", description="a,b,,c", category=awkward)
    Product.objects.filter(pk=say.pk).update(updated_at=utc(2020, 1, 2))


def test_export_import_export_gives_byte_identical_files(tmp_path):
    build_awkward_catalog()
    before = catalog_rows()
    first_categories, first_products = run_export(tmp_path, "first-")
    Product.objects.all().delete()
    Category.objects.all().delete()

    run_import(str(tmp_path / "first-categories.csv"), str(tmp_path / "first-products.csv"))

    second_categories, second_products = run_export(tmp_path, "second-")
    assert len(parse_csv(first_categories)) == 1 + 3
    assert len(parse_csv(first_products)) == 1 + 4
    assert second_categories == first_categories
    assert second_products == first_products
    assert catalog_rows() == before


# --- Progress ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_shows_progress_on_a_terminal(tmp_path, shop, monkeypatch):
    """The premise of the next test: progress is a line rewritten with "\\r"."""
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    call_command(
        "import_catalog",
        "--categories",
        categories,
        "--products",
        products,
        stdout=io.StringIO(),
        stderr=terminal,
    )

    assert "\r" in terminal.getvalue()


def test_import_prints_no_progress_when_stderr_is_not_a_terminal(tmp_path, shop, capsys):
    categories, products = shop_files(
        tmp_path, shop, category_4=GOOD_CATEGORY_AT_4, product_5=GOOD_PRODUCT_AT_5
    )

    _, stderr = run_import(categories, products)

    assert "\r" not in stderr
    assert "\r" not in capsys.readouterr().err
    assert Product.objects.filter(sku="CHAIR-1").exists()


# --- The real command line ---------------------------------------------------------------------


def test_command_line_import_with_a_bad_row_exits_1_with_the_errors_on_stderr(tmp_path):
    """A separate process uses the configured database, so it gets a SQLite file of its own."""
    database = tmp_path / "cli.sqlite3"
    migrated = manage_on(database, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    categories = csv_file(tmp_path, "categories.csv", CATEGORY_HEADER, ",Lamps,lamps,")
    products = csv_file(
        tmp_path,
        "products.csv",
        PRODUCT_HEADER,  # 1
        ',Desk lamp,LAMP-1,"Two\nlines",12.50,3,true,,,',  # 2-3
        ",Chair,CHAIR-1,,1.001,2,false,,,",  # 4: price
    )

    result = manage_on(
        database, "import_catalog", "--categories", categories, "--products", products
    )

    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(products)]
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(rf"{re.escape(products)}:4: price: \S.*", errors[0])
    assert products not in result.stdout
    with contextlib.closing(sqlite3.connect(database)) as db:
        written = db.execute(
            "SELECT (SELECT COUNT(*) FROM products_category),"
            " (SELECT COUNT(*) FROM products_product)"
        ).fetchone()
    assert written == (0, 0)
