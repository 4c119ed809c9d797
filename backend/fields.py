"""Serializer fields as strict as the contract: a JSON number is not a string, nor a string a
number (API.md, "Lists, errors, limits"). DRF would coerce `123` to `"123"` and `"5"` to `5`.

HTML forms (the browsable API) send every value as text: a field that is not text reads it as
JSON does ("true", "3", "null"), so a form takes exactly what the schema says of every content
type, and what the browsable API's own forms send."""

import re

import orjson
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

WRONG_TYPE = "Expected {expected}, got {actual}."


def _json_reading(text: str):
    """A form field's text as the JSON value it spells, or the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _json_type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class JsonTypeMixin:
    """Refuse a JSON value whose type is not `json_types` (bool is never a number).

    A form field is text: where the field is not, its text is read as JSON reads it, so a form
    takes what the same JSON body takes (`true`, `false`, `3`), as the schema says of every
    content type. DRF would also take "on", "yes", "0" or "+5"."""

    json_types: tuple[type, ...] = ()
    expected_name = ""

    def to_internal_value(self, data):
        if not self._came_from_json() and isinstance(data, str) and str not in self.json_types:
            data = _json_reading(data)
        if not self._has_json_type(data):
            raise serializers.ValidationError(
                WRONG_TYPE.format(expected=self.expected_name, actual=_json_type_name(data)),
                code="invalid_type",
            )
        return super().to_internal_value(data)

    def get_value(self, dictionary):
        """A form field sent empty is the empty string, as `""` is in JSON: refused where the
        schema says `minLength: 1` or a number. DRF reads it as left out when the field is
        optional, so a form could pass what the same JSON body cannot (an empty `slug`).
        An empty nullable field stays null: a form has no other way to say it."""
        value = super().get_value(dictionary)
        if not html.is_html_input(dictionary):
            return value
        if value is empty:
            return dictionary.get(self.field_name, empty)
        if value == "null" and self.allow_null and str not in self.json_types:
            return None  # JSON's null, read before the field's type is checked, as in JSON
        return value

    def _has_json_type(self, data) -> bool:
        if isinstance(data, bool) and bool not in self.json_types:
            return False
        return isinstance(data, self.json_types)

    def _came_from_json(self) -> bool:
        return not isinstance(getattr(self.root, "initial_data", None), QueryDict)


class AsSentWhenPatterned:
    """A string whose validators give it a pattern (a username, a SKU, a slug) is checked as
    sent. DRF trims surrounding whitespace first, so `"ada\n"` would pass as `ada`, though the
    schema's pattern (drf-spectacular takes it from the validator) refuses it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if any(isinstance(validator, RegexValidator) for validator in self.validators):
            self.trim_whitespace = False


class LengthAsSent:
    """The schema's maxLength counts the string as sent. DRF trims surrounding whitespace
    before it counts, so 200 characters and a space would pass a 200-character limit."""

    def run_validation(self, data=empty):
        limited = self.trim_whitespace and self.max_length is not None
        if limited and isinstance(data, str) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)


class StrictCharField(AsSentWhenPatterned, LengthAsSent, JsonTypeMixin, serializers.CharField):
    json_types = (str,)
    expected_name = "a string"


class StrictEmailField(LengthAsSent, JsonTypeMixin, serializers.EmailField):
    json_types = (str,)
    expected_name = "a string"


class StrictSlugField(AsSentWhenPatterned, JsonTypeMixin, serializers.SlugField):
    json_types = (str,)
    expected_name = "a string"


class StrictIntegerField(JsonTypeMixin, serializers.IntegerField):
    json_types = (int,)
    expected_name = "an integer"


NOT_A_PLAIN_DECIMAL = (
    'Expected ASCII digits, at most {whole} before an optional "." and at most {places} after '
    'it, such as "12.50": no sign, exponent, spaces, digit separators or other digits.'
)


def plain_decimal_pattern(whole_digits: int | None, decimal_places: int) -> str:
    """What API.md calls a price: ASCII digits, then `.` and one to `decimal_places` digits.

    "5." is refused: nobody writes money that way, and a lone point is more likely a typo.
    Leading zeros count as digits, so the pattern alone is the rule (it is the schema's too)."""
    whole = f"{{1,{whole_digits}}}" if whole_digits else "+"
    return rf"^[0-9]{whole}(\.[0-9]{{1,{decimal_places}}})?$"


class StrictDecimalField(JsonTypeMixin, serializers.DecimalField):
    """Money travels as a decimal string ("12.50"), so a float's rounding never reaches it.

    `Decimal()` reads far more than the contract allows: "-0.00" (a negative zero that reads
    back as 0.00), "1_000", "1e2", "+5", ".5", fullwidth or Arabic-Indic digits, surrounding
    (no-break) spaces. The text must match `pattern` first, from JSON and forms alike."""

    json_types = (str,)
    expected_name = 'a decimal string such as "12.50"'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pattern = plain_decimal_pattern(self.max_whole_digits, self.decimal_places)

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(self.pattern, data, flags=re.ASCII):
            message = NOT_A_PLAIN_DECIMAL.format(
                whole=self.max_whole_digits or "any number", places=self.decimal_places
            )
            raise serializers.ValidationError(message, code="invalid")
        return super().to_internal_value(data)


class StrictBooleanField(JsonTypeMixin, serializers.BooleanField):
    """A form that leaves the field out means its default, as JSON does (API.md). DRF reads a
    missing form field as `False` (an unticked HTML checkbox sends nothing), so a form-posted
    product would be created inactive; `empty` lets the model default apply on create and
    leaves the stored value alone on update."""

    json_types = (bool,)
    expected_name = "true or false"
    default_empty_html = empty


class StrictPrimaryKeyRelatedField(JsonTypeMixin, serializers.PrimaryKeyRelatedField):
    """A related object's id: an integer (DRF would take `"3"`, and `true` as 1)."""

    json_types = (int,)
    expected_name = "an integer id"


CONFLICT = "This conflicts with data saved at the same moment; try again."


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose generated fields use the strict types above, and which answers a
    lost race with 400 instead of 500.

    Two requests can both pass a uniqueness check before either saves; the database constraint
    then stops the second. Validating its data again shows the clash under the field it
    concerns, as if the request had come a moment later."""

    serializer_related_field = StrictPrimaryKeyRelatedField

    def save(self, **kwargs):
        try:
            with transaction.atomic():
                return super().save(**kwargs)
        except IntegrityError as exc:
            self.run_validation(self.initial_data)
            raise serializers.ValidationError({"non_field_errors": [CONFLICT]}) from exc

    serializer_field_mapping = serializers.ModelSerializer.serializer_field_mapping | {
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.SlugField: StrictSlugField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.DecimalField: StrictDecimalField,
        models.BooleanField: StrictBooleanField,
    }
