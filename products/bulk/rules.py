"""How a CSV cell becomes a value, with the same rules the API applies.

The rules are not restated here: each column reads its limits and validators from the model
field the API's serializer is generated from (max_length, the SKU pattern, the price bounds, …),
and adds what the API adds on top (whitespace trimmed, no NUL characters, lower-case slugs).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import slugify

from products.models import Category
from products.resources import CATEGORY, PRODUCT, Resource

BLANK = "This field may not be blank."
NUL = "Null characters are not allowed."
TRUE_FALSE = {"true": True, "false": False}
MAX_ID = 2**63 - 1


class CellError(Exception):
    """A cell that breaks a rule; the message is what the importer reports."""


@dataclass(frozen=True)
class Column:
    name: str
    field: models.Field | None
    parse: Callable[[str], Any]
    required: bool = True  # a value in every row
    in_every_file: bool = True  # the header must name it

    def read(self, text: str) -> Any:
        if "\x00" in text:
            raise CellError(NUL)
        text = text.strip()
        if text == "":
            if self.required:
                raise CellError(BLANK)
            return None
        value = self.parse(text)
        if self.field is not None:
            try:
                value = self.field.to_python(value)  # as the model stores it (NFKC names)
                self.field.run_validators(value)
            except ValidationError as exc:
                raise CellError(" ".join(exc.messages)) from exc
        return value


def _text(text: str) -> str:
    return text


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise CellError("A valid number is required.")
    return value


def _integer(text: str) -> int:
    if not text.lstrip("-").isdigit():
        raise CellError("A valid integer is required.")
    return int(text)


def _id(text: str) -> int:
    value = _integer(text)
    if not 0 < value <= MAX_ID:
        raise CellError("An id is a whole number from 1.")
    return value


def _boolean(text: str) -> bool:
    try:
        return TRUE_FALSE[text.lower()]
    except KeyError:
        raise CellError("Must be true or false.") from None


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CellError("Enter an ISO 8601 date-time, e.g. 2026-01-31T12:00:00+00:00.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _slug(text: str) -> str:
    return text.lower()


PARSERS = [  # by model field class, the first that matches
    (models.BooleanField, _boolean),
    (models.DateTimeField, _timestamp),
    (models.DecimalField, _decimal),
    (models.SlugField, _slug),
    (models.CharField, _text),
    (models.TextField, _text),
    (models.ForeignKey, _id),
    (models.AutoField | models.BigAutoField, _id),
    (models.IntegerField, _integer),
]


def columns_of(resource: Resource) -> dict[str, Column]:
    """The resource's CSV columns (`resources.Resource.csv_fields`), each parsed as its model
    field's type and checked with the model field's validators; a relation written as a
    natural key (`parent_slug`), as the key's field."""
    return {
        name: Column(
            name,
            _checked_field(model_field, resource.csv_key_fields.get(name)),
            _parser(resource.csv_key_fields.get(name, model_field)),
            required=resource.csv_value_required(model_field),
            in_every_file=resource.csv_column_required(model_field),
        )
        for name, model_field in resource.csv_fields
    }


def _checked_field(model_field: models.Field, key_field: models.Field | None):
    if key_field is not None:
        return key_field
    return None if model_field.is_relation or model_field.primary_key else model_field


def _parser(model_field: models.Field) -> Callable[[str], Any]:
    return next(parse for kind, parse in PARSERS if isinstance(model_field, kind))


def category_columns() -> dict[str, Column]:
    return columns_of(CATEGORY)


def product_columns() -> dict[str, Column]:
    return columns_of(PRODUCT)


def slug_for(name: str) -> str:
    """A category's slug when the file gives none: the API makes it from the name too."""
    return slugify(name)[: Category._meta.get_field("slug").max_length] or "category"
