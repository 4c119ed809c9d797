"""Each catalog resource's fields, declared once.

The model says what a value is (type, limits, validators, default). A `Field` here says how the
resource shows and takes it: read-only or writable in the API, orderable and searchable in
lists, a column of the CSV files, a column of the admin's change list. From these lists come
the serializer's fields, the row representation of fast reads, the CSV columns with their
parsing and staging, and the admin's list; `tests/products/test_resources.py` holds them
together. A new field is a model field, its migration and one line here (plus a
`SerializerField` when the API shows it differently from the model).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from products import images
from products.models import MAX_DEPTH, Category, Product, ancestor_names


@dataclass(frozen=True)
class Field:
    name: str
    read_only: bool = False
    optional: bool = False  # may be left out (of a request body or a CSV file)
    orderable: bool = False
    searchable: bool = False
    exported: bool = True  # a CSV column: written by export_catalog, read by import_catalog
    listed: bool = True  # a column of the admin's change list
    list_editable: bool = False
    source: str | None = None  # the `.values()` name, when not the field's own
    compute: Callable[[dict], object] | None = None  # from a row, for a value no column holds
    reads: tuple[str, ...] = ()  # the `.values()` names `compute` reads besides the shown ones
    csv_key: str | None = None  # a relation written as its target's natural key (`parent_slug`)
    # Rows of another table shown beside each row: `load(rows)` puts them on a whole page of
    # rows (or one) in one query; then `compute` reads them off the row.
    load: Callable[[list[dict]], None] | None = None
    # Or values the row's own statement selects beside its columns (`{name: expression}`):
    # for a value from another table that costs no query of its own.
    columns: Callable[[], dict] | None = None
    in_list: bool = True  # shown in lists (False: in details only)
    in_detail: bool = True  # shown in details and write responses (False: in lists only)


class Resource:
    def __init__(self, model: type[models.Model], fields: list[Field], natural_key: str):
        self.model = model
        self.fields = fields
        self.natural_key = natural_key  # what an import matches rows by (case-insensitive)

    def model_field(self, field: Field) -> models.Field | None:
        try:
            return self.model._meta.get_field(field.name)
        except FieldDoesNotExist:
            return None

    # --- the API ------------------------------------------------------------------------------

    @cached_property
    def api_fields(self) -> list[str]:
        """What a detail (and a write's response) shows."""
        return [field.name for field in self.fields if field.in_detail]

    @cached_property
    def list_api_fields(self) -> list[str]:
        return [field.name for field in self.fields if field.in_list]

    @cached_property
    def read_only_fields(self) -> list[str]:
        return [field.name for field in self.fields if field.read_only and field.in_detail]

    @cached_property
    def ordering_fields(self) -> list[str]:
        return [field.name for field in self.fields if field.orderable]

    @cached_property
    def search_fields(self) -> list[str]:
        return [field.name for field in self.fields if field.searchable]

    def serializer_kwargs(self, extra: dict[str, dict]) -> dict[str, dict]:
        """`Meta.extra_kwargs`: `extra`, with the fields that may be left out not required."""
        optional = {field.name: {"required": False} for field in self.fields if field.optional}
        return {name: extra.get(name, {}) | optional.get(name, {}) for name in {*extra, *optional}}

    # --- fast reads: `.values()` rows and their representation ---------------------------------

    @cached_property
    def row_names(self) -> list[str]:
        """What `.values()` selects: every column shown, and what computed values need."""
        names = []
        for field in self.fields:
            if field.compute is None:
                names.append(self._row_name(field))
            names.extend(field.reads)
        return names

    def _row_name(self, field: Field) -> str:
        model_field = self.model_field(field)
        if field.source:
            return field.source
        if model_field is not None and model_field.is_relation:
            return model_field.attname
        return field.name

    @cached_property
    def _detail_readers(self) -> list[tuple[Field, Callable[[dict], object]]]:
        return [(field, self._reader(field)) for field in self.fields if field.in_detail]

    @cached_property
    def _list_readers(self) -> list[tuple[Field, Callable[[dict], object]]]:
        return [(field, self._reader(field)) for field in self.fields if field.in_list]

    def _reader(self, field: Field) -> Callable[[dict], object]:
        if field.compute is not None:
            return field.compute
        name, model_field = self._row_name(field), self.model_field(field)
        if isinstance(model_field, models.DecimalField):
            places = model_field.decimal_places
            return lambda row: None if row[name] is None else f"{row[name]:.{places}f}"
        if isinstance(model_field, models.DateTimeField):
            return lambda row: None if row[name] is None else utc_timestamp(row[name])
        return lambda row: row[name]

    def rows(self, queryset: models.QuerySet) -> models.QuerySet:
        """Rows for a detail."""
        return queryset.values(*self.row_names)

    def list_rows(self, queryset: models.QuerySet) -> models.QuerySet:
        """Rows for a list: with the extra columns list fields select."""
        columns = {}
        for field in self.fields:
            if field.in_list and field.columns is not None:
                columns |= field.columns()
        return queryset.values(*self.row_names, **columns)

    def represent(self, row: dict) -> dict:
        """What the serializer would show for the object `row` (a `.values(*row_names)` row)
        stands for, without model instances or DRF's per-field work."""
        return self._represent([row], self._detail_readers)[0]

    def represent_list(self, rows: list[dict]) -> list[dict]:
        """A page of rows as a list shows them: related rows read for the whole page at once."""
        return self._represent(rows, self._list_readers)

    @staticmethod
    def _represent(rows: list[dict], readers) -> list[dict]:
        for field, _ in readers:
            if field.load is not None:
                field.load(rows)
        return [{field.name: read(row) for field, read in readers} for row in rows]

    # --- the change history ---------------------------------------------------------------

    @cached_property
    def history_fields(self) -> list[tuple[Field, models.Field]]:
        """What the history records: every field a column of the table holds, except the id
        (whose history it is) and `auto_now` timestamps (the change's own time)."""
        return [
            (field, model_field)
            for field in self.fields
            if field.compute is None
            and field.source is None
            and (model_field := self.model_field(field)) is not None
            and not model_field.primary_key
            and not getattr(model_field, "auto_now", False)
        ]

    @cached_property
    def history_columns(self) -> list[str]:
        return [model_field.column for _, model_field in self.history_fields]

    def present_changes(self, changes: dict[str, list]) -> dict[str, list]:
        """A recorded change (`{column: [old, new]}`, the values as the database turned them
        into JSON) as the API names and shows the fields: a category by id, a price as the
        string it reads, a time in the API's format."""
        return {
            field.name: [self._present(field, model_field, value) for value in changes[column]]
            for field, model_field in self.history_fields
            if (column := model_field.column) in changes
        }

    def _present(self, field: Field, model_field: models.Field, value):
        if value is None:
            return None
        value = model_field.to_python(value)
        if isinstance(value, datetime) and value.tzinfo is None:  # SQLite keeps UTC, naive
            value = value.replace(tzinfo=UTC)
        return self._reader(field)({self._row_name(field): value})

    # --- CSV files --------------------------------------------------------------------------

    @cached_property
    def csv_fields(self) -> list[tuple[str, models.Field]]:
        """(column, model field) of every exported field; relations by id (`category_id`), or
        by the natural key their `csv_key` names (`parent_slug`)."""
        return [
            (self._csv_column(field), self.model_field(field))
            for field in self.fields
            if field.exported
        ]

    def _csv_column(self, field: Field) -> str:
        if field.csv_key:
            return f"{field.name}_{field.csv_key}"
        return self.model_field(field).attname

    @cached_property
    def csv_sources(self) -> list[str]:
        """What `.values_list()` reads for each CSV column (`parent__slug` for `parent_slug`)."""
        return [
            f"{field.name}__{field.csv_key}" if field.csv_key else self.model_field(field).attname
            for field in self.fields
            if field.exported
        ]

    @cached_property
    def csv_key_fields(self) -> dict[str, models.Field]:
        """Column -> the target's model field, for the columns written as a natural key."""
        return {
            self._csv_column(field): self.model_field(field).related_model._meta.get_field(
                field.csv_key
            )
            for field in self.fields
            if field.exported and field.csv_key
        }

    def csv_column_required(self, model_field: models.Field) -> bool:
        """A column every file must have: all but the id, the timestamps (kept when given,
        assigned when not), text that may be blank and what is declared optional."""
        declared = next(field for field in self.fields if self.model_field(field) is model_field)
        assigned = model_field.primary_key or getattr(model_field, "auto_now", False)
        kept_as_given = declared.read_only and model_field.has_default()
        blank_text = model_field.blank and isinstance(
            model_field, models.CharField | models.TextField
        )
        return not (assigned or kept_as_given or blank_text or declared.optional)

    def csv_value_required(self, model_field: models.Field) -> bool:
        """A column whose cells may not be empty: what the model cannot fill in itself."""
        declared = next(field for field in self.fields if self.model_field(field) is model_field)
        may_be_empty = model_field.null or declared.optional
        return self.csv_column_required(model_field) and not may_be_empty

    # --- the admin ----------------------------------------------------------------------------

    @cached_property
    def admin_list(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields if field.listed)

    @cached_property
    def admin_list_editable(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields if field.list_editable)


def utc_timestamp(value: datetime) -> str:
    """REST_FRAMEWORK["DATETIME_FORMAT"] (`2026-01-31T12:00:00.000000Z`), without strftime."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


ANCESTOR_LEVELS = range(MAX_DEPTH - 1, 0, -1)  # the root's level first
ANCESTOR_ROW_NAMES = tuple(
    name for level in ANCESTOR_LEVELS for name in ancestor_names(level).values()
)


def ancestors_of(row: dict) -> list[dict]:
    """`[{id, name, slug}]` of the categories above, from the root (`with_ancestors()`)."""
    levels = (ancestor_names(level) for level in ANCESTOR_LEVELS)
    return [
        {key: row[name] for key, name in names.items()}
        for names in levels
        if row[names["id"]] is not None
    ]


CATEGORY = Resource(
    Category,
    [
        Field("id", read_only=True, listed=False),
        Field("name", orderable=True),
        Field("slug", optional=True),
        Field("description", listed=False),
        Field("parent", optional=True, listed=False, csv_key="slug"),
        Field(
            "ancestors",
            read_only=True,
            exported=False,
            listed=False,
            compute=ancestors_of,
            reads=ANCESTOR_ROW_NAMES,
        ),
        Field("product_count", read_only=True, exported=False, listed=False),
    ],
    natural_key="slug",
)

# What the API shows but neither the CSV files nor the admin's change list hold.
SHOWN_ONLY = {"read_only": True, "exported": False, "listed": False}

PRODUCT = Resource(
    Product,
    [
        Field("id", read_only=True, listed=False),
        Field("name", orderable=True, searchable=True),
        Field("sku", searchable=True),
        Field("description", searchable=True, listed=False),
        Field("price", orderable=True, list_editable=True),
        Field("stock", orderable=True, list_editable=True),
        Field("in_stock", **SHOWN_ONLY, compute=lambda row: row["stock"] > 0),
        Field("is_active", list_editable=True),
        Field("category"),
        Field("category_name", **SHOWN_ONLY, source="category__name"),
        Field("created_at", read_only=True, orderable=True),
        Field("updated_at", read_only=True),
        Field(
            "images",
            **SHOWN_ONLY,
            in_list=False,
            load=images.attach_images,
            compute=lambda row: row["images"],
        ),
        Field(
            "image",
            **SHOWN_ONLY,
            in_detail=False,
            columns=images.first_image_columns,
            compute=images.first_renditions,
        ),
    ],
    natural_key="sku",
)
