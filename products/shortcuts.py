"""The catalog's anonymous JSON reads, answered by `backend.shortcuts` ahead of Django.

They give exactly what the full path (`products.viewsets.CatalogViewSet`) gives an anonymous
caller, from the same pieces: the same visibility rule (`visible_to` an anonymous user), the
same compiled row lookup and representation, the same list building (the viewset's own,
called without Django's request cycle), rendering and ETag, and the same cached list pages.
"""

import functools

from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django.urls import reverse
from rest_framework.exceptions import APIException

from backend.conditional import etag_for, none_match
from backend.exceptions import ServiceUnavailable, translate_exception
from backend.prepared import RowByPk
from backend.shortcuts import Answer, ShortcutRequest, error_answer, json_answer
from products import cache
from products.models import Category, Product
from products.serializers import CategorySerializer, ProductSerializer
from products.views import CategoryViewSet, ProductViewSet
from products.viewsets import VARY, list_cache_key, render

NOT_FOUND = {"detail": "Not found."}
DETAIL_ALLOW = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
LIST_ALLOW = "GET, POST, HEAD, OPTIONS"
# Vary as the full path sends it: DRF's Accept, the view's own, the CORS middleware's origin.
FOUND_VARY = f"Accept, {VARY}, origin"
ERROR_VARY = "Accept, Cookie, origin"


def routes():
    """(path pattern, handler) pairs, the paths taken from the URL configuration."""
    detail = r"(?P<pk>[0-9]+)/"
    return [
        (_pattern("product-detail", detail), ProductReads().detail),
        (_pattern("category-detail", detail), CategoryReads().detail),
        (_pattern("product-list"), ProductReads().list),
        (_pattern("category-list"), CategoryReads().list),
    ]


def _pattern(url_name: str, tail: str = "") -> str:
    if not tail:
        return reverse(url_name).replace(".", r"\.")
    return reverse(url_name, kwargs={"pk": 1}).removesuffix("1/") + tail


class CatalogReads:
    basename = ""
    serializer = None
    viewset = None

    def __init__(self):
        self._rows = None

    def rows(self):
        raise NotImplementedError

    def detail(self, request: ShortcutRequest, pk: str):
        if request.query_string:  # ?format= and the like: the full path knows them
            return None
        return lambda: self._detail(request, int(pk))

    def _detail(self, request: ShortcutRequest, pk: int) -> Answer:
        if self._rows is None:
            self._rows = RowByPk(self.rows())
        row = self._rows.get(pk)
        if row is None:
            return json_answer(404, NOT_FOUND, {"Vary": ERROR_VARY, "Allow": DETAIL_ALLOW})
        body = render(self.serializer.represent_row(row))
        return _conditional(request, body, etag_for(body), DETAIL_ALLOW)

    def list(self, request: ShortcutRequest):
        if "format" in QueryDict(request.query_string):  # the full path knows ?format=
            return None
        return lambda: self._list(request)

    def _list(self, request: ShortcutRequest) -> Answer:
        build = functools.partial(self.viewset.anonymous_list, request.environ)
        try:
            if cache.enabled():
                key = list_cache_key(
                    self.basename, "public", request.scheme, request.host, request.full_path
                )
                body, etag = cache.cached(key, build)
            else:
                body, etag = build()
        except Exception as exc:  # bad filters, a page past the end: a 4xx as the API says it
            error = translate_exception(exc)
            if not isinstance(error, APIException) or isinstance(error, ServiceUnavailable):
                raise
            return error_answer(error, {"Vary": ERROR_VARY, "Allow": LIST_ALLOW})
        return _conditional(request, body, etag, LIST_ALLOW)


class ProductReads(CatalogReads):
    basename = "product"
    serializer = ProductSerializer
    viewset = ProductViewSet

    def rows(self):
        return Product.objects.visible_to(AnonymousUser()).as_rows()


class CategoryReads(CatalogReads):
    basename = "category"
    serializer = CategorySerializer
    viewset = CategoryViewSet

    def rows(self):
        return Category.objects.with_product_count().as_rows()


def _conditional(request: ShortcutRequest, body: bytes, etag: str, allow: str) -> Answer:
    headers = {"ETag": etag, "Vary": FOUND_VARY, "Allow": allow, "Cache-Control": "no-cache"}
    if none_match(request.environ.get("HTTP_IF_NONE_MATCH", ""), etag):
        return Answer(304, b"", headers)
    return Answer(200, body, {"Content-Type": "application/json", **headers})
