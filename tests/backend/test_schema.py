"""schema.yml is generated, never edited: it must be exactly what the code produces."""

import re
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command

from tests.factories import make_category, make_product

SCHEMA_FILE = Path(settings.BASE_DIR) / "schema.yml"


def generate_schema(tmp_path) -> str:
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return target.read_text()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    """What the code generates now (the committed file may lag until `make schema`)."""
    return yaml.safe_load(generate_schema(tmp_path_factory.mktemp("schema")))


def operations_of(schema: dict) -> list[tuple[str, dict]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_committed_schema_is_what_the_code_generates(tmp_path):
    generated = generate_schema(tmp_path)
    assert generated == SCHEMA_FILE.read_text(), (
        "schema.yml is out of date: run `make schema` and commit the result"
    )


def test_served_schema_is_the_committed_file(api_client):
    response = api_client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.content.decode() == SCHEMA_FILE.read_text()


def test_served_schema_is_available_as_json(api_client):
    response = api_client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert response.json() == yaml.safe_load(SCHEMA_FILE.read_text())


def test_schema_declares_bearer_jwt_security():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_every_operation_documents_its_errors():
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "503" in statuses, f"{method} {path}"
            assert any(s.startswith("2") for s in statuses), f"{method} {path}"
            if "requestBody" in operation:  # a POST without one (logout-all) reads no body
                assert {"400", "413", "415"} <= statuses, f"{method} {path}"


@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_their_assets_from_this_server(api_client, page):
    response = api_client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    loaded = re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="([^"]+)"', html)
    assert any("/static/drf_spectacular_sidecar/" in url for url in loaded)
    assert all(url.startswith("/") for url in loaded), loaded


def test_no_operation_is_described_by_a_base_class_docstring_meant_for_developers():
    operations = [
        (f"{method.upper()} {path}", operation.get("description", ""))
        for path, item in yaml.safe_load(SCHEMA_FILE.read_text())["paths"].items()
        for method, operation in item.items()
    ]
    leaked = [name for name, text in operations if "ModelViewSet" in text or "Subclasses" in text]

    assert leaked == []


def test_every_operation_has_a_summary_and_a_description(generated):
    """ReDoc and Swagger UI head an operation without a summary with its raw operation id."""
    operations = operations_of(generated)
    assert operations
    missing = [name for name, operation in operations if not operation.get("summary")]
    undescribed = [name for name, operation in operations if not operation.get("description")]

    assert missing == []
    assert undescribed == []


def test_summaries_are_plain_text(generated):
    """A summary is a heading and a menu entry, shown as written: markdown belongs in the
    description (ReDoc and Swagger UI would show the backticks)."""
    marked = [
        name
        for name, operation in operations_of(generated)
        if set(operation["summary"]) & set("`*_[]<>")
    ]

    assert marked == []


