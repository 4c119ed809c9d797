"""Filtering and ordering pieces shared by every list."""

import copy
from collections.abc import Iterable

from django import forms
from django.http import QueryDict
from django_filters import rest_framework as filters
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

TIE_BREAKER = "-id"
NO_NUL = r"^[^\x00]*$"


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


class StrictBooleanSelect(forms.Select):
    """A select of "", "true" and "false" that hands on whatever was sent, so an unknown value
    reaches StrictBooleanField and is a 400 (django-filter's BooleanWidget turns it into None,
    which filters nothing). Any accepted spelling (`1`, `True`) shows as its option."""

    def __init__(self, attrs=None):
        super().__init__(attrs, choices=[("", "Any"), ("true", "Yes"), ("false", "No")])

    def format_value(self, value):
        text = "" if value is None else str(value).strip().lower()
        if text in StrictBooleanField.truthy:
            return ["true"]
        if text in StrictBooleanField.falsy:
            return ["false"]
        return [text] if text else []


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", StrictBooleanSelect)
        super().__init__(*args, **kwargs)


class FilterSet(filters.FilterSet):
    """django-filter's FilterSet without rebuilding, for every request, what only depends on the
    class: django-filter deep-copies each declared filter and makes a new form class from them
    on each request, which costs more than a cached list page's query. Here each instance binds
    shallow copies of the filters to itself (as django-filter binds its deep copies), and the
    form class, made from the declared filters alone, is made once per FilterSet class, as a
    Django form class is."""

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: self._bound(declared) for name, declared in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model

    def _bound(self, declared):
        filter_ = copy.copy(declared)
        filter_.parent = self
        if filter_.method is not None:  # its FilterMethod must find this FilterSet's methods
            filter_.method = filter_.method
        return filter_

    def get_form_class(self):
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            fields = {name: declared.field for name, declared in cls.base_filters.items()}
            cls._form_class = type(f"{cls.__name__}Form", (self._meta.form,), fields)
        return cls._form_class


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
            parameter["schema"] = {"type": "string", "pattern": NO_NUL}  # DRF refuses NUL: 400
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
    order, so pages never repeat or skip a row. The schema names the keys in the description:
    any text is accepted (API.md: an unknown key is ignored; several keys are comma-separated),
    so an `enum` would describe a stricter API than this one."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = list(getattr(view, "ordering_fields", None) or [])
        keys = ", ".join(f"`{field}`" for field in fields)
        default = ",".join(getattr(view, "ordering", None) or [])
        for parameter in parameters:
            parameter["description"] = (
                f"Sort keys, comma-separated: {keys}, each with `-` for descending (default "
                f"`{default}`); ties are broken by `-id`. An unknown key is ignored."
            )
            parameter["schema"] = {"type": "string"}
        return parameters

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and not any(key.lstrip("-") in ("id", "pk") for key in ordering):
            ordering.append(TIE_BREAKER)
        return ordering


def without_parameters(request: Request, names: Iterable[str]) -> Request:
    """The request as if the query parameters `names` had not been sent, for the filter
    backends to filter by (a facet is counted with its own filter left out)."""
    params = request.query_params.copy()
    for name in names:
        params.pop(name, None)
    django_request = copy.copy(request._request)
    django_request.GET = params
    clone = copy.copy(request)
    clone._request = django_request
    return clone
