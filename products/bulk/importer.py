"""`import_catalog`: create or update a whole catalog from CSV, all or nothing.

Categories are matched by slug and products by SKU (any case). Every row is checked with the
API's rules before anything is written; one bad row means every bad row is reported as
`FILE:LINE: field: message` and the transaction is rolled back.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from backend.change_context import VIA_IMPORT, changes_via
from products.bulk.csvfiles import CsvRow, read_rows
from products.bulk.rules import CellError, category_columns, product_columns, slug_for
from products.bulk.staging import Staging
from products.models import Category, Product, lock_the_tree, search_index, tree_problems
from products.resources import PRODUCT

BULK_LOAD_MIN_ROWS = 10_000
PARENT = "parent_slug"


class ImportFailed(Exception):
    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


@dataclass
class ImportResult:
    categories_created: int = 0
    categories_updated: int = 0
    products_created: int = 0
    products_updated: int = 0
    rows_checked: int = 0
    errors: list[str] = field(default_factory=list)
    progress: Callable[["ImportResult"], None] = field(default=lambda result: None, repr=False)

    @property
    def rows_written(self) -> int:
        return (
            self.categories_created
            + self.categories_updated
            + self.products_created
            + self.products_updated
        )

    def checked(self) -> None:
        self.rows_checked += 1
        self.progress(self)


@dataclass
class CategoryRow:
    line: int
    values: dict


def import_catalog(
    *, categories_path: str, products_path: str, dry_run: bool, progress=None
) -> ImportResult:
    """Raises ImportFailed (nothing written) or returns what was (or, dry, would be) written.
    The change history records what it writes as made by an import. `progress`, if given, is
    called with the result so far after each row read and each write."""
    result = ImportResult(progress=progress) if progress else ImportResult()
    with changes_via(VIA_IMPORT), transaction.atomic(), Staging() as staging:
        categories = _read_categories(categories_path, result)
        staging.write_category_ids(_file_ids(categories))
        staging.write_products(_product_rows(products_path, result))
        _check_categories(categories, categories_path, result.errors)
        _check_products(staging, products_path, result.errors)
        if result.errors:
            files = [categories_path, products_path]
            raise ImportFailed(sorted(result.errors, key=lambda e: _error_order(e, files)))
        if dry_run:
            _count_changes(staging, categories, result)
            return result
        staging.write_category_map(_apply_categories(categories, result))
        _apply_products(staging, result)
        _move_sequences_past_ids()
    return result


def _count_changes(staging: Staging, categories: list["CategoryRow"], result) -> None:
    """What an import would do, found without doing it: a rolled-back write would still move
    PostgreSQL's id sequences, which no rollback undoes."""
    existing = set(Category.objects.values_list("slug", flat=True))
    result.categories_updated = sum(row.values["slug"] in existing for row in categories)
    result.categories_created = len(categories) - result.categories_updated
    [(total, updates)] = staging.query(COUNT_UPDATES)
    result.products_updated = updates or 0
    result.products_created = total - result.products_updated


def _file_ids(categories: list["CategoryRow"]) -> set[int]:
    return {row.values["id"] for row in categories if row.values.get("id") is not None}


# --- Reading ------------------------------------------------------------------------------------


def _read_cells(row: CsvRow, columns, path: str, errors: list[str]) -> dict | None:
    if row.problem:
        errors.append(f"{path}:{row.line}: row: {row.problem}")
        return None
    values, ok = {}, True
    for name, text in row.cells.items():
        try:
            values[name] = columns[name].read(text)
        except CellError as exc:
            errors.append(f"{path}:{row.line}: {name}: {exc}")
            ok = False
    return values if ok else None


def _read_categories(path: str, result: ImportResult) -> list[CategoryRow]:
    columns = category_columns()
    rows = []
    for row in read_rows(path, list(columns), _required(columns)):
        result.checked()
        values = _read_cells(row, columns, path, result.errors)
        if values is not None:
            values["slug"] = values.get("slug") or slug_for(values["name"])
            if "description" in values:  # a column left empty clears it; no column keeps it
                values["description"] = values["description"] or ""
            rows.append(CategoryRow(row.line, values))
    return rows


