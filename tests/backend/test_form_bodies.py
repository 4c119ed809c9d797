"""Form and multipart bodies get the answer their JSON equivalent gets (issue 16): the schema
lists all three content types for every write with one schema, so what it refuses in JSON
(an empty `slug` against `minLength: 1`, a body that is not an object) a form may not pass.

- A form field sent empty is the empty string, as `""` is in JSON, not a field left out;
  only a nullable field reads it as null, which a form cannot otherwise say.
- A multipart body that is not a form (a part with no `form-data` name, no closing boundary:
  what a JSON `[]` sent as multipart looks like) is a 400 `{detail}`, as malformed JSON is. An
  empty form, like an empty JSON object, is a partial update of nothing.
- A urlencoded form whose text is not UTF-8 is a 400 `{detail}`, as such JSON is."""

import json
import re
from urllib.parse import urlencode

import pytest
import yaml
from django.conf import settings
from rest_framework.test import APIClient

from products.models import Category, Product
from tests.factories import (
    enable_totp,
    grant,
    make_category,
    make_image,
    make_product,
    make_staff,
    make_user,
)

BOUNDARY = "1b4c0ffee"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"
BLANK = "This field may not be blank."


def multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return "".join([*parts, f"--{BOUNDARY}--\r\n"]).encode()


# What Schemathesis sends for a body it generated as `[]` under multipart/form-data: the value's
# text between a boundary line and the closing one, with no part headers.
LIST_AS_MULTIPART = f"--{BOUNDARY}\r\n[]--{BOUNDARY}--\r\n".encode()


def send(client: APIClient, method: str, url: str, fields: dict, content_type: str):
    """`fields` as JSON, a urlencoded form or a multipart form."""
    if content_type == "json":
        return client.generic(method, url, json.dumps(fields), content_type="application/json")
    body = urlencode(fields) if content_type == URLENCODED else multipart(fields)
    return client.generic(method, url, body, content_type=content_type)


CONTENT_TYPES = ["json", URLENCODED, MULTIPART]


@pytest.fixture
def manager():
    """Staff who may change accounts."""
    return grant(make_staff(username="mona", email="mona@example.com"), "users.change_user")


@pytest.fixture
def manager_client(manager):
    client = APIClient()
    client.force_authenticate(manager)
    return client


# --- an empty value is "", in every content type ---------------------------------------------


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_an_empty_slug_is_refused_on_create(editor_client, content_type):
    response = send(
        editor_client, "POST", "/api/v1/categories/", {"name": "Shoes", "slug": ""}, content_type
    )

    assert response.status_code == 400
    assert response.json() == {"slug": [BLANK]}
    assert not Category.objects.exists()


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_an_empty_slug_is_refused_on_change(editor_client, method, content_type):
    category = make_category(name="Shoes", slug="shoes")

    response = send(
        editor_client,
        method,
        f"/api/v1/categories/{category.pk}/",
        {"name": "Boots", "slug": ""},
        content_type,
    )

    assert response.status_code == 400
    assert response.json() == {"slug": [BLANK]}
    category.refresh_from_db()
    assert (category.name, category.slug) == ("Shoes", "shoes")


@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_a_form_without_a_slug_still_gets_one_made_from_the_name(editor_client, content_type):
    response = send(editor_client, "POST", "/api/v1/categories/", {"name": "Shoes"}, content_type)

    assert response.status_code == 201
    assert response.json()["slug"] == "shoes"


@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_an_empty_description_is_an_empty_description(editor_client, content_type):
    category = make_category(description="Old")

    response = send(
        editor_client,
        "PATCH",
        f"/api/v1/categories/{category.pk}/",
        {"description": ""},
        content_type,
    )

    assert response.status_code == 200
    category.refresh_from_db()
    assert category.description == ""


PRODUCT_FORM = {"name": "Lamp", "sku": "LAMP-1", "price": "12.50"}


