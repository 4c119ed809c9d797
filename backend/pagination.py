"""Page-number pagination for every list: `{count, next, previous, results}` (API.md)."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    page_query_description = "Page number, from 1. A page past the end is a 404."
    page_size_query_description = "Results per page: default 20, at most 100 (larger is capped)."
