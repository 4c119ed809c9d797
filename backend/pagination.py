"""Page-number pagination for every list: `{count, next, previous, results}` (API.md)."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

BAD_PAGE_SIZE = "A page size is a whole number from 1."


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    page_query_description = "Page number, from 1. A page past the end is a 404."
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
