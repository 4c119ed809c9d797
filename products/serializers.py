"""Categories and products as the API shows and takes them (API.md, "Catalog")."""

import itertools

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from backend.change_context import VIAS
from backend.fields import StrictCharField, StrictModelSerializer
from products import images
from products.models import (
    CATEGORY_NAME_TAKEN,
    CATEGORY_SLUG_TAKEN,
    SKU_TAKEN,
    Category,
    Product,
    ProductImage,
)
from products.resources import CATEGORY, PRODUCT

SLUG_FALLBACK = "category"


class AncestorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class CategorySerializer(StrictModelSerializer):
    """A category of products, in a tree at most 8 levels deep. Names and slugs are unique
    whatever the letter case."""

    ancestors = AncestorSerializer(
        source="ancestor_chain",
        many=True,
        read_only=True,
        help_text="The categories above this one, from the root.",
    )
    product_count = serializers.IntegerField(
        read_only=True,
        help_text="How many products are on sale (active) in it and every category below it.",
    )

    class Meta:
        model = Category
        fields = CATEGORY.api_fields
        read_only_fields = CATEGORY.read_only_fields
        extra_kwargs = CATEGORY.serializer_kwargs(
            {
                "slug": {
                    "validators": [],
                    "help_text": "Made from the name when not given; lower case.",
                },
                "parent": {
                    "help_text": 'The category above this one (id), or null (or "") for a root.',
                    "error_messages": {
                        "does_not_exist": "There is no category with id {pk_value}."
                    },
                },
            }
        )

    def validate_parent(self, value: Category | None) -> Category | None:
        problem = (self.instance or Category()).parent_problem(value and value.pk)
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return value

    def validate_name(self, value: str) -> str:
        value = Category._meta.get_field("name").to_python(value)
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


class CategoryTreeSerializer(serializers.Serializer):
    """A category in the tree, with the categories right below it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    product_count = serializers.IntegerField(
        help_text="Products on sale in it and every category below it."
    )


CategoryTreeSerializer._declared_fields["children"] = CategoryTreeSerializer(  # itself, nested
    many=True, help_text="The categories right below it, by name."
)


def unique_slug_for(name: str) -> str:
    """`slugify(name)`, numbered (`-2`, `-3`, …) past slugs other categories already use."""
    base = slugify(name)[:110] or SLUG_FALLBACK
    taken = set(Category.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    candidates = itertools.chain([base], (f"{base}-{n}" for n in itertools.count(2)))
    return next(slug for slug in candidates if slug not in taken)


class RenditionsSerializer(serializers.Serializer):
    thumb = serializers.CharField(read_only=True, help_text="WebP, 256 px on the long side.")
    medium = serializers.CharField(read_only=True, help_text="WebP, 1024 px on the long side.")


class ProductImageSerializer(StrictModelSerializer):
    """An image of a product, as stored (re-encoded, without metadata), with its WebP
    renditions. URLs are the storage's: absolute when MEDIA_URL is (or with S3)."""

    url = serializers.CharField(read_only=True, help_text="The image as stored.")
    renditions = RenditionsSerializer(read_only=True)

    class Meta:
        model = ProductImage
        fields = ["id", "url", "width", "height", "alt", "position", "renditions"]
        read_only_fields = ["width", "height"]
        extra_kwargs = {"position": {"help_text": "Images are shown by position, then id."}}

    def to_representation(self, instance):
        return images.represent(images.as_row(instance))


class ProductImageUploadSerializer(ProductImageSerializer):
    """A new image: the file (JPEG, PNG or WebP; at most 10 MiB and 40 megapixels), optional
    `alt`, and `position` (after the last image when left out)."""

    image = serializers.FileField(
        write_only=True, help_text="JPEG, PNG or WebP, at most 10 MiB and 40 megapixels."
    )

    class Meta(ProductImageSerializer.Meta):
        fields = [*ProductImageSerializer.Meta.fields, "image"]
        extra_kwargs = ProductImageSerializer.Meta.extra_kwargs | {
            "alt": {"required": False},
            "position": {"required": False},
        }

    def validate_image(self, upload) -> images.PreparedImage:
        try:
            return images.prepare(upload)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(get_error_detail(exc)) from exc

    def create(self, validated_data):
        return images.add_image(
            product=self.context["product"],
            prepared=validated_data["image"],
            alt=validated_data.get("alt", ""),
            position=validated_data.get("position"),
        )


