"""Categories and products over the API: reads are open, writes follow Django model permissions
(the groups and permissions staff manage in the admin)."""

from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import mixins, viewsets
from rest_framework.permissions import BasePermission

from backend.exceptions import Conflict
from backend.filters import FilterBackend, OrderingFilter
from backend.lazyschema import LazyAutoSchema
from backend.parsers import MultiPartParser
from products import images
from products.filters import MAX_ID, PRICE_BOUND_PATTERN, ProductFilter, ProductSearchFilter
from products.models import CATEGORY_HAS_PRODUCTS, Category, Product, ProductImage
from products.resources import CATEGORY, PRODUCT
from products.serializers import (
    CategorySerializer,
    ProductImageSerializer,
    ProductImageUploadSerializer,
    ProductListItemSerializer,
    ProductSerializer,
)
from products.viewsets import CatalogViewSet

LIST_PARAMETERS = [
    OpenApiParameter(
        "category",
        {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
        style="form",
        explode=True,
        description="Category id; repeat for several (`category=1&category=4`).",
    ),
    *(
        # Written like a price (a decimal string), not any JSON number: "1e2" or "-1" is a 400.
        OpenApiParameter(
            name,
            {"type": "string", "pattern": PRICE_BOUND_PATTERN},
            description=f"{meaning} price, inclusive, written like a price (`12.50`).",
        )
        for name, meaning in [("min_price", "Lowest"), ("max_price", "Highest")]
    ),
    *(
        OpenApiParameter(
            name,
            {
                "anyOf": [
                    {"type": "string", "format": "date"},
                    {"type": "string", "format": "date-time"},
                ]
            },
            description=f"ISO 8601 date or date-time, inclusive ({meaning}).",
        )
        for name, meaning in [
            ("created_after", "a bare date starts at its midnight, UTC"),
            ("created_before", "a bare date takes in the whole day, UTC"),
        ]
    ),
]
IN_USE = {409: "The category still has products: nothing was deleted."}


class CategoryViewSet(CatalogViewSet):
    resource = CATEGORY
    serializer_class = CategorySerializer
    ordering_fields = CATEGORY.ordering_fields
    ordering = ["name"]
    error_responses = {"destroy": IN_USE}
    openapi = {
        "list": {"summary": "List categories", "description": "Ordered by name."},
        "retrieve": {
            "summary": "Read a category",
            "description": "Open to anyone, with the number of products in it.",
        },
        "create": {
            "summary": "Create a category",
            "description": (
                "Needs `products.add_category`. "
                "The name must not clash with another's, ignoring case and look-alike "
                "characters; the slug is made from the name when not given."
            ),
        },
        "update": {
            "summary": "Replace a category",
            "description": (
                "Needs `products.change_category`. "
                "Every writable field; honours `If-Match` (412 when stale)."
            ),
        },
        "partial_update": {
            "summary": "Change a category",
            "description": (
                "Needs `products.change_category`. "
                "Only the fields sent; honours `If-Match` (412 when stale)."
            ),
        },
        "destroy": {
            "summary": "Delete a category",
            "description": (
                "Needs `products.delete_category`. "
                "Refused with 409 while the category has products."
            ),
        },
    }

    def get_queryset(self):
        return Category.objects.with_product_count()

    def perform_destroy(self, instance):
        try:
            super().perform_destroy(instance)
        except ProtectedError as exc:
            raise Conflict(CATEGORY_HAS_PRODUCTS) from exc


class ProductViewSet(CatalogViewSet):
    resource = PRODUCT
    serializer_class = ProductSerializer
    filter_backends = [FilterBackend, ProductSearchFilter, OrderingFilter]
    filterset_class = ProductFilter
    search_fields = PRODUCT.search_fields
    search_description = "Words matched in name, description and SKU (any case); all must match."
    ordering_fields = PRODUCT.ordering_fields
    ordering = ["-created_at"]
    openapi = {
        "list": {
            "summary": "List products",
            "description": (
                "Active products only, except for staff (who may filter `is_active`). Filters "
                "combine; the order always ends with `-id`, so pages never repeat or skip a row."
            ),
            "parameters": LIST_PARAMETERS,
        },
        "retrieve": {
            "summary": "Read a product",
            "description": "An inactive product is 404 except for staff.",
        },
        "create": {
            "summary": "Create a product",
            "description": (
                "Needs `products.add_product`. "
                "The SKU must be unique, ignoring case; `in_stock` follows `stock`."
            ),
        },
        "update": {
            "summary": "Replace a product",
            "description": (
                "Needs `products.change_product`. "
                "Every writable field; honours `If-Match` (412 when stale)."
            ),
        },
        "partial_update": {
            "summary": "Change a product",
            "description": (
                "Needs `products.change_product`. "
                "Only the fields sent; honours `If-Match` (412 when stale)."
            ),
        },
        "destroy": {
            "summary": "Delete a product",
            "description": "Needs `products.delete_product`. Honours `If-Match` (412 when stale).",
        },
    }

    def get_queryset(self):
        """With the images prefetched for DRF's own path (write answers, the browsable API): the
        JSON reads take rows, and their images in one query a page (`products.resources`)."""
        return Product.objects.visible_to(self.request.user).for_api().prefetch_related("images")

    def get_serializer_class(self):
        return ProductListItemSerializer if self.action == "list" else ProductSerializer


class ChangesProducts(BasePermission):
    """A product's images are part of it: changing them needs `products.change_product`."""

    def has_permission(self, request, view):
        return request.user.has_perm("products.change_product")


class ProductImageViewSet(viewsets.GenericViewSet):
    """Images of the product in the URL (404 when the caller may not see it)."""

    serializer_class = ProductImageSerializer
    permission_classes = [ChangesProducts]
    schema = LazyAutoSchema()

    def get_product(self) -> Product:
        products = Product.objects.visible_to(self.request.user)
        return get_object_or_404(products, pk=self.kwargs["product_pk"])

    def get_queryset(self):
        visible = Product.objects.visible_to(self.request.user)
        return ProductImage.objects.filter(product__in=visible, product=self.kwargs["product_pk"])


class ProductImageUploadViewSet(mixins.CreateModelMixin, ProductImageViewSet):
    serializer_class = ProductImageUploadSerializer
    parser_classes = [MultiPartParser]
    # Read by backend.middleware.RequestBodyLimitMiddleware: the image, and room for the form.
    body_limit = images.MAX_BYTES + 64 * 1024
    error_responses = {
        "create": {
            413: "The body is over 10 MiB and 64 KiB: nothing stored.",
            415: "Unsupported content type: send multipart/form-data.",
        }
    }
    openapi = {
        "create": {
            "summary": "Add an image to a product",
            "responses": {201: ProductImageSerializer},
            "description": (
                "Needs `products.change_product`. A multipart form: `image` (JPEG, PNG or WebP, "
                "at most 10 MiB and 40 megapixels), optional `alt` and `position` (after the "
                "last image when left out). The image is stored re-encoded, with its EXIF "
                "orientation applied and no metadata, beside WebP renditions of 256 and 1024 px "
                "on the long side (never enlarged). Anything else (not an image, a truncated or "
                "polyglot file, another format, too many bytes or pixels) is a 400 naming the "
                "problem under `image`, and nothing is stored."
            ),
        },
    }

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.request.method == "POST":
            context["product"] = self.get_product()
        return context


class ProductImageDetailViewSet(
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, ProductImageViewSet
):
    http_method_names = ["patch", "delete", "options"]
    openapi = {
        "partial_update": {
            "summary": "Change a product image",
            "description": "Needs `products.change_product`. Its `alt` and `position`.",
        },
        "destroy": {
            "summary": "Delete a product image",
            "description": (
                "Needs `products.change_product`. The stored file and its renditions go too."
            ),
        },
    }