def test_product_list_category_ids_are_within_the_id_range(generated):
    """From 1 to the largest id the database holds: anything else is a 400."""
    parameters = generated["paths"]["/api/v1/products/"]["get"]["parameters"]
    category = next(parameter for parameter in parameters if parameter["name"] == "category")

    assert category["schema"]["items"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def test_exactly_the_operations_anyone_may_call_need_no_credentials(generated):
    """API.md's "anyone": the catalog's reads and the auth endpoints list no credentials among
    their options (`{}`); everything else needs a token or a session, logging out everywhere
    included (it ends the caller's own sessions)."""
    open_to_anyone = {
        name
        for name, operation in operations_of(generated)
        if {} in operation.get("security", [{}])
    }
    catalog_reads = {
        f"GET /api/v1/{resource}/{suffix}"
        for resource in ("categories", "products")
        for suffix in ("", "{id}/")
    } | {"GET /api/v1/products/facets/", "GET /api/v1/categories/tree/"}
    auth = {name for name, _ in operations_of(generated) if name.startswith("POST /api/v1/auth/")}
    auth.discard("POST /api/v1/auth/logout-all/")

    assert open_to_anyone == catalog_reads | auth


@pytest.mark.parametrize("resource", ["categories", "products", "users"])
def test_a_list_ordering_takes_any_text_since_an_unknown_key_is_ignored(generated, resource):
    parameters = generated["paths"][f"/api/v1/{resource}/"]["get"]["parameters"]
    ordering = next(parameter for parameter in parameters if parameter["name"] == "ordering")

    assert ordering["schema"] == {"type": "string"}


@pytest.mark.parametrize("bound", ["min_price", "max_price"])
def test_product_list_price_bounds_are_written_like_prices(generated, bound):
    parameters = generated["paths"]["/api/v1/products/"]["get"]["parameters"]
    schema = next(parameter for parameter in parameters if parameter["name"] == bound)["schema"]

    assert schema == {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"}


def test_every_query_parameter_may_be_sent_empty(generated):
    """An empty value is no value (an HTML form's empty field), for every list parameter."""
    strict = [
        f"{name} ?{parameter['name']}"
        for name, operation in operations_of(generated)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and not parameter.get("allowEmptyValue")
    ]

    assert strict == []


def test_every_query_parameter_sent_empty_is_answered_as_not_sent(generated, admin_client):
    """What `allowEmptyValue` promises, parameter by parameter (a superuser may use them all);
    a path's `{id}` is one that exists."""
    ids = {"products": make_product().pk, "categories": make_category().pk}
    refused = []
    for path, item in generated["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            if parameter["in"] != "query":
                continue
            url = path.replace("{id}", str(ids.get(path.split("/")[3], 0)))
            response = admin_client.get(f"{url}?{parameter['name']}=")
            if response.status_code != 200:
                refused.append(f"{path}?{parameter['name']}= -> {response.status_code}")

    assert refused == []


@pytest.mark.parametrize("resource", ["products", "users"])
def test_a_search_may_hold_any_character_but_nul(generated, resource, admin_client):
    parameters = generated["paths"][f"/api/v1/{resource}/"]["get"]["parameters"]
    search = next(parameter for parameter in parameters if parameter["name"] == "search")
    refused = admin_client.get(f"/api/v1/{resource}/", {"search": "a\x00b"})

    assert search["schema"] == {"type": "string", "pattern": r"^[^\x00]*$"}
    assert refused.status_code == 400


def test_every_string_a_request_sends_excludes_nul(generated):
    """DRF refuses a NUL in any string: a request body's string fields say so, with a pattern
    of their own or `^[^\\x00]*$` (Schemathesis sends NULs where a schema allows them)."""
    bodies = {
        name: component
        for name, component in generated["components"]["schemas"].items()
        if name.endswith("Request")
    }
    assert bodies
    unbounded = [
        f"{name}.{field}"
        for name, component in bodies.items()
        for field, schema in component.get("properties", {}).items()
        # A file's bytes (`format: binary`, multipart only) may hold anything.
        if schema.get("type") == "string"
        and "pattern" not in schema
        and schema.get("format") != "binary"
    ]

    assert unbounded == []


PYTHON_WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]


@pytest.mark.parametrize(
    ("component", "field", "may_be_blank"),
    [
        ("CategoryRequest", "name", False),
        ("TokenRefreshRequest", "refresh", False),
        ("TokenObtainRequest", "password", True),  # checked as set: spaces and all
        ("PasswordResetRequestRequest", "email", True),  # nobody's address: the usual 202
    ],
)
def test_a_string_of_nothing_but_whitespace_is_refused_where_the_schema_says_so(
    generated, component, field, may_be_blank
):
    """A field that trims and may not be blank refuses whitespace alone, whatever Python counts
    as whitespace (U+001C and U+0085 as well as ECMA's `\\s`): its pattern must say the same,
    character for character, or a schema-valid request is a 400."""
    pattern = generated["components"]["schemas"][component]["properties"][field]["pattern"]

    admitted = [space for space in PYTHON_WHITESPACE if re.search(pattern, space * 2)]

    assert re.search(pattern, " a\u3000")
    assert admitted == (PYTHON_WHITESPACE if may_be_blank else [])


def test_the_idempotent_posts_document_the_key_and_its_answers(generated):
    """API.md, "Idempotency": the header, 409 (with Retry-After) and 422, and the header that
    marks a replayed answer."""
    operations = dict(operations_of(generated))
    taking = {
        name
        for name, operation in operations.items()
        if any(
            parameter["name"] == "Idempotency-Key" for parameter in operation.get("parameters", [])
        )
    }

    assert {
        "POST /api/v1/products/",
        "POST /api/v1/categories/",
        "POST /api/v1/auth/register/",
        "POST /api/v1/products/{product_pk}/images/",
    } <= taking
    for name in taking:
        responses = operations[name]["responses"]
        assert "Retry-After" in responses["409"]["headers"], name
        assert "422" in responses, name
        assert "Idempotent-Replayed" in responses["201"]["headers"], name
        assert "Idempotent-Replayed" not in responses["409"]["headers"], name


def test_the_product_list_documents_cursor_pages(generated):
    """`pagination=cursor` and its `cursor`; one envelope, whose `count` cursor pages leave out."""
    parameters = generated["paths"]["/api/v1/products/"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter for parameter in parameters}
    envelope = generated["components"]["schemas"]["PaginatedProductListItemList"]

    assert by_name["pagination"]["schema"] == {"type": "string", "enum": ["cursor"]}
    assert by_name["cursor"]["schema"]["type"] == "string"
    assert {"page", "page_size"} <= set(by_name)
    assert envelope["required"] == ["results"]
    assert "count" in envelope["properties"]


def test_the_facets_take_the_product_list_filters_but_no_pages_or_ordering(generated):
    list_parameters = generated["paths"]["/api/v1/products/"]["get"]["parameters"]
    facet_parameters = generated["paths"]["/api/v1/products/facets/"]["get"]["parameters"]
    not_filters = {"ordering", "page", "page_size", "pagination", "cursor"}

    assert {parameter["name"] for parameter in facet_parameters} == {
        parameter["name"] for parameter in list_parameters
    } - not_filters
