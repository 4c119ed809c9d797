"""`export_catalog`: the whole catalog in the format `import_catalog` reads.

Rows stream from a server-side cursor to the file, so memory does not grow with the catalog.
Exporting what was imported gives the same rows back (ids, timestamps, decimals as stored).
"""

import csv
from datetime import UTC, datetime

from products.bulk.rules import category_columns, product_columns
from products.models import Category, Product
from products.resources import CATEGORY, PRODUCT

# The columns import_catalog reads, in its order.
CATEGORY_HEADER = list(category_columns())
PRODUCT_HEADER = list(product_columns())
CHUNK = 5000


def export_catalog(
    *, categories_path: str, products_path: str, progress=lambda rows: None
) -> tuple[int, int]:
    """`progress` is called with the count of rows written so far, after each row."""
    categories = Category.objects.order_by("id").values_list(*CATEGORY.csv_sources)
    products = Product.objects.order_by("id").values_list(*PRODUCT.csv_sources)
    written = _write(categories_path, CATEGORY_HEADER, categories, progress)
    return written, _write(products_path, PRODUCT_HEADER, products, lambda n: progress(written + n))


def _write(path: str, header: list[str], rows, progress) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)  # RFC 4180: minimal quoting, CRLF line ends
        writer.writerow(header)
        for row in rows.iterator(chunk_size=CHUNK):
            writer.writerow([_cell(value) for value in row])
            count += 1
            progress(count)
    return count


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)