@pytest.mark.parametrize("field", ["stock", "is_active"])
@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_an_empty_number_or_boolean_is_refused_on_create(editor_client, field, content_type):
    response = send(
        editor_client, "POST", "/api/v1/products/", PRODUCT_FORM | {field: ""}, content_type
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Product.objects.exists()


# --- a value that is not text reads as JSON reads it ------------------------------------------


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("is_active", "0"),
        ("is_active", "on"),
        ("is_active", "True"),
        ("stock", "+5"),
        ("stock", "5.0"),
        ("stock", "true"),
        ("category", '"1"'),
    ],
)
@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_a_form_value_json_would_refuse_is_refused(editor_client, field, text, content_type):
    """The schema describes one body for every content type: a form's `is_active=0` is JSON's
    `0`, no boolean (DRF alone would read it as false)."""
    make_category(pk=1)
    response = send(
        editor_client, "POST", "/api/v1/products/", PRODUCT_FORM | {field: text}, content_type
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Product.objects.exists()


@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_a_form_value_reads_as_the_json_it_spells(editor_client, content_type):
    fields = {"is_active": "false", "stock": "5", "category": "null"}
    response = send(editor_client, "POST", "/api/v1/products/", PRODUCT_FORM | fields, content_type)

    assert response.status_code == 201
    product = Product.objects.get()
    assert (product.is_active, product.stock, product.category) == (False, 5, None)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("field", ["stock", "is_active"])
@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_an_empty_number_or_boolean_is_refused_on_change(
    editor_client, method, field, content_type
):
    product = make_product(stock=7, is_active=False)

    response = send(
        editor_client,
        method,
        f"/api/v1/products/{product.pk}/",
        PRODUCT_FORM | {field: ""},
        content_type,
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    product.refresh_from_db()
    assert (product.stock, product.is_active, product.sku) == (7, False, product.sku)


@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_an_empty_category_is_no_category(editor_client, content_type):
    """Null, which a form can only say as an empty value (the browsable API's "---------")."""
    product = make_product(category=make_category())

    response = send(
        editor_client, "PATCH", f"/api/v1/products/{product.pk}/", {"category": ""}, content_type
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert product.category is None


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_an_empty_current_password_is_refused_on_ones_own_account(
    customer, customer_client, method, content_type
):
    response = send(
        customer_client,
        method,
        "/api/v1/users/me/",
        {
            "username": customer.username,
            "email": customer.email,
            "first_name": "Carol",
            "current_password": "",
        },
        content_type,
    )

    assert response.status_code == 400
    assert response.json() == {"current_password": [BLANK]}
    customer.refresh_from_db()
    assert customer.first_name == ""


@pytest.mark.parametrize("field", ["current_password", "is_active"])
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_an_empty_optional_field_is_refused_when_staff_change_an_account(
    manager_client, field, content_type
):
    user = make_user(first_name="Old")

    response = send(
        manager_client,
        "PATCH",
        f"/api/v1/users/{user.pk}/",
        {"first_name": "New", field: ""},
        content_type,
    )

    assert response.status_code == 400
    assert list(response.json()) == [field]
    user.refresh_from_db()
    assert (user.first_name, user.is_active) == ("Old", True)


# --- a body that is not a form ---------------------------------------------------------------


def write_operations():
    """Every write the schema lists, with an actor allowed to make it (so the body is read)."""
    return [
        ("POST", "/api/v1/auth/logout/", "customer"),
        ("POST", "/api/v1/auth/password-reset/", "anonymous"),
        ("POST", "/api/v1/auth/password-reset/confirm/", "anonymous"),
        ("POST", "/api/v1/auth/register/", "anonymous"),
        ("POST", "/api/v1/auth/token/", "anonymous"),
        ("POST", "/api/v1/auth/token/mfa/", "anonymous"),
        ("POST", "/api/v1/auth/token/refresh/", "anonymous"),
        ("POST", "/api/v1/auth/token/verify/", "anonymous"),
        ("POST", "/api/v1/auth/verify-email/", "anonymous"),
        ("POST", "/api/v1/auth/verify-email/resend/", "anonymous"),
        ("POST", "/api/v1/categories/", "editor"),
        ("PUT", "/api/v1/categories/{category}/", "editor"),
        ("PATCH", "/api/v1/categories/{category}/", "editor"),
        ("POST", "/api/v1/products/", "editor"),
        ("PUT", "/api/v1/products/{product}/", "editor"),
        ("PATCH", "/api/v1/products/{product}/", "editor"),
        ("PATCH", "/api/v1/products/{product_pk}/images/{image}/", "editor"),
        ("PATCH", "/api/v1/users/{user}/", "manager"),
        ("PUT", "/api/v1/users/me/", "customer"),
        ("PATCH", "/api/v1/users/me/", "customer"),
        ("POST", "/api/v1/users/me/password/", "customer"),
        ("POST", "/api/v1/users/me/mfa/totp/confirm/", "customer"),
        ("DELETE", "/api/v1/users/me/mfa/totp/", "two_factor"),
        ("DELETE", "/api/v1/users/me/", "customer"),
    ]


@pytest.fixture
def operation_client(customer, manager, editor):
    """A client for an operation's actor, and its URL with fresh rows' ids filled in."""
    two_factor = make_user()
    enable_totp(two_factor)
    actors = {"customer": customer, "manager": manager, "editor": editor, "anonymous": None}
    actors["two_factor"] = two_factor

    def make(method: str, url: str, actor: str):
        client = APIClient()
        if actors[actor] is not None:
            client.force_authenticate(actors[actor])
        product = make_product()
        ids = {"category": make_category().pk, "product": product.pk, "user": make_user().pk}
        if "{image}" in url:
            ids |= {"product_pk": product.pk, "image": make_image(product).pk}
        return client, url.format(**ids)

    return make


def schema_ids(operation) -> str:
    method, url, _ = operation
    return f"{method} {url}"


def test_every_write_the_schema_lists_is_covered():
    """Every write that takes JSON: one that takes a file only (an image upload) has no JSON
    equivalent to answer alike (tests/products/test_images.py covers its forms)."""
    schema = yaml.safe_load((settings.BASE_DIR / "schema.yml").read_text())
    writes = {
        (method.upper(), path.replace("{id}", "{x}"))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    covered = {
        (method, re.sub(r"\{(category|product|user|image)\}", "{x}", url))
        for method, url, _ in write_operations()
    }
    assert covered == writes


@pytest.mark.parametrize("operation", write_operations(), ids=schema_ids)
def test_a_list_sent_as_multipart_is_refused_as_it_is_in_json(operation_client, operation):
    method, url, actor = operation
    client, url = operation_client(method, url, actor)

    as_json = client.generic(method, url, b"[]", content_type="application/json")
    as_multipart = client.generic(method, url, LIST_AS_MULTIPART, content_type=MULTIPART)

    assert as_json.status_code == 400
    assert as_multipart.status_code == 400
    assert as_multipart.json() == {
        "detail": "Malformed multipart form: no closing boundary.",
        "code": "parse_error",
    }


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "no closing boundary"),
        (b"garbage", "no closing boundary"),
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nBo'.encode(),
            "no closing boundary",
        ),
        (f"--{BOUNDARY}\r\n\r\nBo\r\n--{BOUNDARY}--\r\n".encode(), "a part is not form-data"),
        (
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nBo\r\n--{BOUNDARY}--\r\n".encode(),
            "a part is not form-data",
        ),
        (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nB\r\n--{BOUNDARY}--".encode(),
            "a part has no name",
        ),
        (
            f"--{BOUNDARY}\r\nX-Junk: {'a' * 20_000}\r\n\r\nB\r\n--{BOUNDARY}--".encode(),
            "Request max total header size exceeded",
        ),
    ],
)
def test_a_multipart_body_that_is_not_a_form_is_refused(customer, customer_client, body, problem):
    response = customer_client.generic("PATCH", "/api/v1/users/me/", body, content_type=MULTIPART)

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Malformed multipart form: {problem}.",
        "code": "parse_error",
    }
    customer.refresh_from_db()
    assert customer.first_name == ""


