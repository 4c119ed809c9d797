"""The product list's query parameters (API.md, "Product list query parameters")."""

import re
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters

from backend.fields import NOT_A_PLAIN_DECIMAL, plain_decimal_pattern
from backend.filters import FilterSet, SearchFilter, StrictBooleanFilter
from products.models import Category, InSubtrees, Product

MAX_ID = 2**63 - 1
ROOTS = "null"  # `?parent=null`
MONEY = {"max_digits": 12, "decimal_places": 2}
PRICE_BOUND_PATTERN = plain_decimal_pattern(
    MONEY["max_digits"] - MONEY["decimal_places"], MONEY["decimal_places"]
)


class PlainDecimalField(forms.DecimalField):
    """A price bound is written like a price (backend/fields.py): `Decimal()` alone would take
    "1e2", "-0", "1_000" or fullwidth digits."""

    def to_python(self, value):
        whole = self.max_digits - self.decimal_places
        if value not in self.empty_values and not re.fullmatch(
            plain_decimal_pattern(whole, self.decimal_places), str(value), flags=re.ASCII
        ):
            message = NOT_A_PLAIN_DECIMAL.format(whole=whole, places=self.decimal_places)
            raise forms.ValidationError(message, code="invalid")
        return super().to_python(value)


class PriceBoundFilter(filters.NumberFilter):
    field_class = PlainDecimalField


class IdListField(forms.Field):
    """`?category=1&category=4`: whole numbers, each within the database's id range. `choices`
    (a callable) only fill the browsable API's select: any well-formed id is accepted, and the
    callable runs when the form is drawn, never on a JSON request."""

    widget = forms.SelectMultiple

    def __init__(self, *, choices=(), **kwargs):
        super().__init__(**kwargs)
        self.widget.choices = choices

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        ids = []
        for raw in (v for v in values if v not in (None, "")):
            if not (str(raw).isascii() and str(raw).isdigit()) or not 0 < int(raw) <= MAX_ID:
                raise forms.ValidationError(
                    "'%(value)s' is not a category id (a whole number).",
                    code="invalid",
                    params={"value": raw},
                )
            ids.append(int(raw))
        return ids


class RepeatedTextInput(forms.TextInput):
    """A text box for a parameter that may be repeated (`?x=a&x=b`): it reads every value
    (a TextInput reads only the last one)."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def format_value(self, value):
        return " ".join(value) if isinstance(value, list) else super().format_value(value)


class SlugListField(forms.Field):
    """`?category_slug=garden&category_slug=toys`: slugs, any letter case (stored lower)."""

    widget = RepeatedTextInput
    validate_slug = forms.SlugField().run_validators

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        slugs = [str(raw).lower() for raw in values if raw not in (None, "")]
        for slug in slugs:
            self.validate_slug(slug)
        return slugs


class SubtreeFilter(filters.Filter):
    """Products of the categories named (by `key`) and of every category below them. Names
    that match no category simply match no product; only a malformed one is a 400. (A check
    that every one exists would cost a query on every filtered list.) The categories are a
    subquery of the same statement: the product side stays a scan of the category index."""

    def __init__(self, *, key: str, field_class: type[forms.Field], **kwargs):
        super().__init__(**kwargs)
        self.key = key
        self.field_class = field_class

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(InSubtrees("category_id", value, key=self.key))


class ParentField(forms.Field):
    """`?parent=4` (a category id) or `?parent=null` (the roots)."""

    def to_python(self, value):
        if value in (None, "") or value == ROOTS:
            return value or None
        text = str(value)
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
            raise forms.ValidationError(
                "'%(value)s' is not a category id (a whole number) or null.",
                code="invalid",
                params={"value": value},
            )
        return int(text)


class ParentFilter(filters.Filter):
    field_class = ParentField

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(parent__isnull=True) if value == ROOTS else qs.filter(parent_id=value)


class SlugFilter(filters.Filter):
    field_class = forms.SlugField

    def filter(self, qs, value):
        return qs.filter(slug=value.lower()) if value else qs


class DateOrDateTimeField(forms.Field):
    """ISO 8601 date (`2026-11-24`) or date-time (`2026-11-24T10:00:00Z`; naive means UTC).
    RFC 3339, the schema's `date-time`, also allows a lower-case `t` and `z`."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().replace(" ", "+").upper()  # an unescaped '+' arrives as ' '
        try:
            parsed = parse_date(text) or parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Enter an ISO 8601 date or date-time.", code="invalid")
        return _in_utc(parsed) if isinstance(parsed, datetime) else parsed


