"""POST with `Idempotency-Key` (API.md, "Idempotency"): the same key and body get the first
answer again and write nothing more; another body is 422; a key still being processed is 409."""

import io
import json
import re
import time
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from backend.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from backend.idempotency.decorators import BAD_KEY, fingerprint
from backend.idempotency.models import LEASE, RETENTION, IdempotencyRecord
from backend.schema import IDEMPOTENCY_KEY
from products.models import Category, Product
from products.serializers import ProductSerializer
from tests.conftest import CATALOG_PERMISSIONS, FakeTime
from tests.factories import DEFAULT_PASSWORD, grant, make_staff
from users.models import User

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
REGISTER_URL = "/api/v1/auth/register/"
KEY = "2f1c9a2e-6a43-4b8e-9a55-0d0c7c1e6b11"


def product(**overrides) -> dict:
    return {"name": "Oak Lantern", "sku": "LNT-001", "price": "12.50", "stock": 4} | overrides


def category(**overrides) -> dict:
    return {"name": "Lanterns", "slug": "lanterns"} | overrides


def registration(**overrides) -> dict:
    return {"username": "ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD} | overrides


def post(client, url, body, key=KEY, **extra):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def assert_replayed(first, again):
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again.get("Location") == first.get("Location")
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first


def assert_error(response, status, code, detail):
    assert response.status_code == status, response.content
    assert response.json() == {"detail": detail, "code": code}


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime(time.time())
    monkeypatch.setattr("backend.idempotency.decorators.time", fake)
    return fake


@pytest.mark.parametrize(
    ("url", "body", "model"),
    [(PRODUCTS_URL, product(), Product), (CATEGORIES_URL, category(), Category)],
    ids=["product", "category"],
)
def test_a_repeated_catalog_post_gets_the_first_answer_again_and_writes_once(
    editor_client, url, body, model
):
    first = post(editor_client, url, body)
    again = post(editor_client, url, body)

    assert first.status_code == 201
    assert_replayed(first, again)
    assert model.objects.count() == 1


def test_a_repeated_registration_gets_the_first_answer_without_secrets_and_one_account():
    client = APIClient()

    first = post(client, REGISTER_URL, registration())
    again = post(client, REGISTER_URL, registration())

    assert first.status_code == 201
    assert_replayed(first, again)
    assert User.objects.filter(username="ada").count() == 1
    assert "password" not in again.json()
    assert not {"access", "refresh"} & set(again.json())


def test_the_same_body_in_another_key_order_is_the_same_request(editor_client):
    first = post(editor_client, PRODUCTS_URL, product())
    reordered = dict(reversed(product().items()))

    assert_replayed(first, post(editor_client, PRODUCTS_URL, reordered))


def test_a_post_without_the_header_is_not_deduplicated(editor_client):
    editor_client.post(CATEGORIES_URL, category(), format="json")
    response = editor_client.post(CATEGORIES_URL, category(), format="json")

    assert response.status_code == 400
    assert "Idempotent-Replayed" not in response
    assert not IdempotencyRecord.objects.exists()


def test_the_same_key_with_another_body_is_422_and_writes_nothing(editor_client):
    post(editor_client, PRODUCTS_URL, product())

    response = post(editor_client, PRODUCTS_URL, product(sku="LNT-002"))

    assert_error(response, 422, "idempotency_key_reused", IdempotencyKeyReused.default_detail)
    assert list(Product.objects.values_list("sku", flat=True)) == ["LNT-001"]


def test_the_same_key_on_another_endpoint_is_422(editor_client):
    post(editor_client, PRODUCTS_URL, product())

    response = post(editor_client, CATEGORIES_URL, category())

    assert_error(response, 422, "idempotency_key_reused", IdempotencyKeyReused.default_detail)
    assert not Category.objects.exists()


def _in_flight(clock):
    """The state of a key whose first request is still being processed: reserved, no answer,
    no work committed (the work commits with the answer)."""
    now = datetime.fromtimestamp(clock.now, tz=UTC)
    IdempotencyRecord.objects.update(status=None, body=b"", locked_until=now + LEASE)
    Product.objects.all().delete()


def test_a_key_still_being_processed_is_409_with_retry_after(editor_client, clock):
    post(editor_client, PRODUCTS_URL, product())
    _in_flight(clock)

    response = post(editor_client, PRODUCTS_URL, product())

    assert_error(response, 409, "idempotency_in_progress", IdempotencyInProgress.default_detail)
    assert response["Retry-After"] == "1"
    assert not Product.objects.exists()


def test_a_reservation_abandoned_past_its_lease_is_taken_over_once(editor_client, clock):
    post(editor_client, PRODUCTS_URL, product())
    _in_flight(clock)
    clock.now += LEASE.total_seconds() + 1

    taken = post(editor_client, PRODUCTS_URL, product())
    again = post(editor_client, PRODUCTS_URL, product())

    assert taken.status_code == 201
    assert_replayed(taken, again)
    assert Product.objects.count() == 1


def test_a_key_answers_the_same_for_24_hours_then_is_free_again(editor_client, clock):
    first = post(editor_client, PRODUCTS_URL, product())
    clock.now += RETENTION.total_seconds() - 1
    assert_replayed(first, post(editor_client, PRODUCTS_URL, product()))

    clock.now += 2
    response = post(editor_client, PRODUCTS_URL, product(sku="LNT-002"))

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Product.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_keys_are_each_callers_own(editor_client):
    other = APIClient()
    other.force_authenticate(grant(make_staff(), *CATALOG_PERMISSIONS))
    post(editor_client, PRODUCTS_URL, product())

    response = post(other, PRODUCTS_URL, product(sku="LNT-002"))

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Product.objects.count() == 2


def test_before_log_in_keys_belong_to_the_client_address():
    client = APIClient()
    post(client, REGISTER_URL, registration(), REMOTE_ADDR="192.0.2.1")

    elsewhere = post(
        client,
        REGISTER_URL,
        registration(username="bob", email="bob@example.com"),
        REMOTE_ADDR="192.0.2.2",
    )

    assert elsewhere.status_code == 201
    assert User.objects.count() == 2


def test_a_refused_request_is_refused_again_the_same_way(editor_client):
    first = post(editor_client, PRODUCTS_URL, product(price="-1"))

    assert first.status_code == 400
    assert_replayed(first, post(editor_client, PRODUCTS_URL, product(price="-1")))
    assert not Product.objects.exists()


def test_a_server_error_undoes_its_work_and_releases_the_key(editor_client, monkeypatch):
    write = ProductSerializer.create

    def write_then_fail(serializer, validated_data):
        write(serializer, validated_data)
        raise RuntimeError("after the write")

    with monkeypatch.context() as patch:
        patch.setattr(ProductSerializer, "create", write_then_fail)
        failed = post(editor_client, PRODUCTS_URL, product())
    assert failed.status_code == 500
    assert not Product.objects.exists()

    retried = post(editor_client, PRODUCTS_URL, product(sku="LNT-002"))

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert list(Product.objects.values_list("sku", flat=True)) == ["LNT-002"]


def test_a_request_that_outlived_its_lease_is_undone_when_another_took_the_key(
    editor_client, monkeypatch
):
    write = ProductSerializer.create

    def write_while_taken_over(serializer, validated_data):
        created = write(serializer, validated_data)
        IdempotencyRecord.objects.update(owner="another attempt")
        return created

    monkeypatch.setattr(ProductSerializer, "create", write_while_taken_over)
    response = post(editor_client, PRODUCTS_URL, product())

    assert_error(response, 409, "idempotency_in_progress", IdempotencyInProgress.default_detail)
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "caf\u00e9", "a\x7fb", "tab\tinside", "new\x01line"],
    ids=["empty", "blank", "too-long", "not-ascii", "del", "tab", "control"],
)
def test_a_malformed_key_is_400_naming_the_header_and_writes_nothing(editor_client, key):
    response = post(editor_client, PRODUCTS_URL, product(), key=key)

    assert response.status_code == 400
    assert response.json() == {"Idempotency-Key": [BAD_KEY]}
    assert not Product.objects.exists()
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["x" * 255, "a b", "!~", "  padded  "])
def test_any_printable_ascii_key_up_to_255_characters_is_taken(editor_client, key):
    first = post(editor_client, PRODUCTS_URL, product(), key=key)

    assert first.status_code == 201
    assert_replayed(first, post(editor_client, PRODUCTS_URL, product(), key=key.strip()))