class ProductSerializer(StrictModelSerializer):
    """A product. `price` is a decimal string with two places; `sku` is unique whatever the
    letter case."""

    category_name = StrictCharField(
        source="category.name", read_only=True, allow_null=True, help_text="Null without one."
    )
    in_stock = serializers.BooleanField(read_only=True, help_text="`stock > 0`.")
    images = ProductImageSerializer(
        many=True, read_only=True, help_text="Ordered by position (then id)."
    )

    class Meta:
        model = Product
        fields = PRODUCT.api_fields
        read_only_fields = PRODUCT.read_only_fields
        extra_kwargs = {
            # The browsable API's form starts with the box ticked, as the model's default is.
            "is_active": {"initial": True},
            "category": {
                "help_text": 'Category id, or null (or "", what an empty form field sends).',
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


class FacetCategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    count = serializers.IntegerField(help_text="Matching products in this category.")


class InStockFacetSerializer(serializers.Serializer):
    true = serializers.IntegerField(help_text="Matching products in stock.")
    false = serializers.IntegerField(help_text="Matching products out of stock.")


class PriceBandSerializer(serializers.Serializer):
    min = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        help_text="Lowest price in the band, inclusive.",
    )
    max = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        allow_null=True,
        help_text="Where the band ends, exclusive; null for the last band.",
    )
    count = serializers.IntegerField(help_text="Matching products priced in this band.")


class ProductFacetsSerializer(serializers.Serializer):
    """How many products each choice of a filter would show, the other filters applied."""

    count = serializers.IntegerField(help_text="Products matching every filter.")
    categories = FacetCategorySerializer(
        many=True,
        help_text=(
            "Per category, by name, the products of its subtree matching every filter but "
            "`category` (as `category=` matches them); categories with none are left out."
        ),
    )
    in_stock = InStockFacetSerializer(help_text="Counted with every filter but `in_stock`.")
    price = PriceBandSerializer(
        many=True,
        help_text="Five bands: 0-10, 10-50, 50-100, 100-500, 500 and over; counted with every "
        "filter but `min_price` and `max_price`.",
    )


class ActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class HistoryEntrySerializer(serializers.Serializer):
    """One write of a product or category, whichever way it came."""

    # Describes the entries `products.history.present` builds.

    at = serializers.DateTimeField(help_text="When the change was written.")
    actor = ActorSerializer(
        allow_null=True, help_text="Who made it; null for an import, the system, or a deleted user."
    )
    via = serializers.ChoiceField(
        choices=VIAS,
        help_text="`api`, `admin`, `import`, or `system` (the shell, a migration, a script).",
    )
    request_id = serializers.CharField(
        allow_null=True, help_text="The request's `X-Request-ID`, when a request made it."
    )
    changes = serializers.DictField(
        child=serializers.ListField(
            child=serializers.JSONField(allow_null=True), min_length=2, max_length=2
        ),
        help_text=(
            "Each field the write changed, `[old, new]`, named and shown as the API shows it (a "
            "category by id); a creation lists the fields it set (old null), a deletion those "
            "the object had (new null)."
        ),
    )


class ProductListItemSerializer(ProductSerializer):
    """A product as lists show it: its first image's renditions (`image`) rather than every
    image."""

    images = None
    image = serializers.SerializerMethodField(help_text="The first image's renditions, or null.")

    class Meta(ProductSerializer.Meta):
        fields = PRODUCT.list_api_fields

    @extend_schema_field(RenditionsSerializer(allow_null=True))
    def get_image(self, product) -> dict | None:
        first = next(iter(product.images.all()), None)
        return None if first is None else images.renditions(images.as_row(first))