def _required(columns) -> list[str]:
    return [name for name, column in columns.items() if column.in_every_file]


def _product_rows(path: str, result: ImportResult) -> Iterator[tuple]:
    """Staging rows (`staging.product_columns()`): a text column left out or empty is empty
    text, as the API stores it; anything else left out is null (its default, or kept)."""
    columns = product_columns()
    for row in read_rows(path, list(columns), _required(columns)):
        result.checked()
        values = _read_cells(row, columns, path, result.errors)
        if values is not None:
            cells = [_staged(values.get(name), column) for name, column in columns.items()]
            yield (row.line, *cells, values[PRODUCT.natural_key].lower())


def _staged(value, column):
    is_text = isinstance(column.field, models.CharField | models.TextField)
    return "" if value is None and is_text else value


# --- Checks across rows -------------------------------------------------------------------------


def _check_categories(rows: list[CategoryRow], path: str, errors: list[str]) -> None:
    first_line: dict[tuple[str, object], int] = {}
    for row in rows:
        for key, value in _category_keys(row.values):
            seen = first_line.setdefault((key, value), row.line)
            if seen != row.line:
                errors.append(f"{path}:{row.line}: {key}: the same {key} as line {seen}")
    file_slugs = {row.values["slug"] for row in rows}
    existing = {c.slug: c for c in Category.objects.all()}
    by_name = {c.name.lower(): c for c in existing.values()}
    by_id = {c.pk: c for c in existing.values()}
    for row in rows:
        errors.extend(
            f"{path}:{row.line}: {problem}"
            for problem in _category_clashes(row.values, existing, by_name, by_id, file_slugs)
        )
    errors.extend(_parent_problems(rows, path, {*file_slugs, *existing}))


def _parent_problems(rows: list[CategoryRow], path: str, slugs: set[str]) -> Iterator[str]:
    """Each `parent_slug` names a category of the file or the database, and the tree the
    import leaves (the database's, with the file's parents put in) has no cycle and is at
    most MAX_DEPTH deep. A row without the column keeps its category's parent."""
    moved = {row.values["slug"]: row for row in rows if PARENT in row.values}
    named = {slug: row.values[PARENT] for slug, row in moved.items()}
    unknown = {slug for slug, parent in named.items() if parent and parent not in slugs}
    for slug in sorted(unknown):
        message = f"no category '{named[slug]}' in the file or the database"
        yield f"{path}:{moved[slug].line}: {PARENT}: {message}"
    lock_the_tree()
    parents = dict(Category.objects.values_list("slug", "parent__slug"))
    parents |= {row.values["slug"]: None for row in rows if row.values["slug"] not in parents}
    parents |= {slug: parent for slug, parent in named.items() if slug not in unknown}
    for slug, problem in tree_problems(parents, set(moved) - unknown).items():
        yield f"{path}:{moved[slug].line}: {PARENT}: {problem}"


def _category_keys(values: dict):
    yield "slug", values["slug"]
    yield "name", values["name"].lower()
    if values.get("id") is not None:
        yield "id", values["id"]


def _category_clashes(values, existing, by_name, by_id, file_slugs) -> Iterator[str]:
    """A row updates the category with its slug (which keeps its database id: products in the
    file that name the file's id follow it there), or creates one with its id. It may not
    take another category's name, nor create one under an id another category has."""
    same_name = by_name.get(values["name"].lower())
    if same_name and same_name.slug != values["slug"] and same_name.slug not in file_slugs:
        yield f"name: category '{same_name.slug}' in the database already has this name"
    row_id = values.get("id")
    if row_id is not None and values["slug"] not in existing and row_id in by_id:
        yield f"id: {row_id} is category '{by_id[row_id].slug}' in the database"


