"""Categories and products as the API shows and takes them (API.md, "Catalog")."""

import itertools
from datetime import UTC, datetime

from django.utils.text import slugify
from rest_framework import serializers

from backend.fields import StrictCharField, StrictModelSerializer
from products.models import (
    CATEGORY_NAME_TAKEN,
    CATEGORY_SLUG_TAKEN,
    SKU_TAKEN,
    Category,
    Product,
)

SLUG_FALLBACK = "category"


class CategorySerializer(StrictModelSerializer):
    """A category of products. Names and slugs are unique whatever the letter case."""

    product_count = serializers.IntegerField(
        read_only=True, help_text="How many of its products are on sale (active)."
    )

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "description", "product_count"]
        extra_kwargs = {
            "slug": {
                "required": False,
                "validators": [],
                "help_text": "Made from the name when not given; lower case.",
            }
        }

    def validate_name(self, value: str) -> str:
        if self._others().with_name(value).exists():
            raise serializers.ValidationError(CATEGORY_NAME_TAKEN, code="unique")
        return value

    def validate_slug(self, value: str) -> str:
        value = value.lower()
        if self._others().filter(slug=value).exists():
            raise serializers.ValidationError(CATEGORY_SLUG_TAKEN, code="unique")
        return value

    def _others(self):
        categories = Category.objects.all()
        return categories.exclude(pk=self.instance.pk) if self.instance else categories

    def create(self, validated_data):
        validated_data.setdefault("slug", unique_slug_for(validated_data["name"]))
        category = super().create(validated_data)
        category.product_count = 0
        return category

    @staticmethod
    def represent_row(row: dict) -> dict:
        """The representation above from a `Category.objects.as_rows()` row (see Product's)."""
        return {
            "id": row["id"],
            "name": row["name"],
            "slug": row["slug"],
            "description": row["description"],
            "product_count": row["product_count"],
        }


def unique_slug_for(name: str) -> str:
    """`slugify(name)`, numbered (`-2`, `-3`, …) past slugs other categories already use."""
    base = slugify(name)[:110] or SLUG_FALLBACK
    taken = set(Category.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    candidates = itertools.chain([base], (f"{base}-{n}" for n in itertools.count(2)))
    return next(slug for slug in candidates if slug not in taken)


class ProductSerializer(StrictModelSerializer):
    """A product. `price` is a decimal string with two places; `sku` is unique whatever the
    letter case."""

    category_name = StrictCharField(
        source="category.name", read_only=True, allow_null=True, help_text="Null without one."
    )
    in_stock = serializers.BooleanField(read_only=True, help_text="`stock > 0`.")

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "sku",
            "description",
            "price",
            "stock",
            "in_stock",
            "is_active",
            "category",
            "category_name",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            # The browsable API's form starts with the box ticked, as the model's default is.
            "is_active": {"initial": True},
            "category": {
                "help_text": "Category id, or null.",
                "error_messages": {"does_not_exist": "There is no category with id {pk_value}."},
            },
        }

    def validate_sku(self, value: str) -> str:
        clashes = Product.objects.with_sku(value)
        if self.instance:
            clashes = clashes.exclude(pk=self.instance.pk)
        if clashes.exists():
            raise serializers.ValidationError(SKU_TAKEN, code="unique")
        return value

    @staticmethod
    def represent_row(row: dict) -> dict:
        """The representation above, built from a `Product.objects.as_rows()` row.

        Reads skip model instances and DRF's per-field work: this is the whole cost of a row.
        A test holds it equal to what the fields above produce for the same product."""
        return {
            "id": row["id"],
            "name": row["name"],
            "sku": row["sku"],
            "description": row["description"],
            "price": f"{row['price']:.2f}",
            "stock": row["stock"],
            "in_stock": row["stock"] > 0,
            "is_active": row["is_active"],
            "category": row["category_id"],
            "category_name": row["category__name"],
            "created_at": utc_timestamp(row["created_at"]),
            "updated_at": utc_timestamp(row["updated_at"]),
        }


def utc_timestamp(value: datetime) -> str:
    """REST_FRAMEWORK["DATETIME_FORMAT"] (`2026-01-31T12:00:00.000000Z`), without strftime."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"
