"""OpenAPI generation: every operation lists the errors it can answer with (API.md).

drf-spectacular documents success bodies from the serializers; this adds the error side from
what the view is configured with (authentication, permissions, throttles, filters, body) so the
schema stays true as views change. A view adds its own with `error_responses`, a map from
action (or lower-case method) to `{status: description}`.

Views describe themselves with plain attributes instead of `@extend_schema`: `openapi`, a map
from action (or lower-case method) to any of `summary`, `description`, `request`, `responses`,
`parameters`, `filter_backends` and `exclude`, read here. The decorator would import this
module, and with it the whole schema generator (some 5 MB, Django's test tooling included),
into every process that serves the API; this way it loads only when a schema is generated
(viewsets also need `backend.lazyschema.LazyAutoSchema`).
"""

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

from backend.filters import NO_NUL

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "A request-level error.",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "code": {
            "type": "string",
            "description": (
                "What went wrong, for programs: DRF's codes (`not_authenticated`, "
                "`authentication_failed`, `permission_denied`, `not_found`, "
                "`method_not_allowed`, `not_acceptable`, `unsupported_media_type`, "
                "`throttled`, `parse_error`, …) and `token_expired` (refresh the token), "
                "`token_not_valid`, `session_ended` (log in again), `email_not_verified` (open the "
                "emailed link first), `mfa_required` (finish the log-in with its `challenge`), "
                "`precondition_failed`, `conflict`, `idempotency_in_progress` (retry after "
                "Retry-After), `idempotency_key_reused` (a new request needs a new key), "
                "`payload_too_large`, `service_unavailable`, `server_error`."
            ),
        },
    },
    "required": ["detail", "code"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Validation errors: each invalid field (or `non_field_errors` for cross-field rules, or "
        "a query parameter) with its messages."
    ),
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

PAGINATION_PARAMETER = {
    "name": "pagination",
    "in": "query",
    "required": False,
    "description": (
        "`cursor` for cursor pages: `{next, previous, results}`, no `count`; each page starts "
        "from the position its cursor holds (as quick deep in the list as at its start), so a "
        "walk sees once every row that stays in place while others are added, changed or "
        "removed. Left out: numbered pages."
    ),
    "schema": {"type": "string", "enum": ["cursor"]},
}

IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="An ETag from an earlier answer: 304 with no body if it is still current.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="The ETag the change is based on: 412, and nothing written, if it is stale.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # 1-255 printable ASCII characters; spaces around them are no part of the key (HTTP drops
    # them), so they are allowed around it.
    {"type": "string", "pattern": r"^[ \t]*[!-~]([ -~]{0,253}[!-~])?[ \t]*$"},
    OpenApiParameter.HEADER,
    description=(
        "A key of your choosing (1-255 printable ASCII characters; a UUID will do) that makes "
        "retrying safe: the same key with the same body within 24 hours gets the first answer "
        "again (with `Idempotent-Replayed: true`) and writes nothing more. Keys are yours alone "
        "(per user; per client address before log-in)."
    ),
)
REPLAYED_HEADER = {
    "schema": {"type": "string", "enum": ["true"]},
    "description": (
        "Present on an answer replayed for a repeated Idempotency-Key: the first request's "
        "status, body and Location, stored when it was answered."
    ),
}
# What a replay can answer besides a success: what the handler itself answered (the checks before
# it, authentication, permissions, throttles, parsing, run again on every retry).
REPLAYABLE = {"400", "404"}
ETAG_HEADER = {
    "schema": {"type": "string"},
    "description": "Strong validator of this representation; send it back in If-None-Match.",
}

RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "schema": {"type": "string"},
        "description": (
            "Every rate limit that counted this request (IETF httpapi ratelimit-headers draft, "
            'a structured-field list): `"name";q=LIMIT;w=WINDOW_SECONDS`, comma-separated. '
            "Names: `anon`, `user` (per address or per user), `auth` (sign-up, reset mail), "
            "`password` (every password check, per address). Absent on an answer refused "
            "before the limits are counted (a bad token, a permission)."
        ),
        "example": '"password";q=10;w=60',
    },
    "RateLimit": {
        "schema": {"type": "string"},
        "description": (
            'Where the caller stands with the policy nearest its limit: `"name";r=REMAINING;'
            "t=SECONDS`, the requests left and the seconds until the window moves on (a "
            "sliding window: until its oldest request leaves it). r=0 on a 429, t then as "
            "Retry-After."
        ),
        "example": '"password";r=9;t=60',
    },
}

