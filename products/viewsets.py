"""What catalog endpoints share: JSON reads as plain rows rendered once, with ETags and the
shared list cache, and writes that honour If-Match (API.md, "Conditional requests")."""

from django.contrib.auth import get_permission_codename
from django.db import transaction
from django.http import Http404, HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions
from rest_framework.renderers import JSONRenderer as BaseJSONRenderer

from backend.conditional import etag_for, none_match, not_modified, require_match
from backend.idempotency.decorators import idempotent
from backend.lazyschema import LazyAutoSchema
from backend.pagination import BAD_PAGINATION, PAGINATION_PARAMETER, CursorPagination
from backend.renderers import JSONRenderer
from products import cache
from products.history import changes_of, present
from products.resources import Resource

DEFERRED_JOIN_FROM = 1000  # rows skipped before a page's ids are looked up first
VARY = "Authorization, Cookie"

render = JSONRenderer().render
RESULTS_PLACEHOLDER = "\x00results\x00"  # no JSON string the API renders holds a NUL
RENDERED_PLACEHOLDER = render(RESULTS_PLACEHOLDER)


def _cache_control(request) -> str:
    return "private, no-cache" if request.user.is_authenticated else "no-cache"


class ListRows:
    """What the paginator pages: the count of the rows `matching` finds, and a page of them as
    rows. With the cache on, each comes from it while still good (`products.cache`): the page
    rendered (then no row is read), or else its ids (then its rows are read afresh, by id)."""

    ordered = True  # the paginator checks; `matching` always has an order

    def __init__(self, matching, visible, rows, entries: "cache.ListEntries | None"):
        self.matching = matching
        self.visible = visible  # what the caller may see, unfiltered: cached ids are read in it
        self.rows = rows  # the resource's `rows`: a queryset's `.values()` for representing
        self.entries = entries
        self.rendered: bytes | None = None  # the page's rows, rendered, when the cache has them
        self._start = 0

    def count(self) -> int:
        if self.entries is None:
            return self.matching.count()
        return self.entries.count(self.matching.count)

    def __getitem__(self, page: slice) -> list[dict]:
        start = self._start = page.start or 0
        if page.stop <= start:
            return []
        if self.entries:
            self.rendered = self.entries.page(start, "rendered")
            if self.rendered is not None:
                return []
            ids = self.entries.page(start, "ids")
            if ids is not None:
                shown = self.visible.filter(pk__in=ids).order_by()
                found = {row["id"]: row for row in self.rows(shown)}
                if len(found) == len(ids):
                    return [found[pk] for pk in ids]
        if not self.entries:
            return self._find(page)
        with self.entries.subtrees_known():
            rows = self._find(page)
        self.entries.store_ids(start, [row["id"] for row in rows])
        return rows

    def render(self, page: list[dict], represent_list) -> bytes:
        """The page's rows as a JSON array: from the cache, or rendered (and then cached)."""
        if self.rendered is None:
            self.rendered = render(represent_list(page))
            if self.entries:
                ids = [row["id"] for row in page]
                self.entries.store_rendered(self._start, ids, self.rendered)
        return self.rendered

    def _find(self, page: slice) -> list[dict]:
        """A deep page's ids are found first, in an index-only scan of the ordering's index,
        and only those rows are then read (with their category), in the same statement:
        `OFFSET` then skips index entries instead of whole rows."""
        if page.start < DEFERRED_JOIN_FROM:  # near the top, a plain LIMIT is as cheap
            return list(self.rows(self.matching)[page])
        ids = self.matching.values("pk")[page]
        return list(self.rows(self.matching.filter(pk__in=ids)))


class ReadOpenWriteByModelPermission(DjangoModelPermissions):
    """DRF's DjangoModelPermissionsOrAnonReadOnly, answering reads without building the view's
    queryset: anyone may read, so there is nothing to look up (DRF builds it to find the
    model whose permissions a GET would need, and a GET needs none)."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or super().has_permission(request, view)


class MayChange(BasePermission):
    """Staff with the permission to change the view's model (`products.change_product`)."""

    def has_permission(self, request, view):
        meta = view.resource.model._meta
        codename = get_permission_codename("change", meta)
        return request.user.is_staff and request.user.has_perm(f"{meta.app_label}.{codename}")


