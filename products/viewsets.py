"""What catalog endpoints share: conditional requests, the shared cache of list pages, and
writes that move the catalog version (API.md, "Conditional requests")."""

import hashlib

from django.core.handlers.wsgi import WSGIRequest
from django.db import transaction
from django.http import Http404, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions
from rest_framework.renderers import JSONRenderer as BaseJSONRenderer
from rest_framework.request import Request

from backend.conditional import etag_for, none_match, not_modified, require_match
from backend.lazyschema import LazyAutoSchema
from backend.prepared import CompiledCount, CompiledRows, RowByPk
from backend.renderers import JSONRenderer
from products import cache

DEFERRED_JOIN_FROM = 1000  # rows skipped before a page's ids are looked up first
NOT_COUNTED = {"page", "page_size", "ordering", "format"}
PAGING = {"page", "page_size", "format"}
MAX_LIST_PLANS = 256  # per process: distinct filter combinations beyond that evict the oldest
VARY = "Authorization, Cookie"

render = JSONRenderer().render
_ROW_LOOKUPS: dict[tuple, RowByPk] = {}
_LIST_PLANS: dict[tuple, "ListPlan"] = {}


def list_cache_key(basename: str, audience: str, scheme: str, host: str, full_path: str) -> str:
    """Where a rendered list page is cached. The whole URL counts: the page's next and previous
    links are built from it. (`products.shortcuts` looks pages up with the same key.)"""
    return f"catalog:list:{basename}:{audience}:{_digest(f'{scheme}://{host}{full_path}')}"


def _cache_control(request) -> str:
    return "private, no-cache" if request.user.is_authenticated else "no-cache"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class ListPlan:
    """A list's SQL, compiled once per process for each set of filter, search and ordering
    parameters: its count, and each page it has served. The same parameters always make the
    same SQL (they were checked when the plan was made), so a request with them only runs it.

    A deep page's ids are found first, in an index-only scan of the ordering's index, and only
    those rows are then read (with their category), in the same statement: `OFFSET` then skips
    index entries instead of whole rows."""

    MAX_PAGES = 64

    def __init__(self, matching):
        self.matching = matching
        self.count = CompiledCount(matching).fetch
        self._pages: dict[tuple, CompiledRows] = {}

    def rows(self, page: slice) -> list[dict]:
        bounds = (page.start, page.stop)
        compiled = self._pages.get(bounds)
        if compiled is None:
            if len(self._pages) >= self.MAX_PAGES:
                self._pages.clear()
            compiled = self._pages[bounds] = CompiledRows(self._page_rows(page))
        return compiled.fetch()

    def _page_rows(self, page: slice):
        if (page.start or 0) < DEFERRED_JOIN_FROM:  # near the top, a plain LIMIT is as cheap
            return self.matching.as_rows()[page]
        return self.matching.as_rows().filter(pk__in=self.matching.values("pk")[page])


class PagedRows:
    """What the paginator pages: a plan's rows, with the count from the caller (the shared
    cache, or the plan itself)."""

    def __init__(self, plan: ListPlan, count):
        self.plan = plan
        self._count = count

    def count(self) -> int:
        return self._count()

    def __getitem__(self, page: slice):
        return self.plan.rows(page)

    def __getattr__(self, name):
        return getattr(self.plan.matching, name)