PRODUCT_CHECKS = [
    (
        "sku",
        """SELECT s.line, f.line FROM import_product s
           JOIN (SELECT natural_key, MIN(line) AS line FROM import_product
                 GROUP BY natural_key HAVING COUNT(*) > 1) f ON f.natural_key = s.natural_key
           WHERE s.line > f.line""",
        "the same SKU (in any case) as line {}",
    ),
    (
        "id",
        """SELECT s.line, f.line FROM import_product s
           JOIN (SELECT id, MIN(line) AS line FROM import_product WHERE id IS NOT NULL
                 GROUP BY id HAVING COUNT(*) > 1) f ON f.id = s.id
           WHERE s.line > f.line""",
        "the same id as line {}",
    ),
    (
        "id",
        # Only a row that creates a product uses its id; one that updates by SKU keeps the
        # product's database id.
        """SELECT s.line, p.sku FROM import_product s
           JOIN products_product p ON p.id = s.id
           WHERE NOT EXISTS (
               SELECT 1 FROM products_product q WHERE LOWER(q.sku) = s.natural_key)""",
        "this id is product '{}' in the database",
    ),
    (
        "category_id",
        """SELECT s.line, s.category_id FROM import_product s
           WHERE s.category_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM import_category_map m WHERE m.file_id = s.category_id)
             AND NOT EXISTS (SELECT 1 FROM products_category c WHERE c.id = s.category_id)""",
        "no category {} in the file or the database",
    ),
]


def _check_products(staging: Staging, path: str, errors: list[str]) -> None:
    for column, sql, message in PRODUCT_CHECKS:
        for line, detail in staging.query(sql + " ORDER BY 1"):
            errors.append(f"{path}:{line}: {column}: {message.format(detail)}")


def _error_order(error: str, files: list[str]) -> tuple[int, int]:
    """Categories file first, then by line."""
    for index, path in enumerate(files):
        if error.startswith(f"{path}:"):
            line = error[len(path) + 1 :].split(":", 1)[0]
            return index, int(line) if line.isdigit() else 0
    return len(files), 0


# --- Writing ------------------------------------------------------------------------------------


def _apply_categories(rows: list[CategoryRow], result: ImportResult) -> dict[int, int]:
    """Create or update each category by slug; returns file id -> database id. Rows with ids
    go first, so the ones without take new ids past them."""
    ids = {}
    with_ids = [row for row in rows if row.values.get("id") is not None]
    without_ids = [row for row in rows if row.values.get("id") is None]
    for row in with_ids:
        _apply_category(row, result, ids)
    _move_sequences_past_ids()
    for row in without_ids:
        _apply_category(row, result, ids)
    _apply_parents(rows)
    return ids


def _apply_parents(rows: list[CategoryRow]) -> None:
    """Once every category of the file exists, so a parent may come after its children."""
    moved = {row.values["slug"]: row.values[PARENT] for row in rows if PARENT in row.values}
    named = Category.objects.filter(slug__in={*moved, *moved.values()})
    ids = dict(named.values_list("slug", "pk"))
    for slug, parent in moved.items():
        Category.objects.filter(pk=ids[slug]).update(parent_id=ids.get(parent))


def _apply_category(row: CategoryRow, result: ImportResult, ids: dict[int, int]) -> None:
    values = dict(row.values)
    file_id = values.pop("id", None)
    values.pop(PARENT, None)  # set by `_apply_parents`
    category = Category.objects.filter(slug=values["slug"]).first()
    if category is None:
        category = Category.objects.create(id=file_id, **values)
        result.categories_created += 1
    else:
        Category.objects.filter(pk=category.pk).update(**values)
        result.categories_updated += 1
    result.progress(result)
    if file_id is not None:
        ids[file_id] = category.pk


COUNT_UPDATES = """
SELECT COUNT(*), SUM(CASE WHEN EXISTS (
    SELECT 1 FROM products_product p WHERE LOWER(p.sku) = s.natural_key) THEN 1 ELSE 0 END)
FROM import_product s"""
UPDATE_PRODUCTS = """
UPDATE products_product SET {assignments}
FROM import_product s LEFT JOIN import_category_map m ON m.file_id = s.category_id
WHERE LOWER(products_product.sku) = s.natural_key"""
INSERT_PRODUCTS = """
INSERT INTO products_product ({columns})
SELECT {values}
FROM import_product s LEFT JOIN import_category_map m ON m.file_id = s.category_id
WHERE {which} AND NOT EXISTS (
    SELECT 1 FROM products_product p WHERE LOWER(p.sku) = s.natural_key)
ORDER BY s.line"""


