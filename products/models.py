"""The catalog: categories and the products in them.

Invariants live in the database (case-insensitive unique names and SKUs, money and stock
bounds, PROTECT on a category with products) so the API, the admin, imports and racing
requests all meet the same wall; serializers only make the messages friendly.
"""

import unicodedata
from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core import validators
from django.db import models
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.deconstruct import deconstructible

CATEGORY_NAME_TAKEN = "A category with this name already exists."
CATEGORY_SLUG_TAKEN = "A category with this slug already exists."
CATEGORY_HAS_PRODUCTS = "This category still has products: move or delete them first."
SKU_TAKEN = "A product with this SKU already exists."
MAX_PRICE = Decimal("99999999.99")
MAX_STOCK = 2**31 - 1  # the largest integer column every supported database holds
DESCRIPTION_MAX_LENGTH = 5000
MAX_POSITION = MAX_STOCK


@deconstructible
class SkuValidator(validators.RegexValidator):
    regex = r"^[A-Za-z0-9._-]+\Z"
    message = "Enter a valid SKU: letters, digits, '-', '_' and '.' only."


class NormalizedCharField(models.CharField):
    """Text stored in Unicode's NFKC form, so look-alikes are one value: `Café` typed as one
    code point or as `e` and a combining accent, and a fullwidth `Ｃａｆé`. Model forms (the
    admin) and `to_python` callers (the API's serializer, imports) all pass through it."""

    def to_python(self, value):
        value = super().to_python(value)
        return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


class CategoryQuerySet(models.QuerySet):
    def with_product_count(self):
        """`product_count`: the category's products on sale (inactive ones are not counted)."""
        return self.annotate(product_count=Count("products", filter=Q(products__is_active=True)))

    def with_name(self, name: str):
        """After NFKC normalisation, case-insensitive, through the `Lower(name)` unique index."""
        name = unicodedata.normalize("NFKC", name)
        return self.alias(name_lower=Lower("name")).filter(name_lower=Lower(models.Value(name)))


class Category(models.Model):
    name = NormalizedCharField(max_length=100)
    slug = models.SlugField(
        max_length=120, unique=True, error_messages={"unique": CATEGORY_SLUG_TAKEN}
    )
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)

    objects = CategoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="category_name_ci_unique",
                violation_error_message=CATEGORY_NAME_TAKEN,
            ),
        ]
        indexes = [models.Index(fields=["name", "id"], name="category_name_idx")]

    def __str__(self):
        return self.name


class SearchDocument(models.Func):
    """`UPPER(name || ' ' || description || ' ' || sku)`: what search matches against.

    On PostgreSQL a trigram GIN index holds this very expression (migration 0002), so a
    case-insensitive substring search is an index scan, not a read of every row."""

    template = "UPPER(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = models.TextField()

    def __init__(self):
        super().__init__(models.F("name"), models.F("description"), models.F("sku"))


def search_index() -> GinIndex:
    """The trigram index behind search (PostgreSQL only): created by migration 0002, and
    rebuilt by a bulk import."""
    return GinIndex(OpClass(SearchDocument(), name="gin_trgm_ops"), name="product_search_trgm")


class ProductQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff manage the whole catalog; everyone else sees what is on sale."""
        return self if user.is_staff else self.filter(is_active=True)

    def for_api(self):
        return self.select_related("category")

    def with_sku(self, sku: str):
        """Case-insensitive, through the `Lower(sku)` unique index."""
        return self.alias(sku_lower=Lower("sku")).filter(sku_lower=Lower(models.Value(sku)))

    def matching(self, words: list[str]):
        """Products whose name, description or SKU contains every word, in any letter case."""
        queryset = self.alias(search_document=SearchDocument())
        for word in words:
            queryset = queryset.filter(search_document__contains=word.upper())
        return queryset

    def set_active(self, is_active: bool) -> int:
        """Put on sale or take off sale in one statement; `updated_at` moves with the change."""
        changed = self.exclude(is_active=is_active)
        return changed.update(is_active=is_active, updated_at=timezone.now())


class Product(models.Model):
    name = models.CharField(max_length=200)
    sku = models.CharField(
        "SKU",
        max_length=64,
        validators=[SkuValidator()],
        help_text="Letters, digits, '-', '_' and '.'; unique whatever the letter case.",
    )
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    price = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        validators=[validators.MinValueValidator(0), validators.MaxValueValidator(MAX_PRICE)],
    )
    stock = models.IntegerField(
        default=0,
        validators=[validators.MinValueValidator(0), validators.MaxValueValidator(MAX_STOCK)],
    )
    is_active = models.BooleanField("active", default=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    # A default, not auto_now_add: an import keeps the creation time it is given.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("sku"), name="product_sku_ci_unique", violation_error_message=SKU_TAKEN
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(price__lte=MAX_PRICE), name="product_price_in_range"
            ),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]
        indexes = [
            # The default order, and the same for what customers see (active products only).
            models.Index(fields=["created_at", "id"], name="product_created_idx"),
            # What anonymous lists read (and count) most: active products, newest first.
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(is_active=True),
                name="product_on_sale_created_idx",
            ),
            # Customers' counts and pages by category and price, read from the index alone
            # (stock rides along for `in_stock`): no visit to the table per matching row.
            models.Index(
                fields=["category", "price", "id", "stock"],
                condition=Q(is_active=True),
                name="product_on_sale_category_idx",
            ),
            models.Index(
                fields=["price", "id", "stock"],
                condition=Q(is_active=True),
                name="product_on_sale_price_idx",
            ),
            models.Index(fields=["price", "id"], name="product_price_idx"),
            models.Index(fields=["name", "id"], name="product_name_idx"),
            models.Index(fields=["stock", "id"], name="product_stock_idx"),
            models.Index(fields=["updated_at"], name="product_updated_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ProductImage(models.Model):
    """A picture of a product: the file as stored (re-encoded, without metadata) and its WebP
    renditions. Made only by `products.images.add_image`, which validates and encodes them;
    the files go with the row (django-cleanup deletes them once the deletion is committed)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="products", max_length=255)
    thumb = models.FileField(upload_to="products", max_length=255)
    medium = models.FileField(upload_to="products", max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    alt = models.CharField(max_length=255, blank=True, help_text="Text shown in its place.")
    position = models.PositiveIntegerField(
        default=0, validators=[validators.MaxValueValidator(MAX_POSITION)]
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["product", "position", "id"], name="product_image_order_idx")
        ]

    def __str__(self):
        return self.alt or self.file.name


class CatalogVersion(models.Model):
    """How often each part of the catalog has changed: `<table>` for rows added or removed,
    `<table>.<column>` for values changed. Moved only by database triggers (migration 0004),
    read by the caches (`products.versions`)."""

    topic = models.CharField(max_length=200, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.topic} @ {self.version}"


class CatalogRowVersion(models.Model):
    """How often each row has changed (`<table>#<id>`, PostgreSQL only), kept apart from the
    few dozen topics above so that reading those stays one small query."""

    topic = models.CharField(max_length=200, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.topic} @ {self.version}"