DESCRIPTIONS = {
    304: "Not modified: the ETag in If-None-Match is current (no body).",
    412: "Precondition failed: If-Match does not match the current ETag; nothing was written.",
    400: "Invalid input: the body names each field in error.",
    401: "Not authenticated, or the credentials or token are invalid or expired.",
    403: "Authenticated, but not allowed to do this.",
    404: "Not found (or not visible to the caller).",
    413: "Request body too large.",
    415: "Unsupported content type: send application/json.",
    429: "Too many requests: retry after the number of seconds in Retry-After.",
    "in_progress": (
        "`idempotency_in_progress`: a request with this Idempotency-Key is still being "
        "processed; retry after the seconds in Retry-After (then its answer is replayed)."
    ),
    422: (
        "`idempotency_key_reused`: this Idempotency-Key was used with another body (or another "
        "endpoint) within 24 hours; nothing was written."
    ),
    503: "The database or the cache is unavailable: retry shortly.",
}


class SessionJWTScheme(SimpleJWTScheme):
    """The bearer scheme for the project's subclass of simplejwt's authentication (the
    contrib extension matches simplejwt's class only)."""

    target_class = "users.authentication.JWTAuthentication"


class PlainDecimalField(OpenApiSerializerFieldExtension):
    """Money fields accept exactly what their `pattern` says (backend/fields.py); drf-spectacular
    would describe Python's laxer decimal (a sign, no leading digit)."""

    target_class = "backend.fields.StrictDecimalField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return schema | {"pattern": self.target.pattern}


class NullableRelatedField(OpenApiSerializerFieldExtension):
    """A nullable relation (a product's `category`, a category's `parent`) takes an empty string
    for null, in every content type, as DRF's relations do: it is what an HTML form's empty
    choice sends. The schema says so, so that a client (and Schemathesis) knows it."""

    target_class = "backend.fields.StrictPrimaryKeyRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "request" or not self.target.allow_null:
            return schema
        an_id = {
            key: value for key, value in schema.items() if key not in ("description", "nullable")
        }
        return {"oneOf": [an_id, {"type": "string", "enum": [""]}]}


class PageOrCursorPagination:
    """What a list that also pages by cursor (a view's `cursor_pagination_class`) takes and
    answers: the numbered pages' parameters, `pagination` and the cursor's; one envelope whose
    `count` is left out of cursor pages (one type for clients, whichever they ask for). The
    cursor is any string to the schema: it is read only with `pagination=cursor`, and whether
    it is good depends on what the server signed."""

    def __init__(self, pages, cursors):
        self.pages = pages
        self.cursors = cursors

    def get_schema_operation_parameters(self, view):
        page_parameters = self.pages.get_schema_operation_parameters(view)
        names = {parameter["name"] for parameter in page_parameters}
        cursor_parameters = [
            parameter
            for parameter in self.cursors.get_schema_operation_parameters(view)
            if parameter["name"] not in names
        ]
        return [*page_parameters, PAGINATION_PARAMETER, *cursor_parameters]

    def get_paginated_response_schema(self, schema):
        envelope = self.pages.get_paginated_response_schema(schema)
        envelope["required"] = [name for name in envelope["required"] if name != "count"]
        envelope["properties"]["count"] |= {
            "description": "How many rows match, over every page (numbered pages only)."
        }
        return envelope


