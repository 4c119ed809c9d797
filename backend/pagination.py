"""Pages of every list: by number, `{count, next, previous, results}` (API.md); or, where a view
offers it (`?pagination=cursor`), by cursor, `{next, previous, results}`."""

import hashlib
import re
from datetime import datetime
from functools import reduce
from operator import and_, or_

from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.utils.urls import replace_query_param

from backend.queries import where_digest

BAD_PAGE_SIZE = "A page size is a whole number from 1."
PAGINATION_PARAMETER = "pagination"
BAD_PAGINATION = "Leave it out for numbered pages, or send `cursor`."
NOT_A_PAGE_NUMBER = (
    "A page number is a whole number. Cursor pages ignore it: they start at `cursor`."
)
BAD_CURSOR = "Not a cursor this API made: send back a `next` or `previous` link as it is."
FOREIGN_CURSOR = (
    "This cursor was made for other filters, search or ordering: start again from the first page."
)
CURSOR_SALT = "backend.pagination.cursor"
INCLUSIVE = {"gt": "gte", "lt": "lte"}


class PageSize:
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    page_size_query_description = "Results per page: default 20, at most 100 (larger is capped)."

    def get_page_size(self, request):
        """The asked size, capped at 100; absent (or empty, as the filters take an empty value)
        means the default. Anything else that is not a whole number from 1 is a 400 like every
        other bad parameter (DRF would quietly answer the default page instead)."""
        asked = request.query_params.get(self.page_size_query_param, "")
        if asked == "":
            return self.page_size
        digits = asked.lstrip("0")
        if not (asked.isascii() and asked.isdigit() and digits):
            raise ValidationError({self.page_size_query_param: [BAD_PAGE_SIZE]})
        if len(digits) > len(str(self.max_page_size)):  # int() of thousands of digits raises
            return self.max_page_size
        return min(int(digits), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = parameter["schema"] | {"minimum": 1}
        return parameters


class PageNumberPagination(PageSize, pagination.PageNumberPagination):
    page_query_description = "Page number, from 1. A page past the end is a 404."


class CursorPagination(PageSize, pagination.CursorPagination):
    """Keyset pages: a cursor holds the position of the row it starts after (every ordering
    value, the `id` tie-breaker included) and the page walks strictly past it, on the
    ordering's index, however deep. A row is never repeated or skipped because others were
    added or removed meanwhile.

    DRF's own class keeps the position of the first ordering key only, with an offset among
    the rows that tie on it (DRF#7887: it repeats or skips rows when ties change between pages,
    and refuses offsets past 1000); its envelope, links, ordering and schema are kept. The
    cursor is signed, with a digest of the query it was made for: another filter, search or
    ordering (or another caller's visibility) is a 400, not a page of another list."""

    cursor_query_description = (
        "Where a page starts: the `cursor` of a `next` or `previous` link (with "
        "`pagination=cursor`). 400 when malformed or made for other filters or ordering."
    )
    ordering = "-id"  # only without an ordering filter on the view

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        _refuse_a_malformed_page_number(request)
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.model = queryset.model
        self.keys = self._keys(self.get_ordering(request, queryset, view))
        self.query_digest = self._digest(queryset)
        position, self.reverse = self._decode(request)
        page, more = self._page(queryset, position)
        self.next_position = self.previous_position = None
        if page and (more or self.reverse):  # a page reached backwards has rows after it
            self.next_position = self._position(page[-1])
        if page and (more if self.reverse else position is not None):
            self.previous_position = self._position(page[0])
        return page

    def _page(self, queryset, position) -> tuple[list, bool]:
        """The page past `position` (before it, walking back), in the list's order, and
        whether more rows lie beyond it in the walk's direction."""
        keys = [_flipped(key) for key in self.keys] if self.reverse else self.keys
        queryset = queryset.order_by(*keys)
        if position is not None:
            queryset = queryset.filter(_after(keys, position))
        rows = list(queryset[: self.page_size + 1])
        page = rows[: self.page_size]
        return (page[::-1] if self.reverse else page), len(rows) > self.page_size

    def get_next_link(self):
        return self._link(self.next_position, reverse=False)

    def get_previous_link(self):
        return self._link(self.previous_position, reverse=True)

    def _link(self, position, *, reverse: bool) -> str | None:
        if position is None:
            return None
        payload = {"q": self.query_digest, "p": position, "r": reverse}
        cursor = signing.dumps(payload, salt=CURSOR_SALT, compress=True)
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def _decode(self, request) -> tuple[list | None, bool]:
        cursor = request.query_params.get(self.cursor_query_param, "")
        if cursor == "":
            return None, False
        try:
            payload = signing.loads(cursor, salt=CURSOR_SALT)
        except signing.BadSignature as exc:
            raise ValidationError({self.cursor_query_param: [BAD_CURSOR]}) from exc
        if payload["q"] != self.query_digest:
            raise ValidationError({self.cursor_query_param: [FOREIGN_CURSOR]})
        fields = [self.model._meta.get_field(key.lstrip("-")) for key in self.keys]
        values = [field.to_python(value) for field, value in zip(fields, payload["p"], strict=True)]
        return values, payload["r"]

    def _keys(self, ordering) -> list[str]:
        """The ordering up to its unique key, which must be there: the cursor's position is
        exact only if no two rows share it."""
        names = [key.lstrip("-") for key in ordering]
        unique = next((n for n, name in enumerate(names) if name in ("id", "pk")), None)
        if unique is None:
            raise ImproperlyConfigured("Cursor pages need an ordering that ends with the id.")
        return [*ordering[:unique], ordering[unique].replace("pk", "id")]

    def _digest(self, queryset) -> str:
        text = f"{where_digest(queryset.query)}|{self.keys}"
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def _position(self, row) -> list[str]:
        values = [
            row[key.lstrip("-")] if isinstance(row, dict) else getattr(row, key.lstrip("-"))
            for key in self.keys
        ]
        return [
            value.isoformat() if isinstance(value, datetime) else str(value) for value in values
        ]


def _flipped(key: str) -> str:
    return key[1:] if key.startswith("-") else f"-{key}"


def _after(keys: list[str], position: list) -> Q:
    """Rows strictly past `position` in the order of `keys`: past it on the first key, or level
    on it and past on the next, and so on. The first key's bound is repeated on its own so the
    database can start the index scan there."""
    comparisons = [
        (key.lstrip("-"), "lt" if key.startswith("-") else "gt", value)
        for key, value in zip(keys, position, strict=True)
    ]
    past = [
        reduce(and_, [Q(**{name: value}) for name, _, value in comparisons[:n]], Q())
        & Q(**{f"{name}__{lookup}": value})
        for n, (name, lookup, value) in enumerate(comparisons)
    ]
    first_name, first_lookup, first_value = comparisons[0]
    return Q(**{f"{first_name}__{INCLUSIVE[first_lookup]}": first_value}) & reduce(or_, past)


def _refuse_a_malformed_page_number(request) -> None:
    """The list's schema types `page` as a whole number in both of its paginations: a cursor
    page ignores a page number, but answers one that is not a number with a 400, as the
    schema promises, rather than the page it would have served without it."""
    number = request.query_params.get(PageNumberPagination.page_query_param, "")
    if number and not re.fullmatch(r"-?[0-9]+", number):
        raise ValidationError({PageNumberPagination.page_query_param: [NOT_A_PAGE_NUMBER]})
