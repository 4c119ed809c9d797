"""ETags, 304 and 412 on the catalog (API.md, "Conditional requests"): a client that already has
a representation revalidates it for free, and a client whose copy is stale cannot overwrite a
newer one by accident."""

import re
import threading
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connections
from rest_framework.test import APIClient

from products.models import Category, Product
from tests.factories import make_category, make_product

PRODUCTS_URL = "/api/v1/products/"
CATEGORIES_URL = "/api/v1/categories/"
READS = ["product list", "product detail", "category list", "category detail"]
CLIENTS = ["api_client", "customer_client", "staff_client"]
# RFC 9110 entity-tag: DQUOTE *etagc DQUOTE, no W/ prefix for a strong one.
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e]+"$')
SUCCESS = {"put": 200, "patch": 200, "delete": 204}
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'


@pytest.fixture
def read_urls() -> dict[str, str]:
    """Something behind every catalog read: a category holding one product on sale."""
    category = make_category(name="Lamps")
    product = make_product(name="Oak Lantern", category=category)
    return {
        "product list": PRODUCTS_URL,
        "product detail": f"{PRODUCTS_URL}{product.pk}/",
        "category list": CATEGORIES_URL,
        "category detail": f"{CATEGORIES_URL}{category.pk}/",
    }


def get(client, url: str, params: dict | None = None, **headers):
    meta = {f"HTTP_{name.upper()}": value for name, value in headers.items()}
    response = client.get(url, params or {}, **meta)
    assert response.status_code in (200, 304), response.content
    return response


def header_tokens(response, name: str) -> set[str]:
    return {token.strip().lower() for token in response.get(name, "").split(",") if token.strip()}


# --- ETag and If-None-Match ---------------------------------------------------------------------


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("read", READS)
def test_every_catalog_read_has_a_quoted_strong_etag(request, read_urls, read, client_name):
    response = request.getfixturevalue(client_name).get(read_urls[read])

    assert response.status_code == 200
    assert STRONG_ETAG.match(response["ETag"]), response["ETag"]


@pytest.mark.parametrize("narrowing", ["second page", "search", "ordering", "category"])
def test_filtered_and_paged_product_lists_have_their_own_strong_etags(api_client, narrowing):
    lamps = make_category()
    make_product(name="Oak Lantern", category=lamps)
    make_product(name="Brass Lantern", price=Decimal("1.00"))
    params = {
        "second page": {"page": 2, "page_size": 1},
        "search": {"search": "oak"},
        "ordering": {"ordering": "-price"},  # the reverse of the default order here
        "category": {"category": lamps.pk},
    }[narrowing]
    whole = get(api_client, PRODUCTS_URL)

    response = get(api_client, PRODUCTS_URL, params)

    assert response.status_code == 200
    assert response.json()["results"]
    assert STRONG_ETAG.match(response["ETag"]), response["ETag"]
    assert response.content != whole.content
    assert response["ETag"] != whole["ETag"]
    assert get(api_client, PRODUCTS_URL, params, if_none_match=response["ETag"]).status_code == 304


@pytest.mark.parametrize("read", READS)
def test_the_same_read_twice_has_the_same_etag(api_client, read_urls, read):
    first = get(api_client, read_urls[read])
    second = get(api_client, read_urls[read])

    assert first.status_code == second.status_code == 200
    assert first["ETag"] == second["ETag"]
    assert first.content == second.content


def if_none_match_forms(etag: str) -> dict[str, str]:
    return {
        "exact": etag,
        "weak": f"W/{etag}",
        "in a list": f'"stale-one", {etag} , W/"stale-two"',
        "star": "*",
    }


@pytest.mark.parametrize("form", ["exact", "weak", "in a list", "star"])
@pytest.mark.parametrize("client_name", ["api_client", "staff_client"])
@pytest.mark.parametrize("read", READS)
def test_a_matching_if_none_match_gives_304_with_no_body_and_the_same_etag(
    request, read_urls, read, client_name, form
):
    client = request.getfixturevalue(client_name)
    first = get(client, read_urls[read])

    again = get(client, read_urls[read], if_none_match=if_none_match_forms(first["ETag"])[form])

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]
    assert header_tokens(again, "Vary") == header_tokens(first, "Vary")


