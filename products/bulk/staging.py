"""Staging tables: the products file goes into a temporary table first, so every check across
rows (duplicates, references, id clashes) is one SQL statement and memory does not grow with
the file. PostgreSQL takes the rows through COPY; SQLite through executemany."""

from django.db import connection

PRODUCT_COLUMNS = [
    "line",
    "id",
    "name",
    "sku",
    "sku_lower",
    "description",
    "price",
    "stock",
    "is_active",
    "category_ref",
    "created_at",
    "updated_at",
]
CREATE_PRODUCTS = """
CREATE TEMPORARY TABLE import_product (
    line integer NOT NULL, id bigint, name text NOT NULL, sku text NOT NULL,
    sku_lower text NOT NULL, description text NOT NULL, price numeric(10, 2) NOT NULL,
    stock integer NOT NULL, is_active boolean NOT NULL, category_ref bigint,
    created_at {timestamp}, updated_at {timestamp}
)"""
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
        timestamp = "timestamptz" if self.is_postgres else "datetime"
        self.cursor.execute(CREATE_PRODUCTS.format(timestamp=timestamp))
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
        """`rows`: tuples in PRODUCT_COLUMNS order, streamed."""
        if self.is_postgres:
            self._copy_products(rows)
        else:
            self._insert_products(rows)

    def _copy_products(self, rows) -> None:
        statement = f"COPY import_product ({', '.join(PRODUCT_COLUMNS)}) FROM STDIN"
        with self.cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_products(self, rows) -> None:
        placeholders = ", ".join(["%s"] * len(PRODUCT_COLUMNS))
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


def _for_sqlite(row: tuple) -> tuple:
    """Values as Django stores them on SQLite (naive UTC timestamps, decimals as text)."""
    created, updated = row[-2:]
    return (
        *row[:6],
        str(row[6]),
        *row[7:10],
        connection.ops.adapt_datetimefield_value(created),
        connection.ops.adapt_datetimefield_value(updated),
    )
