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

from products.models import Category, Product

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
    required: bool = True

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


def _field(model, name: str) -> models.Field:
    return model._meta.get_field(name)


def category_columns() -> dict[str, Column]:
    return {
        "id": Column("id", None, _id, required=False),
        "name": Column("name", _field(Category, "name"), _text),
        "slug": Column("slug", _field(Category, "slug"), _slug, required=False),
        "description": Column(
            "description", _field(Category, "description"), _text, required=False
        ),
    }


def product_columns() -> dict[str, Column]:
    return {
        "id": Column("id", None, _id, required=False),
        "name": Column("name", _field(Product, "name"), _text),
        "sku": Column("sku", _field(Product, "sku"), _text),
        "description": Column("description", _field(Product, "description"), _text, required=False),
        "price": Column("price", _field(Product, "price"), _decimal),
        "stock": Column("stock", _field(Product, "stock"), _integer),
        "is_active": Column("is_active", None, _boolean),
        "category_id": Column("category_id", None, _id, required=False),
        "created_at": Column("created_at", None, _timestamp, required=False),
        "updated_at": Column("updated_at", None, _timestamp, required=False),
    }


def slug_for(name: str) -> str:
    """A category's slug when the file gives none: the API makes it from the name too."""
    return slugify(name)[: _field(Category, "slug").max_length] or "category"