def _staged_value(name: str, field, *, existing: str | None) -> str:
    """A staged column as written to products_product. A category id may be the file's own
    (mapped to where that category landed); a timestamp left out is kept (`existing`) or now."""
    if field.is_relation:
        return f"COALESCE(m.db_id, s.{name})"
    if isinstance(field, models.DateTimeField):
        keeps = existing is not None and not field.auto_now
        return f"COALESCE(s.{name}, {f'products_product.{name}' if keeps else '%(now)s'})"
    return f"s.{name}"


def update_products_sql() -> str:
    assignments = ", ".join(
        f"{name} = {_staged_value(name, field, existing='products_product')}"
        for name, field in PRODUCT.csv_fields
        if not field.primary_key
    )
    return UPDATE_PRODUCTS.format(assignments=assignments)


def insert_products_sql(id_expression: str, which: str) -> str:
    columns = [name for name, _ in PRODUCT.csv_fields]
    values = [
        id_expression if field.primary_key else _staged_value(name, field, existing=None)
        for name, field in PRODUCT.csv_fields
    ]
    return INSERT_PRODUCTS.format(columns=", ".join(columns), values=", ".join(values), which=which)


PRODUCT_SEQUENCE = "pg_get_serial_sequence('products_product', 'id')"
MOVE_PRODUCT_SEQUENCE = f"""
SELECT setval({PRODUCT_SEQUENCE}, GREATEST(m, 1), m > 0) FROM (
    SELECT GREATEST(COALESCE((SELECT MAX(id) FROM products_product), 0),
                    COALESCE((SELECT MAX(id) FROM import_product), 0)) AS m) AS highest"""


def _apply_products(staging: Staging, result: ImportResult) -> None:
    with _indexes_rebuilt_after(_is_bulk_load(staging)):
        _write_products(staging, result)


def _is_bulk_load(staging: Staging) -> bool:
    """At least doubling the table on PostgreSQL: building the indexes afresh afterwards is
    several times faster than updating them row by row (the search index above all)."""
    if not staging.is_postgres:
        return False
    [(incoming, existing)] = staging.query(
        "SELECT (SELECT COUNT(*) FROM import_product), (SELECT COUNT(*) FROM products_product)"
    )
    return incoming >= max(existing, BULK_LOAD_MIN_ROWS)


@contextmanager
def _indexes_rebuilt_after(rebuild: bool):
    """Drops the secondary indexes for the duration and builds them again. The table is locked
    against readers until the import commits, which is why only a bulk load does this."""
    if not rebuild:
        yield
        return
    indexes = [*Product._meta.indexes, search_index()]
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(Product, index)
    yield
    connection.check_constraints()  # run the deferred foreign-key checks: no index build before
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.add_index(Product, index)


def _write_products(staging: Staging, result: ImportResult) -> None:
    now = {"now": connection.ops.adapt_datetimefield_value(timezone.now())}
    result.products_updated = staging.execute(update_products_sql(), now)
    result.progress(result)
    if staging.is_postgres:
        # Ids the file leaves out come after every id in the table and in the file.
        staging.execute(MOVE_PRODUCT_SEQUENCE)
        inserts = [(f"COALESCE(s.id, nextval({PRODUCT_SEQUENCE}))", "TRUE")]
    else:  # SQLite numbers a NULL id after the highest one, so insert those last
        inserts = [("s.id", "s.id IS NOT NULL"), ("s.id", "s.id IS NULL")]
    for id_expression, which in inserts:
        result.products_created += staging.execute(insert_products_sql(id_expression, which), now)
        result.progress(result)


def _move_sequences_past_ids() -> None:
    """Rows kept their ids; the next row the API creates must not collide with them."""
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Category, Product]):
            cursor.execute(sql)