def test_a_multipart_part_with_an_empty_name_is_an_unknown_field_as_in_json(
    customer, customer_client
):
    """`name=""` is a name, if an odd one: ignored like `{"": ...}` in JSON (the schema allows
    other properties), where a part with no name at all is no form field."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name=""\r\n\r\nx\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nBo\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()

    response = customer_client.generic("PATCH", "/api/v1/users/me/", body, content_type=MULTIPART)
    as_json = customer_client.patch(
        "/api/v1/users/me/", {"": "x", "first_name": "Bo"}, format="json"
    )

    assert response.status_code == as_json.status_code == 200
    customer.refresh_from_db()
    assert customer.first_name == "Bo"


@pytest.mark.parametrize("operation", write_operations(), ids=schema_ids)
@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_an_empty_form_is_answered_as_an_empty_json_object(
    operation_client, operation, content_type
):
    method, url, actor = operation
    client, url = operation_client(method, url, actor)

    as_json = client.generic(method, url, b"{}", content_type="application/json")
    as_form = send(client, method, url, {}, content_type)

    assert as_form.status_code == as_json.status_code
    assert without_timestamp(as_form.json()) == without_timestamp(as_json.json())


def without_timestamp(body: dict) -> dict:
    """The second write of nothing still touches `updated_at`."""
    return {name: value for name, value in body.items() if name != "updated_at"}


def test_a_multipart_form_with_a_preamble_and_an_epilogue_is_read(customer, customer_client):
    body = b"ignored\r\n" + multipart({"first_name": "Bo"}) + b"ignored too"

    response = customer_client.generic("PATCH", "/api/v1/users/me/", body, content_type=MULTIPART)

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.first_name == "Bo"


@pytest.mark.parametrize(
    "body", [b"first_name=B%FFo", b"first_name=%ED%A0%80", b"first_name=B\xffo"]
)
def test_a_urlencoded_form_that_is_not_utf8_is_refused(customer, customer_client, body):
    response = customer_client.generic("PATCH", "/api/v1/users/me/", body, content_type=URLENCODED)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Malformed form: its text is not UTF-8.",
        "code": "parse_error",
    }
    customer.refresh_from_db()
    assert customer.first_name == ""