class CatalogViewSet(viewsets.ModelViewSet):
    """A ModelViewSet whose JSON reads are plain rows represented as its `resource` declares
    (`products.resources`), rendered once, with an ETag, and answered 304 when the client has
    them; lists take their counts, pages' ids and rendered pages from the shared cache. Writes
    honour If-Match.
    (The browsable API keeps DRF's generic path.)

    Each object has its change history (`history/`, `products.history`).

    Subclasses give `resource` and `get_queryset()` (who sees what)."""

    resource: Resource
    cursor_pagination_class = None  # what `?pagination=cursor` pages the list with, if offered

    permission_classes = [ReadOpenWriteByModelPermission]
    lookup_value_converter = "int"
    conditional_requests = True  # documents If-None-Match / If-Match, ETag, 304 and 412
    schema = LazyAutoSchema()

    # --- reads ----------------------------------------------------------------------------------

    def list(self, request, *args, **kwargs):
        if not isinstance(request.accepted_renderer, BaseJSONRenderer):
            return super().list(request, *args, **kwargs)
        visible = self.get_queryset()
        matching = self.filter_queryset(visible)
        if isinstance(self.paginator, CursorPagination):  # no count, no page to cache by number
            page = self.paginate_queryset(self.resource.list_rows(matching))
            results = render(self.resource.represent_list(list(page)))
            return self._conditional(request, self._paginated(results))
        rows = ListRows(matching, visible, self.resource.list_rows, self._list_entries(matching))
        page = self.paginate_queryset(rows)
        return self._conditional(
            request, self._paginated(rows.render(page, self.resource.represent_list))
        )

    @property
    def paginator(self):
        """Numbered pages, or cursor pages with `?pagination=cursor` where the view offers them
        (`cursor_pagination_class`); any other value is a 400."""
        if not hasattr(self, "_paginator"):
            pagination_class = self._pagination_class()
            self._paginator = pagination_class() if pagination_class else None
        return self._paginator

    def _pagination_class(self):
        if self.cursor_pagination_class is None or self.action != "list":
            return self.pagination_class
        chosen = self.request.query_params.get(PAGINATION_PARAMETER, "")
        if chosen == "":
            return self.pagination_class
        if chosen == "cursor":
            return self.cursor_pagination_class
        raise ValidationError({PAGINATION_PARAMETER: [BAD_PAGINATION]})

    def _paginated(self, results: bytes) -> bytes:
        """The paginator's answer around rows already rendered (perhaps by another request):
        its envelope is rendered with a placeholder for the results, which the rows' JSON then
        takes the place of. The links are this request's own."""
        envelope = render(self.get_paginated_response(RESULTS_PLACEHOLDER).data)
        return envelope.replace(RENDERED_PLACEHOLDER, results, 1)

    def retrieve(self, request, *args, **kwargs):
        if not isinstance(request.accepted_renderer, BaseJSONRenderer):
            return super().retrieve(request, *args, **kwargs)
        body = render(self.resource.represent(self._object_row()))
        return self._conditional(request, body)

    @action(detail=True, url_path="history", permission_classes=[MayChange], filter_backends=[])
    def history(self, request, *args, **kwargs):
        """Who changed the object, what and how, newest first. The object must still exist."""
        pk = self.kwargs[self.lookup_field]
        if not self.resource.model.objects.filter(pk=pk).exists():
            raise Http404
        page = self.paginate_queryset(changes_of(self.resource, pk))
        entries = [present(self.resource, row) for row in page]
        return self._conditional(request, render(self.get_paginated_response(entries).data))

    def permission_denied(self, request, message=None, code=None):
        """The history tells who changed what: to anyone who may not read it, it does not
        exist (404, not 401 or 403)."""
        if self.action == "history":
            raise Http404
        super().permission_denied(request, message, code)

    def _list_entries(self, matching) -> "cache.ListEntries | None":
        if not cache.enabled():
            return None
        size = self.paginator.get_page_size(self.request)
        number = self.request.query_params.get(self.paginator.page_query_param, "1")
        start = (int(number) - 1) * size if number.isascii() and number.isdigit() else None
        return cache.ListEntries(matching, start, size)

    def _object_row(self) -> dict:
        """The object as a row (404 if the caller may not see it). List parameters do not
        narrow a detail, so the filter backends are not applied."""
        pk = self.kwargs[self.lookup_field]
        matching = self.get_queryset().filter(pk=pk).order_by()
        row = next(iter(self.resource.rows(matching)[:1]), None)
        if row is None:
            raise Http404
        self.check_object_permissions(self.request, row)
        return row

    def _conditional(self, request, body: bytes) -> HttpResponse:
        """200 with the body, or 304 when the client already has it."""
        etag = etag_for(body)
        if none_match(request.headers.get("If-None-Match", ""), etag):
            return not_modified(etag, VARY, _cache_control(request))
        response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        """Every read, JSON or browsable HTML, says what it depends on: authenticated answers
        may differ by caller (staff see more), so no shared cache may hand them to another."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in SAFE_METHODS:
            patch_vary_headers(response, VARY.split(", "))
            response.setdefault("Cache-Control", _cache_control(request))
        return response

    # --- writes ---------------------------------------------------------------------------------

    def get_object(self):
        """For a write (inside its transaction): lock the row first, then read it, then check
        If-Match against the ETag a GET would give now (412 if the client's copy is stale).
        A concurrent write waits for this one, so neither is lost nor checked against a
        version that is about to change.

        An OPTIONS request only reads: DRF's answer asks for the object under a copy of the
        request given the write's method (META keeps the one sent), to see if the caller may."""
        if {self.request.method, self.request.META["REQUEST_METHOD"]} & set(SAFE_METHODS):
            return super().get_object()
        model = self.get_queryset().model
        # The lock the write itself takes: a change `FOR NO KEY UPDATE`, which lets another
        # transaction's foreign-key check on this row through (a category moved under this
        # one), a delete `FOR UPDATE`.
        no_key = self.request.method != "DELETE"
        lock = model.objects.select_for_update(no_key=no_key).filter(
            pk=self.kwargs[self.lookup_field]
        )
        list(lock.values_list("pk", flat=True))
        instance = super().get_object()
        if "If-Match" in self.request.headers:
            current = render(self.resource.represent(self._object_row()))
            require_match(self.request, etag_for(current))
        return instance

    @idempotent
    def create(self, request, *args, **kwargs):
        """In one transaction with its checks, as updates are: a check may lock what it
        read (the category tree) until the row is written."""
        with transaction.atomic():
            return super().create(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().destroy(request, *args, **kwargs)