@pytest.mark.parametrize("read", READS)
def test_a_different_etag_in_if_none_match_gives_the_full_body(api_client, read_urls, read):
    first = get(api_client, read_urls[read])

    again = get(api_client, read_urls[read], if_none_match=f'{OTHER_ETAG}, W/"elsewhere"')

    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]


def test_staff_and_anonymous_get_different_list_etags_when_staff_see_an_inactive_product(
    api_client, staff_client
):
    on_sale = make_product(is_active=True)
    hidden = make_product(is_active=False)

    public = get(api_client, PRODUCTS_URL)
    everything = get(staff_client, PRODUCTS_URL)

    assert [row["id"] for row in public.json()["results"]] == [on_sale.pk]
    assert {row["id"] for row in everything.json()["results"]} == {on_sale.pk, hidden.pk}
    assert public["ETag"] != everything["ETag"]
    # Neither may revalidate the other's copy.
    assert get(staff_client, PRODUCTS_URL, if_none_match=public["ETag"]).status_code == 200
    assert get(api_client, PRODUCTS_URL, if_none_match=everything["ETag"]).status_code == 200


def test_staff_and_anonymous_share_the_etag_when_they_see_the_same_list(
    api_client, staff_client, customer_client
):
    make_product(is_active=True)

    etags = {get(client, PRODUCTS_URL)["ETag"] for client in (api_client, staff_client)}
    etags.add(get(customer_client, PRODUCTS_URL)["ETag"])

    assert len(etags) == 1


# --- Vary and Cache-Control ---------------------------------------------------------------------


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("read", READS)
def test_vary_names_authorization_cookie_and_accept(request, read_urls, read, client_name):
    response = get(request.getfixturevalue(client_name), read_urls[read])

    assert {"authorization", "cookie", "accept"} <= header_tokens(response, "Vary")


@pytest.mark.parametrize("read", READS)
def test_anonymous_reads_are_no_cache(api_client, read_urls, read):
    response = get(api_client, read_urls[read])

    assert header_tokens(response, "Cache-Control") == {"no-cache"}


@pytest.mark.parametrize("client_name", ["customer_client", "staff_client"])
@pytest.mark.parametrize("read", READS)
def test_authenticated_reads_are_private_and_no_cache(request, read_urls, read, client_name):
    response = get(request.getfixturevalue(client_name), read_urls[read])

    assert header_tokens(response, "Cache-Control") == {"private", "no-cache"}


def test_the_404_of_an_inactive_product_varies_by_caller_as_its_200_does(api_client, staff_client):
    """Staff see the product at the same URL: a shared cache must not give them the 404."""
    hidden = make_product(is_active=False)
    url = f"/api/v1/products/{hidden.pk}/"

    refused, shown = api_client.get(url), staff_client.get(url)

    assert (refused.status_code, shown.status_code) == (404, 200)
    assert {"authorization", "cookie", "accept"} <= header_tokens(refused, "Vary")
    assert header_tokens(refused, "Cache-Control") == {"no-cache"}
    assert header_tokens(shown, "Cache-Control") == {"private", "no-cache"}


# --- If-Match on writes -------------------------------------------------------------------------


@dataclass
class Target:
    """One product or category and a valid write of each kind on it."""

    url: str
    model: type
    pk: int
    changes: dict
    replacement: dict

    def stored(self) -> dict | None:
        return self.model.objects.filter(pk=self.pk).values().first()

    def change_behind_the_clients_back(self) -> None:
        self.model.objects.filter(pk=self.pk).update(description="Changed by someone else.")


@pytest.fixture(params=["product", "category"])
def target(request) -> Target:
    if request.param == "product":
        product = make_product(name="Oak Lantern", sku="LNT-1", price=Decimal("12.50"))
        return Target(
            url=f"{PRODUCTS_URL}{product.pk}/",
            model=Product,
            pk=product.pk,
            changes={"name": "Brass Lantern"},
            replacement={
                "name": "Brass Lantern",
                "sku": "LNT-1",
                "description": "Polished.",
                "price": "14.00",
                "stock": 2,
                "is_active": True,
                "category": None,
            },
        )
    category = make_category(name="Lamps", slug="lamps")
    return Target(
        url=f"{CATEGORIES_URL}{category.pk}/",
        model=Category,
        pk=category.pk,
        changes={"name": "Brass Lamps"},
        replacement={"name": "Brass Lamps", "slug": "brass-lamps", "description": "Polished."},
    )