class CreatedBoundFilter(filters.Filter):
    """Inclusive bounds: a bare date as a bound takes in the whole of that day (UTC)."""

    field_class = DateOrDateTimeField

    def filter(self, qs, value):
        if value is None:
            return qs
        if isinstance(value, datetime):
            return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": value})
        if self.lookup_expr == "lte":  # to the end of that day: before the next one starts
            if value == date.max:
                return qs
            return qs.filter(**{f"{self.field_name}__lt": _midnight(value + timedelta(days=1))})
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": _midnight(value)})


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _in_utc(moment: datetime) -> datetime:
    """The instant in UTC (naive means UTC). ISO 8601 allows offsets to ±23:59, PostgreSQL
    takes ±15:59 only; and an instant within a day of the calendar's ends may have no UTC time
    in it (0001-01-01T00:00+05:00): it stands for that end."""
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        end = datetime.min if moment.year == date.min.year else datetime.max
        return end.replace(tzinfo=UTC)


def category_choices():
    """The categories, by name, for the browsable API's filter form (one query when drawn)."""
    return Category.objects.order_by("name", "id").values_list("id", "name")


class ProductFilter(FilterSet):
    """Labels and help texts are plain text: the browsable API shows them as they are."""

    category = SubtreeFilter(
        key="pk",
        field_name="category_id",
        field_class=IdListField,
        label="Category",
        choices=category_choices,
        help_text=(
            "Products in any of these categories or the categories below them (by id; repeat "
            "the parameter for several)."
        ),
    )
    category_slug = SubtreeFilter(
        key="slug",
        field_name="category__slug",
        field_class=SlugListField,
        label="Category slug",
        help_text=(
            "Products in any of these categories or the categories below them (by slug; "
            "repeat the parameter for several)."
        ),
    )
    min_price = PriceBoundFilter(
        field_name="price",
        lookup_expr="gte",
        label="Lowest price",
        help_text="Lowest price, inclusive.",
        **MONEY,
    )
    max_price = PriceBoundFilter(
        field_name="price",
        lookup_expr="lte",
        label="Highest price",
        help_text="Highest price, inclusive.",
        **MONEY,
    )
    in_stock = StrictBooleanFilter(
        method="filter_in_stock",
        label="In stock",
        help_text="Yes (true): stock above 0. No (false): out of stock.",
    )
    created_after = CreatedBoundFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="Created after",
        help_text="ISO date or date-time, inclusive.",
    )
    created_before = CreatedBoundFilter(
        field_name="created_at",
        lookup_expr="lte",
        label="Created before",
        help_text="ISO date or date-time, inclusive.",
    )
    is_active = StrictBooleanFilter(
        method="filter_is_active",
        label="Active",
        help_text="Staff only; ignored for everyone else.",
    )

    class Meta:
        model = Product
        fields = []

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock__gt=0) if value else queryset.filter(stock=0)

    def filter_is_active(self, queryset, name, value):
        if not self.request.user.is_staff:
            return queryset
        return queryset.filter(is_active=value)


class CategoryFilter(FilterSet):
    parent = ParentFilter(
        label="Parent",
        help_text="The children of this category (by id), or null for the roots.",
    )
    slug = SlugFilter(label="Slug", help_text="The category with this slug.")

    class Meta:
        model = Category
        fields = []


class ProductSearchFilter(SearchFilter):
    """`?search=`: every word in the name, description or SKU, through `Product.matching` (one
    indexed expression instead of DRF's OR over three columns)."""

    def filter_queryset(self, request, queryset, view):
        words = self.get_search_terms(request)
        return queryset.matching(words) if words else queryset
