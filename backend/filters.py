"""Filtering and ordering pieces shared by every list."""

from django import forms
from django_filters import rest_framework as filters
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ValidationError

TIE_BREAKER = "-id"


class StrictBooleanField(forms.Field):
    """`true`/`false` (or 1/0, any case). django-filter's own boolean quietly ignores anything
    else, which would answer `?in_stock=maybe` with an unfiltered list; this says 400."""

    truthy = frozenset({"true", "1"})
    falsy = frozenset({"false", "0"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.truthy:
            return True
        if text in self.falsy:
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        # django-filter's BooleanWidget turns an unknown value into None before validation.
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class SearchFilter(drf_filters.SearchFilter):
    """DRF's search, only on views that say what it searches (`search_fields`), with its
    errors in the API's shape (`{"search": [...]}`; DRF raises a bare list for a NUL byte).
    A view's `search_description` says in the schema what it matches."""

    def filter_queryset(self, request, queryset, view):
        if not getattr(view, "search_fields", None):
            return queryset
        return super().filter_queryset(request, queryset, view)

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from exc

    def get_schema_operation_parameters(self, view):
        if not getattr(view, "search_fields", None):
            return []
        parameters = super().get_schema_operation_parameters(view)
        description = getattr(view, "search_description", None)
        for parameter in parameters:
            if description:
                parameter["description"] = description
        return parameters


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, skipped when no parameter of the view's FilterSet is given: the
    FilterSet would then filter nothing, but building it (a deep copy of every filter and a
    form) costs more than the query on a list page."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        names = filterset_class.base_filters if filterset_class else ()
        if not any(name in request.query_params for name in names):
            return queryset
        return super().filter_queryset(request, queryset, view)


class OrderingFilter(drf_filters.OrderingFilter):
    """DRF's ordering, always ending with `-id`: rows that tie on the requested key keep one
    order, so pages never repeat or skip a row. The schema lists the accepted keys."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = list(getattr(view, "ordering_fields", None) or [])
        default = ",".join(getattr(view, "ordering", None) or [])
        for parameter in parameters:
            parameter["description"] = (
                f"Sort key, `-` for descending (default `{default}`); ties are broken by `-id`. "
                "An unknown key is ignored."
            )
            parameter["schema"] = {
                "type": "string",
                "enum": [key for field in fields for key in (field, f"-{field}")],
            }
        return parameters

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and not any(key.lstrip("-") in ("id", "pk") for key in ordering):
            ordering.append(TIE_BREAKER)
        return ordering