def send(client, method: str, target: Target, if_match: str | None):
    headers = {} if if_match is None else {"HTTP_IF_MATCH": if_match}
    if method == "delete":
        return client.delete(target.url, **headers)
    payload = target.changes if method == "patch" else target.replacement
    return getattr(client, method)(target.url, payload, format="json", **headers)


def assert_written(method: str, target: Target, response) -> None:
    assert response.status_code == SUCCESS[method], response.content
    stored = target.stored()
    if method == "delete":
        assert stored is None
    else:
        assert stored["name"] == target.changes["name"]


@pytest.mark.parametrize("form", ["current", "in a list", "star"])
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_whose_if_match_matches_goes_ahead(editor_client, target, method, form):
    etag = get(editor_client, target.url)["ETag"]
    if_match = {"current": etag, "in a list": f"{OTHER_ETAG}, {etag}", "star": "*"}[form]

    response = send(editor_client, method, target, if_match)

    assert_written(method, target, response)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_with_a_stale_if_match_is_412_and_writes_nothing(editor_client, target, method):
    stale = get(editor_client, target.url)["ETag"]
    target.change_behind_the_clients_back()
    before = target.stored()

    response = send(editor_client, method, target, stale)

    assert response.status_code == 412
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["detail", "code"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert target.stored() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_with_an_unknown_if_match_is_412_and_writes_nothing(editor_client, target, method):
    before = target.stored()

    response = send(editor_client, method, target, OTHER_ETAG)

    assert response.status_code == 412
    assert list(response.json()) == ["detail", "code"]
    assert target.stored() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_without_if_match_goes_ahead_even_over_a_newer_version(
    editor_client, target, method
):
    get(editor_client, target.url)
    target.change_behind_the_clients_back()

    response = send(editor_client, method, target, None)

    assert_written(method, target, response)


RACERS = 5


@pytest.mark.django_db(transaction=True)
def test_racing_writes_with_the_same_if_match_let_exactly_one_through(editor):
    """Each racer read the same version; only the first write may land on it, the others
    must be told their copy is stale instead of silently overwriting the winner."""
    product = make_product(name="Oak Lantern")
    url = f"{PRODUCTS_URL}{product.pk}/"
    etag = get(APIClient(), url)["ETag"]
    barrier = threading.Barrier(RACERS)
    results: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def racer(name: str):
        try:
            client = APIClient()
            client.force_authenticate(editor)
            barrier.wait(timeout=10)
            response = client.patch(url, {"name": name}, format="json", HTTP_IF_MATCH=etag)
            with lock:
                results[name] = response.status_code
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(f"Racer {n}",)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert sorted(results.values()) == [200] + [412] * (RACERS - 1), results
    [winner] = [name for name, status in results.items() if status == 200]
    assert Product.objects.get(pk=product.pk).name == winner


# --- When an ETag changes -----------------------------------------------------------------------


def test_a_product_etag_changes_after_a_patch_that_changes_it(api_client, editor_client):
    product = make_product(name="Oak Lantern")
    url = f"{PRODUCTS_URL}{product.pk}/"
    before = get(api_client, url)

    assert editor_client.patch(url, {"price": "15.00"}, format="json").status_code == 200
    after = get(api_client, url)

    assert after.json()["price"] == "15.00"
    assert after["ETag"] != before["ETag"]
    assert get(api_client, url, if_none_match=before["ETag"]).status_code == 200


def test_a_product_etag_follows_its_body_through_a_patch_that_changes_no_field(
    api_client, editor_client
):
    """Sending the values it already has changes no field the client set; `updated_at` may
    still move, and the ETag must say so exactly when it does."""
    product = make_product(name="Oak Lantern", price=Decimal("12.50"))
    url = f"{PRODUCTS_URL}{product.pk}/"
    before = get(api_client, url)

    response = editor_client.patch(url, {"name": "Oak Lantern", "price": "12.50"}, format="json")
    after = get(api_client, url)

    assert response.status_code == 200
    assert (after["ETag"] == before["ETag"]) == (after.content == before.content)
    unchanged = {key: value for key, value in after.json().items() if key != "updated_at"}
    assert unchanged == {key: value for key, value in before.json().items() if key != "updated_at"}


def test_a_category_etag_stays_the_same_after_a_patch_that_changes_nothing_visible(
    api_client, editor_client
):
    category = make_category(name="Lamps", slug="lamps", description="Bright.")
    url = f"{CATEGORIES_URL}{category.pk}/"
    before = get(api_client, url)

    response = editor_client.patch(url, {"name": "Lamps", "slug": "lamps"}, format="json")
    after = get(api_client, url)

    assert response.status_code == 200
    assert after.content == before.content
    assert after["ETag"] == before["ETag"]
    assert get(api_client, url, if_none_match=before["ETag"]).status_code == 304


@pytest.mark.parametrize("rejected", [{"price": "-1.00"}, {"sku": "has space"}])
def test_a_product_etag_stays_the_same_after_a_rejected_patch(api_client, editor_client, rejected):
    product = make_product(name="Oak Lantern")
    url = f"{PRODUCTS_URL}{product.pk}/"
    before = get(api_client, url)

    assert editor_client.patch(url, rejected, format="json").status_code == 400

    assert get(api_client, url, if_none_match=before["ETag"]).status_code == 304


def test_a_product_etag_does_not_change_when_another_product_changes(api_client, editor_client):
    category = make_category()
    product, neighbour = make_product(category=category), make_product(category=category)
    url = f"{PRODUCTS_URL}{product.pk}/"
    before = get(api_client, url)

    changed = editor_client.patch(
        f"{PRODUCTS_URL}{neighbour.pk}/", {"name": "Neighbour renamed"}, format="json"
    )

    assert changed.status_code == 200
    assert get(api_client, url)["ETag"] == before["ETag"]
    assert get(api_client, url, if_none_match=before["ETag"]).status_code == 304


def test_a_category_etag_changes_when_a_product_joins_it(api_client, editor_client):
    """Its `product_count` is part of the representation, so the ETag follows it."""
    category = make_category()
    url = f"{CATEGORIES_URL}{category.pk}/"
    before = get(api_client, url)

    created = editor_client.post(
        PRODUCTS_URL,
        {"name": "Lantern", "sku": "LNT-9", "price": "1.00", "category": category.pk},
        format="json",
    )

    assert created.status_code == 201, created.content
    after = get(api_client, url, if_none_match=before["ETag"])
    assert after.status_code == 200
    assert after.json()["product_count"] == 1
    assert after["ETag"] != before["ETag"]


def test_a_list_etag_changes_when_a_product_on_it_changes(api_client, editor_client):
    product = make_product(name="Oak Lantern")
    before = get(api_client, PRODUCTS_URL)

    editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", {"name": "Brass"}, format="json")

    after = get(api_client, PRODUCTS_URL, if_none_match=before["ETag"])
    assert after.status_code == 200
    assert after.json()["results"][0]["name"] == "Brass"


# --- The browsable API --------------------------------------------------------------------------


@pytest.mark.parametrize("client_name", ["api_client", "editor_client"])
@pytest.mark.parametrize("read", READS)
def test_the_browsable_api_still_renders_catalog_reads_as_html(
    request, read_urls, read, client_name
):
    response = request.getfixturevalue(client_name).get(read_urls[read], HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert "<html" in content
    assert ("Oak Lantern" if read.startswith("product") else "Lamps") in content


@pytest.mark.parametrize("page", ["list", "detail"])
def test_a_browsable_api_page_that_shows_staff_an_inactive_product_varies_by_caller(
    staff_client, page
):
    """API.md: a response that depends on who asks says so in Vary, whatever its media type."""
    hidden = make_product(name="Hidden Lantern", is_active=False)
    url = PRODUCTS_URL if page == "list" else f"{PRODUCTS_URL}{hidden.pk}/"

    response = staff_client.get(url, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert "Hidden Lantern" in response.content.decode()
    assert {"authorization", "cookie", "accept"} <= header_tokens(response, "Vary")