def test_the_clean_up_command_deletes_keys_past_24_hours(editor_client):
    post(editor_client, PRODUCTS_URL, product(), key="old")
    post(editor_client, PRODUCTS_URL, product(sku="LNT-002"), key="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - RETENTION)
    output = io.StringIO()

    call_command("clear_idempotency_keys", stdout=output)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert output.getvalue() == "1 expired idempotency key(s) deleted\n"


@pytest.mark.parametrize(
    "key",
    ["", " ", "a", " a\t", "a b", "x" * 255, " " + "x" * 255 + " ", "x" * 256, "caf\u00e9", "a\tb"],
)
def test_the_schema_pattern_takes_exactly_the_keys_the_api_takes(editor_client, key):
    """What Schemathesis reads as valid (any header value matching it) is answered as valid."""
    documented = re.search(IDEMPOTENCY_KEY.type["pattern"], key) is not None

    response = post(editor_client, CATEGORIES_URL, category(), key=key)

    assert response.status_code == (201 if documented else 400)


def test_a_form_is_the_same_request_whatever_the_order_of_its_fields(editor_client):
    def send(form: str):
        return editor_client.post(
            CATEGORIES_URL,
            form,
            content_type="application/x-www-form-urlencoded",
            HTTP_IDEMPOTENCY_KEY=KEY,
        )

    first = send("name=Lanterns&slug=lanterns")

    assert first.status_code == 201
    assert_replayed(first, send("slug=lanterns&name=Lanterns"))
    assert_error(
        send("slug=lanterns&name=Lamps"),
        422,
        "idempotency_key_reused",
        IdempotencyKeyReused.default_detail,
    )


def fingerprint_of_upload(content: bytes, name: str = "photo.png") -> str:
    """An upload's fingerprint, as the image endpoint's multipart bodies will be taken."""
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    posted = APIRequestFactory().post(
        "/api/v1/x/", {"alt": "a", "image": upload}, format="multipart"
    )
    return fingerprint(Request(posted, parsers=[MultiPartParser()]))


def test_an_uploaded_file_is_compared_by_its_content():
    assert fingerprint_of_upload(b"\x89PNG one") == fingerprint_of_upload(b"\x89PNG one")
    assert fingerprint_of_upload(b"\x89PNG one") != fingerprint_of_upload(b"\x89PNG two")
    assert fingerprint_of_upload(b"\x89PNG one") != fingerprint_of_upload(b"\x89PNG one", "b.png")


def test_a_deeply_nested_body_is_compared_without_recursing(editor_client):
    """JSON may nest 1024 levels (backend/parsers.py); an unknown field is ignored by the
    serializer, so such a body may well be written, and its key must hold. (Written by hand:
    Python's encoder would recurse too deep.)"""
    body = json.dumps(product())[:-1] + ', "extra": ' + "[" * 1000 + "]" * 1000 + "}"

    def send():
        return editor_client.post(
            PRODUCTS_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
        )

    first = send()

    assert first.status_code == 201
    assert_replayed(first, send())
