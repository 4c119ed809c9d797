"""The catalog's anonymous JSON reads, answered by `backend.shortcuts` ahead of Django.

They give exactly what the full path (`products.viewsets.CatalogViewSet`) gives an anonymous
caller, from the viewset's own pieces: its rule of who sees what (`queryset_for` an anonymous
user), its compiled row lookup (the same object), its representation, its list building
(called without Django's request cycle), the same rendering and ETag, and the same cached list
pages (the same keys).
"""

import functools

from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django.urls import reverse
from rest_framework.exceptions import APIException

from backend.conditional import etag_for, none_match
from backend.exceptions import ServiceUnavailable, translate_exception
from backend.shortcuts import Answer, ShortcutRequest, error_answer, json_answer
from products import cache
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
    products = CatalogReads(ProductViewSet, "product")
    categories = CatalogReads(CategoryViewSet, "category")
    return [
        (_pattern("product-detail", detail), products.detail),
        (_pattern("category-detail", detail), categories.detail),
        (_pattern("product-list"), products.list),
        (_pattern("category-list"), categories.list),
    ]


def _pattern(url_name: str, tail: str = "") -> str:
    if not tail:
        return reverse(url_name).replace(".", r"\.")
    return reverse(url_name, kwargs={"pk": 1}).removesuffix("1/") + tail


ANONYMOUS = AnonymousUser()


class CatalogReads:
    """A catalog viewset's anonymous reads: who sees what, the row lookup, the representation
    and the list building are the viewset's own."""

    def __init__(self, viewset, basename: str):
        self.viewset = viewset
        self.basename = basename
        self.represent = viewset.serializer_class.represent_row
        self.audience = viewset.audience_of(ANONYMOUS)

    def detail(self, request: ShortcutRequest, pk: str):
        if request.query_string:  # ?format= and the like: the full path knows them
            return None
        return lambda: self._detail(request, int(pk))

    def _detail(self, request: ShortcutRequest, pk: int) -> Answer:
        row = self.viewset.row_lookup(ANONYMOUS).get(pk)
        if row is None:
            return json_answer(404, NOT_FOUND, {"Vary": ERROR_VARY, "Allow": DETAIL_ALLOW})
        body = render(self.represent(row))
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
                    self.basename, self.audience, request.scheme, request.host, request.full_path
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


def _conditional(request: ShortcutRequest, body: bytes, etag: str, allow: str) -> Answer:
    headers = {"ETag": etag, "Vary": FOUND_VARY, "Allow": allow, "Cache-Control": "no-cache"}
    if none_match(request.environ.get("HTTP_IF_NONE_MATCH", ""), etag):
        return Answer(304, b"", headers)
    return Answer(200, body, {"Content-Type": "application/json", **headers})