class ReadOpenWriteByModelPermission(DjangoModelPermissions):
    """DRF's DjangoModelPermissionsOrAnonReadOnly, answering reads without building the view's
    queryset: anyone may read, so there is nothing to look up (DRF builds it to find the
    model whose permissions a GET would need, and a GET needs none)."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or super().has_permission(request, view)


class CatalogViewSet(viewsets.ModelViewSet):
    """A ModelViewSet whose JSON reads are plain rows rendered once, with an ETag, answered 304
    when the client has them; list pages are shared through the cache. Writes honour If-Match
    and tell the caches the catalog changed. (The browsable API keeps DRF's generic path.)

    Subclasses give `queryset_for(user)` (who sees what), `audience_of(user)` when callers see
    different things, and a serializer with `represent_row`."""

    permission_classes = [ReadOpenWriteByModelPermission]
    lookup_value_converter = "int"
    conditional_requests = True  # documents If-None-Match / If-Match, ETag, 304 and 412
    schema = LazyAutoSchema()

    # --- reads ----------------------------------------------------------------------------------

    def list(self, request, *args, **kwargs):
        if not isinstance(request.accepted_renderer, BaseJSONRenderer):
            return super().list(request, *args, **kwargs)
        if cache.enabled():
            body, etag = cache.cached(self._list_key(request), self._render_list)
        else:
            body, etag = self._render_list()
        return self._conditional(request, body, etag)

    def retrieve(self, request, *args, **kwargs):
        if not isinstance(request.accepted_renderer, BaseJSONRenderer):
            return super().retrieve(request, *args, **kwargs)
        body = render(self.get_serializer_class().represent_row(self._object_row()))
        return self._conditional(request, body, etag_for(body))

    @classmethod
    def anonymous_list(cls, environ: dict) -> tuple[bytes, str]:
        """The JSON list page (and its ETag) that `list` gives an anonymous caller, built from
        the WSGI environ without Django's request cycle, for `products.shortcuts`: the same
        filters, pagination and rendering. Bad parameters raise the API errors `list` would."""
        request = Request(WSGIRequest(environ))  # no authenticators: the anonymous user
        view = cls(request=request, args=(), kwargs={}, format_kwarg=None, action="list")
        return view._render_list()

    def _render_list(self) -> tuple[bytes, str]:
        plan = self._list_plan()
        count = self._shared_count(plan.count) if cache.enabled() else plan.count
        page = self.paginate_queryset(PagedRows(plan, count))
        represent = self.get_serializer_class().represent_row
        body = render(self.get_paginated_response([represent(row) for row in page]).data)
        return body, etag_for(body)

    def _list_plan(self) -> ListPlan:
        params = self.request.query_params.lists()
        filters = tuple(
            sorted((name, tuple(values)) for name, values in params if name not in PAGING)
        )
        key = (type(self), self.audience(), filters)
        plan = _LIST_PLANS.get(key)
        if plan is None:
            plan = ListPlan(self.filter_queryset(self.get_queryset()))  # 400s come from here
            if len(_LIST_PLANS) >= MAX_LIST_PLANS:
                del _LIST_PLANS[next(iter(_LIST_PLANS))]  # the oldest
            _LIST_PLANS[key] = plan
        return plan

    def _shared_count(self, count):
        """Pages of one filtered list share its count: key without page, size or order."""
        params = sorted(
            (k, v) for k, v in self.request.query_params.lists() if k not in NOT_COUNTED
        )
        key = f"{self._cache_prefix('count')}:{_digest(urlencode(params, doseq=True))}"
        return lambda: cache.cached(key, count)

    def _list_key(self, request) -> str:
        path = request.get_full_path()
        return list_cache_key(
            self.basename, self.audience(), request.scheme, request.get_host(), path
        )

    def _cache_prefix(self, kind: str) -> str:
        return f"catalog:{kind}:{self.basename}:{self.audience()}"

    @classmethod
    def queryset_for(cls, user):
        raise NotImplementedError

    @classmethod
    def audience_of(cls, user) -> str:
        """Callers who see the same representations share cached ones."""
        return "all"

    @classmethod
    def row_lookup(cls, user) -> RowByPk:
        """The compiled by-id lookup of what `user` may see. List parameters do not narrow a
        detail: who may see it depends on the caller only through `audience_of()`, so the
        lookup is kept per audience."""
        key = (cls, cls.audience_of(user))
        lookup = _ROW_LOOKUPS.get(key)
        if lookup is None:
            lookup = _ROW_LOOKUPS[key] = RowByPk(cls.queryset_for(user).as_rows())
        return lookup

    def get_queryset(self):
        return self.queryset_for(self.request.user)

    def audience(self) -> str:
        return self.audience_of(self.request.user)

    def _object_row(self) -> dict:
        """The object as a row (404 if the caller may not see it)."""
        row = self.row_lookup(self.request.user).get(self.kwargs[self.lookup_field])
        if row is None:
            raise Http404
        self.check_object_permissions(self.request, row)
        return row

    def _conditional(self, request, body: bytes, etag: str) -> HttpResponse:
        """200 with the body, or 304 when the client already has it."""
        if none_match(request.headers.get("If-None-Match", ""), etag):
            return not_modified(etag, VARY, _cache_control(request))
        response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        """Every read, JSON or browsable HTML, says what it depends on: authenticated answers
        may differ by caller (staff see more), so no shared cache may hand them to another."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in SAFE_METHODS and response.status_code < 400:
            patch_vary_headers(response, VARY.split(", "))
            response.setdefault("Cache-Control", _cache_control(request))
        return response

    # --- writes ---------------------------------------------------------------------------------

    def get_object(self):
        """For a write (inside its transaction): lock the row first, then read it, then check
        If-Match against the ETag a GET would give now (412 if the client's copy is stale).
        A concurrent write waits for this one, so neither is lost nor checked against a
        version that is about to change."""
        if self.request.method in SAFE_METHODS:
            return super().get_object()
        model = self.get_queryset().model
        lock = model.objects.select_for_update().filter(pk=self.kwargs[self.lookup_field])
        list(lock.values_list("pk", flat=True))
        instance = super().get_object()
        if "If-Match" in self.request.headers:
            current = render(self.get_serializer_class().represent_row(self._object_row()))
            require_match(self.request, etag_for(current))
        return instance

    def update(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        cache.catalog_changed()

    def perform_update(self, serializer):
        super().perform_update(serializer)
        cache.catalog_changed()

    def perform_destroy(self, instance):
        super().perform_destroy(instance)
        cache.catalog_changed()
