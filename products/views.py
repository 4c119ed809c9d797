"""Categories and products over the API: reads are open, writes follow Django model permissions
(the groups and permissions staff manage in the admin)."""

from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import JSONRenderer as BaseJSONRenderer
from rest_framework.response import Response

from backend.exceptions import Conflict
from backend.filters import FilterBackend, OrderingFilter, without_parameters
from backend.idempotency.decorators import idempotent
from backend.lazyschema import LazyAutoSchema
from backend.pagination import CursorPagination
from backend.parsers import MultiPartParser
from products import cache, images
from products.facets import count_facets, facet_queries
from products.filters import (
    MAX_ID,
    PRICE_BOUND_PATTERN,
    ROOTS,
    CategoryFilter,
    ProductFilter,
    ProductSearchFilter,
)
from products.models import (
    CATEGORY_HAS_CHILDREN,
    CATEGORY_HAS_PRODUCTS,
    Category,
    Product,
    ProductImage,
)
from products.resources import CATEGORY, PRODUCT
from products.serializers import (
    CategorySerializer,
    CategoryTreeSerializer,
    HistoryEntrySerializer,
    ProductFacetsSerializer,
    ProductImageSerializer,
    ProductImageUploadSerializer,
    ProductListItemSerializer,
    ProductSerializer,
)
from products.viewsets import CatalogViewSet, render

LIST_PARAMETERS = [
    OpenApiParameter(
        "category",
        {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
        style="form",
        explode=True,
        description=(
            "Category id: its products and those of every category below it; repeat for "
            "several (`category=1&category=4`)."
        ),
    ),
    OpenApiParameter(
        "category_slug",
        {"type": "array", "items": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}},
        style="form",
        explode=True,
        description=(
            "Category slug, as `category` does by id; repeat for several. A slug no category "
            "has matches nothing (an empty list, not an error)."
        ),
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
CATEGORY_LIST_PARAMETERS = [
    OpenApiParameter(
        "parent",
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                {"type": "string", "enum": [ROOTS]},
            ]
        },
        description="The children of this category (by id), or `null` for the roots.",
    ),
    OpenApiParameter(
        "slug",
        {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
        description="The category with this slug (any letter case).",
    ),
]
IN_USE = {409: "The category still has products or subcategories: nothing was deleted."}


def history_operation(noun: str) -> dict:
    return {
        "summary": f"Read a {noun}'s change history",
        "description": (
            f"Needs staff status and `products.change_{noun}`; to anyone else the history is "
            f"404, as is that of a {noun} that no longer exists. Every write is recorded, "
            "whichever way it came (the API, the admin, an import, a script): when, by whom, "
            "how, under which request id, and each field it changed as `[old, new]`. Newest "
            "first."
        ),
        "responses": HistoryEntrySerializer(many=True),
    }


class CategoryViewSet(CatalogViewSet):
    resource = CATEGORY
    serializer_class = CategorySerializer
    filterset_class = CategoryFilter
    ordering_fields = CATEGORY.ordering_fields
    ordering = ["name"]
    error_responses = {"destroy": IN_USE}
    openapi = {
        "list": {
            "summary": "List categories",
            "description": (
                "Ordered by name. `parent` narrows to one category's children (`null`: the "
                "roots), `slug` to one category."
            ),
            "parameters": CATEGORY_LIST_PARAMETERS,
        },
        "tree": {
            "summary": "Read the category tree",
            "description": (
                "Every category, nested: the roots, each with its `children`, all by name. "
                "`product_count` takes in the categories below, as everywhere."
            ),
            "responses": CategoryTreeSerializer(many=True),
        },
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
                "Refused with 409 while the category has products or subcategories."
            ),
        },
        "history": history_operation("category"),
    }

    def get_queryset(self):
        return Category.objects.for_api()

    @action(detail=False, pagination_class=None, filter_backends=[], filterset_class=None)
    def tree(self, request):
        return self._conditional(request, render(Category.objects.tree()))

    def perform_destroy(self, instance):
        try:
            super().perform_destroy(instance)
        except ProtectedError as exc:  # products: `Product.category` is PROTECT
            raise Conflict(CATEGORY_HAS_PRODUCTS) from exc
        except RestrictedError as exc:  # subcategories: `Category.parent` is RESTRICT
            raise Conflict(CATEGORY_HAS_CHILDREN) from exc


class ProductViewSet(CatalogViewSet):
    resource = PRODUCT
    cursor_pagination_class = CursorPagination
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
        "facets": {
            "summary": "Count products by category, stock and price band",
            "description": (
                "Takes the list's filters and search. `count` matches all of them; each facet "
                "is counted with its own filter left out and every other applied: `categories` "
                "without `category`, `in_stock` without `in_stock`, `price` without "
                "`min_price`/`max_price`. Price bands hold their `min` and not their `max`. "
                "Active products only, except for staff."
            ),
            "parameters": LIST_PARAMETERS,
            "filter_backends": [FilterBackend, ProductSearchFilter],
            "responses": ProductFacetsSerializer,
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
        "history": history_operation("product"),
    }

    def get_queryset(self):
        """With the images prefetched for DRF's own reads (the browsable API); the JSON reads
        take rows, and their images in one query a page (`products.resources`). A write's
        answer reads its product's images once it is saved (DRF drops a prefetch made before)."""
        products = Product.objects.visible_to(self.request.user).for_api()
        if self.request.method in SAFE_METHODS:
            return products.prefetch_related("images")
        return products

    def get_serializer_class(self):
        return ProductListItemSerializer if self.action == "list" else ProductSerializer

    @action(
        detail=False, pagination_class=None, filter_backends=[FilterBackend, ProductSearchFilter]
    )
    def facets(self, request):
        queries = facet_queries(self._matching_all_but)
        counts = cache.remembered("facets", queries.read(), lambda: count_facets(queries))
        if not isinstance(request.accepted_renderer, BaseJSONRenderer):
            return Response(counts)
        return self._conditional(request, render(counts))

    def _matching_all_but(self, names: tuple[str, ...]):
        """What the caller sees, through every filter of the request but `names`."""
        request = without_parameters(self.request, names)
        products = Product.objects.visible_to(request.user)
        for backend in self.filter_backends:
            products = backend().filter_queryset(request, products, self)
        return products


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
        return get_object_or_404(products, pk=self._product_pk())

    def get_queryset(self):
        visible = Product.objects.visible_to(self.request.user)
        return ProductImage.objects.filter(product__in=visible, product=self._product_pk())

    def _product_pk(self) -> int:
        """An id no product can have (past the column's range) names no product: 404."""
        pk = self.kwargs["product_pk"]
        if not 0 < pk <= MAX_ID:
            raise Http404
        return pk


class ProductImageUploadViewSet(mixins.CreateModelMixin, ProductImageViewSet):
    serializer_class = ProductImageUploadSerializer
    create = idempotent(mixins.CreateModelMixin.create)
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
