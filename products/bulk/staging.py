"""Staging tables: the products file goes into a temporary table first, so every check across
rows (duplicates, references, id clashes) is one SQL statement and memory does not grow with
the file. PostgreSQL takes the rows through COPY; SQLite through executemany."""

from datetime import datetime
from decimal import Decimal

from django.db import connection, models

from products.resources import PRODUCT

KEY_COLUMN = "natural_key"  # the natural key (the SKU) in lower case, to match rows by
CREATE_CATEGORY_MAP = """
CREATE TEMPORARY TABLE import_category_map (file_id bigint PRIMARY KEY, db_id bigint)
"""
BATCH = 5000


class Staging:
    """The temporary tables of one import, inside its transaction."""

    def __init__(self):
        self.cursor = connection.cursor()

    def __enter__(self):
        self.drop()
        self.cursor.execute(create_products_sql())
        self.cursor.execute(CREATE_CATEGORY_MAP)
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:  # after an error the rollback takes the tables away
            self.drop()
        self.cursor.close()

    @property
    def is_postgres(self) -> bool:
        return connection.vendor == "postgresql"

    def drop(self) -> None:
        self.cursor.execute("DROP TABLE IF EXISTS import_product")
        self.cursor.execute("DROP TABLE IF EXISTS import_category_map")

    def write_products(self, rows) -> None:
        """`rows`: tuples in `product_columns()` order, streamed."""
        if self.is_postgres:
            self._copy_products(rows)
        else:
            self._insert_products(rows)

    def _copy_products(self, rows) -> None:
        statement = f"COPY import_product ({', '.join(product_columns())}) FROM STDIN"
        with self.cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_products(self, rows) -> None:
        placeholders = ", ".join(["%s"] * len(product_columns()))
        statement = f"INSERT INTO import_product VALUES ({placeholders})"
        batch = []
        for row in rows:
            batch.append(_for_sqlite(row))
            if len(batch) == BATCH:
                self.cursor.executemany(statement, batch)
                batch.clear()
        if batch:
            self.cursor.executemany(statement, batch)

    def write_category_ids(self, file_ids: set[int]) -> None:
        """The categories file's ids, which products may refer to before they exist."""
        self.cursor.executemany(
            "INSERT INTO import_category_map (file_id) VALUES (%s)", [(i,) for i in file_ids]
        )

    def write_category_map(self, pairs: dict[int, int]) -> None:
        """Where each of the file's category ids ended up in the database."""
        self.cursor.executemany(
            "UPDATE import_category_map SET db_id = %s WHERE file_id = %s",
            [(db_id, file_id) for file_id, db_id in pairs.items()],
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def execute(self, sql: str, params=()) -> int:
        self.cursor.execute(sql, params)
        return self.cursor.rowcount


def product_columns() -> list[str]:
    """The staging table's columns: the file's line, every CSV column, the key to match by."""
    return ["line", *(name for name, _ in PRODUCT.csv_fields), KEY_COLUMN]


def create_products_sql() -> str:
    """Each CSV column typed as its model field stores it (ids and references as ids), and
    null wherever the file may leave a value out."""
    columns = [
        "line integer NOT NULL",
        *(
            f"{name} {_column_type(field)}{_nullability(field)}"
            for name, field in PRODUCT.csv_fields
        ),
        f"{KEY_COLUMN} text NOT NULL",
    ]
    return f"CREATE TEMPORARY TABLE import_product ({', '.join(columns)})"


def _nullability(field: models.Field) -> str:
    return " NOT NULL" if PRODUCT.csv_value_required(field) else ""


def _column_type(field: models.Field) -> str:
    if field.primary_key or field.is_relation:
        return field.rel_db_type(connection) if field.primary_key else field.db_type(connection)
    return field.db_type(connection)


def _for_sqlite(row: tuple) -> tuple:
    """Values as Django stores them on SQLite (naive UTC timestamps, decimals as text)."""
    return tuple(_sqlite_value(value) for value in row)


def _sqlite_value(value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, Decimal):
        return str(value)
    return value