class AutoSchema(openapi.AutoSchema):
    def _documented(self) -> dict:
        key = getattr(self.view, "action", None) or self.method.lower()
        return getattr(self.view, "openapi", {}).get(key, {})

    def is_excluded(self) -> bool:
        return self._documented().get("exclude", False) or super().is_excluded()

    def _get_paginator(self):
        """A list that offers cursor pages documents both kinds; its other paginated actions
        (a product's history) page by number only, as the view does."""
        paginator = super()._get_paginator()
        cursor_pagination_class = getattr(self.view, "cursor_pagination_class", None)
        if paginator is None or cursor_pagination_class is None or self.view.action != "list":
            return paginator
        return PageOrCursorPagination(paginator, cursor_pagination_class())

    def get_filter_backends(self):
        """A list's filter backends; another action's when it documents some (`filter_backends`:
        the facet counts take the product list's filters)."""
        return self._documented().get("filter_backends") or super().get_filter_backends()

    def get_summary(self):
        return self._documented().get("summary") or super().get_summary()

    def get_description(self):
        """The `openapi` description, else the action's or the view's own docstring. A docstring
        inherited from a base class (CatalogViewSet's, say) is written for developers of this
        code, not for API clients, so it never becomes an operation's description."""
        documented = self._documented().get("description")
        if documented:
            return documented
        if type(self.view).__dict__.get("__doc__") is None:
            return ""
        return super().get_description()

    def get_auth(self):
        """An operation anyone may call lists no credentials among its options (`{}`), as API.md's
        "anyone" says: clients, and checks such as Schemathesis's ignored_auth, then know an
        anonymous answer is no leak. drf-spectacular knows only AllowAny and
        IsAuthenticatedOrReadOnly; the catalog's reads are open through a permission of its own,
        so the view's permissions are asked about an anonymous caller instead."""
        auths = super().get_auth()
        if {} not in auths and self._open_to_anonymous():
            auths.append({})
        return auths

    def _open_to_anonymous(self) -> bool:
        anonymous = HttpRequest()
        anonymous.method = self.method
        request = Request(anonymous)
        request.user = AnonymousUser()
        return all(
            permission.has_permission(request, self.view)
            for permission in self.view.get_permissions()
        )

    def get_request_serializer(self):
        documented = self._documented()
        return (
            documented["request"] if "request" in documented else super().get_request_serializer()
        )

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """A decimal that may not be negative says so in its pattern too (drf-spectacular's
        pattern always allows a leading minus)."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        not_negative = getattr(field, "min_value", None) is not None and field.min_value >= 0
        if isinstance(field, serializers.DecimalField) and not_negative and "pattern" in schema:
            schema["pattern"] = schema["pattern"].replace("^-?", "^", 1)
        return schema

    def get_response_serializers(self):
        documented = self._documented()
        if "responses" in documented:
            return documented["responses"]
        return super().get_response_serializers()

    def _map_basic_serializer(self, serializer, direction):
        """Every field of a response body is always present (null where it has no value), so
        every one is required: generated clients then type them as always there. A request's
        strings say which they refuse: a NUL, and whitespace alone where they trim."""
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request":
            _say_which_strings_are_refused(serializer, schema.get("properties", {}))
        if direction == "response" and schema.get("properties"):
            schema["required"] = sorted(schema["properties"])
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status, description in sorted(self._error_statuses().items()):
            responses.setdefault(str(status), self._error_response(status, description))
        if getattr(self.view, "throttle_classes", None):
            headers = self._rate_limit_headers()
            for response in responses.values():
                response["headers"] = response.get("headers", {}) | headers
        if self._is_idempotent():
            # Inline, not a component: generated clients then type it as optional, as it is.
            headers = {"Idempotent-Replayed": REPLAYED_HEADER}
            for code in [c for c in responses if c.startswith("2") or c in REPLAYABLE]:
                responses[code]["headers"] = responses[code].get("headers", {}) | headers
        return responses

    def _rate_limit_headers(self) -> dict:
        """What every answer of a throttled operation carries, as components (one description,
        referenced from each response)."""
        references = {}
        for name, header in RATE_LIMIT_HEADERS.items():
            component = ResolvedComponent(
                name=name, type=ResolvedComponent.HEADER, object=name, schema=header
            )
            self.registry.register_on_missing(component)
            references[name] = component.ref
        return references

    def _get_parameters(self):
        """A query parameter sent empty (`?category=`, as an HTML form sends its empty fields) is
        taken as not sent, by the filters, the search, the ordering and the pagination alike:
        `allowEmptyValue` says so, whatever the parameter's type."""
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query":
                parameter["allowEmptyValue"] = True
        return parameters

    def get_override_parameters(self):
        """Documented parameters, and the conditional-request headers on views that honour them
        (`conditional_requests`)."""
        parameters = [*super().get_override_parameters(), *self._documented().get("parameters", [])]
        if self._is_idempotent():
            parameters.append(IDEMPOTENCY_KEY)
        if not getattr(self.view, "conditional_requests", False):
            return parameters
        if self.method == "GET":
            return [*parameters, IF_NONE_MATCH]
        if self.method in {"PUT", "PATCH", "DELETE"}:
            return [*parameters, IF_MATCH]
        return parameters

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        conditional = getattr(self.view, "conditional_requests", False)
        if conditional and self.method == "GET" and str(status_code) in {"200", "304"}:
            headers = {**headers, "ETag": ETAG_HEADER}
        return headers

    def _error_statuses(self) -> dict[int, str]:
        statuses = {}
        if self._accepts_body() or self._validates_query():
            statuses[400] = DESCRIPTIONS[400]
        if self._accepts_body():
            statuses |= {413: DESCRIPTIONS[413], 415: DESCRIPTIONS[415]}
        if self.view.get_authenticators():
            statuses[401] = DESCRIPTIONS[401]
        if self._is_restricted():
            statuses[403] = DESCRIPTIONS[403]
        if self._has_path_parameters() or self._is_paginated_list():
            statuses[404] = DESCRIPTIONS[404]
        if getattr(self.view, "throttle_classes", None):
            statuses[429] = DESCRIPTIONS[429]
        statuses[503] = DESCRIPTIONS[503]
        if getattr(self.view, "conditional_requests", False):
            statuses |= self._conditional_statuses()
        if self._is_idempotent():
            statuses |= {409: DESCRIPTIONS["in_progress"], 422: DESCRIPTIONS[422]}
        return statuses | self._declared_errors()

    def _is_idempotent(self) -> bool:
        """The handler of this method or action honours Idempotency-Key (`@idempotent`)."""
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(getattr(self.view, name, None), "idempotent", False)

    def _conditional_statuses(self) -> dict[int, str]:
        if self.method == "GET":
            return {304: DESCRIPTIONS[304]}
        if self.method in {"PUT", "PATCH", "DELETE"}:
            return {412: DESCRIPTIONS[412]}
        return {}

    def _declared_errors(self) -> dict[int, str]:
        declared = getattr(self.view, "error_responses", {})
        key = getattr(self.view, "action", None) or self.method.lower()
        return declared.get(key, {})

    def _accepts_body(self) -> bool:
        if self.method == "DELETE":
            return self._documented().get("request") is not None
        return self.method in {"POST", "PUT", "PATCH"} and self.get_request_serializer() is not None

    def _get_request_body(self, direction="request"):
        """spectacular describes bodies of POST, PUT and PATCH only; a DELETE that documents one
        (closing an account takes the password) gets it described the same way."""
        if not (self.method == "DELETE" and self._accepts_body()):
            return super()._get_request_body(direction)
        component = self.resolve_serializer(self.get_request_serializer(), direction)
        content = {media_type: {"schema": component.ref} for media_type in self.map_parsers()}
        return {"content": content, "required": True}

    def _validates_query(self) -> bool:
        """A filtered or paginated list refuses a malformed parameter (`page_size` included)."""
        has_filters = getattr(self.view, "filterset_class", None) is not None
        filtered = self.method == "GET" and bool(self.get_filter_backends())
        return (filtered and has_filters) or self._is_paginated_list()

    def _is_restricted(self) -> bool:
        permissions = self.view.get_permissions()
        open_to_all = all(isinstance(permission, AllowAny) for permission in permissions)
        session_csrf = self.method in UNSAFE_METHODS and bool(self.view.get_authenticators())
        return not open_to_all or session_csrf

    def _has_path_parameters(self) -> bool:
        return "{" in self.path

    def _is_paginated_list(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

    def _error_response(self, status: int, description: str) -> dict:
        if status == 304:
            return {"description": description, "headers": {"ETag": ETAG_HEADER}}
        error = self._component("Error", ERROR_SCHEMA)
        fields = self._component("ValidationError", VALIDATION_ERROR_SCHEMA)
        schema = error if status != 400 else fields
        if status == 400 and self._accepts_body():  # an unparsable body is request-level
            schema = {"oneOf": [fields, error]}
            description = f"{description} A body that cannot be parsed gets `{{detail}}`."
        content = {"application/json": {"schema": schema}}
        response = {"description": description, "content": content}
        if status == 429 or (status == 409 and self._is_idempotent()):
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        return response

    def _component(self, name: str, schema: dict) -> dict:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema
        )
        self.registry.register_on_missing(component)
        return component.ref


# What Python's str.strip() drops (every character str.isspace() admits), spelled out: a
# pattern's `\s` means ECMA-262's whitespace, which lacks U+001C-U+001F and U+0085 and has U+FEFF.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


def _say_which_strings_are_refused(serializer, properties: dict) -> None:
    """DRF refuses a NUL in every string a request sends, and as blank one that is nothing but
    whitespace where the field trims it and may not be blank; a string field with no pattern of
    its own (one excludes both already) says so with one."""
    for name, field in serializer.fields.items():
        schema = properties.get(name)
        is_text = isinstance(schema, dict) and schema.get("type") == "string"
        if isinstance(field, serializers.CharField) and is_text and "pattern" not in schema:
            may_be_blank = field.allow_blank or not field.trim_whitespace
            schema["pattern"] = NO_NUL if may_be_blank else NOT_BLANK
