"""The browsable API a developer explores in the first hour: its pages read as plain text (DRF
renders markdown only with the `markdown` package, which is not installed) and the product
list's Filters form offers what the filters take."""

import html
import re

import pytest
from django.test import Client

from tests.factories import make_category, make_product, make_staff

PRODUCTS_URL = "/api/v1/products/"
HTML = {"HTTP_ACCEPT": "text/html"}


def page(client: Client, url: str, params=None) -> str:
    response = client.get(url, params or {}, **HTML)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def filters_form(text: str) -> str:
    """The Filters form django-filter draws (the page has other forms: ordering, log in)."""
    found = re.search(r"<h2>Field filters</h2>\s*<form[^>]*>(.*?)</form>", text, flags=re.S)
    assert found, "no Field filters form on the page"
    return found.group(1)


def description(text: str) -> str:
    found = re.search(r'<div class="pull-left">(.*?)</div>', text, flags=re.S)
    assert found
    return html.unescape(found.group(1))


def select(form: str, name: str) -> str:
    found = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', form, flags=re.S)
    assert found, f"no select named {name}"
    return found.group(1)


def options(select_html: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option."""
    return [
        (value, html.unescape(label.strip()), "selected" in attrs)
        for value, attrs, label in re.findall(
            r'<option value="([^"]*)"([^>]*)>(.*?)</option>', select_html, flags=re.S
        )
    ]


@pytest.mark.parametrize("as_staff", [False, True])
def test_product_filters_form_labels_every_filter_in_plain_text(as_staff):
    client = Client()
    if as_staff:
        client.force_login(make_staff(username="sam", email="sam@example.com"))

    form = filters_form(page(client, PRODUCTS_URL))

    labels = [html.unescape(label) for label in re.findall(r"<label[^>]*>(.*?):?</label>", form)]
    assert [label.rstrip(":") for label in labels] == [
        "Category",
        "Category slug",
        "Lowest price",
        "Highest price",
        "In stock",
        "Created after",
        "Created before",
        "Active",
    ]
    assert "[invalid name]" not in form
    assert "`" not in form


def test_product_filters_form_offers_the_categories_by_name():
    oak = make_category(name="Oak")
    ash = make_category(name="Ash & Elm")

    form = filters_form(page(Client(), PRODUCTS_URL, {"category": [str(oak.pk)]}))

    assert 'name="category"' in form
    assert "multiple" in re.search(r'<select name="category"[^>]*>', form).group(0)
    assert options(select(form, "category")) == [
        (str(ash.pk), "Ash & Elm", False),
        (str(oak.pk), "Oak", True),
    ]


@pytest.mark.parametrize("name", ["in_stock", "is_active"])
def test_boolean_filters_are_a_select_of_true_and_false(name):
    form = filters_form(page(Client(), PRODUCTS_URL, {name: "1"}))

    assert options(select(form, name)) == [
        ("", "Any", False),
        ("true", "Yes", True),
        ("false", "No", False),
    ]


def test_a_boolean_filter_that_is_not_true_or_false_is_still_a_400(api_client):
    response = api_client.get(PRODUCTS_URL, {"in_stock": "maybe"})

    assert response.status_code == 400
    assert response.json() == {"in_stock": ["Enter true or false."]}


@pytest.mark.parametrize("category", ["x", "0", "-1", str(2**63)])
def test_a_malformed_category_id_is_still_a_400(api_client, category):
    response = api_client.get(PRODUCTS_URL, {"category": category})

    assert response.status_code == 400
    assert list(response.json()) == ["category"]


def test_a_category_id_that_matches_no_category_is_an_empty_list(api_client):
    make_product(category=make_category())

    response = api_client.get(PRODUCTS_URL, {"category": "999999"})

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_filtered_json_list_never_reads_the_categories_for_the_form(
    api_client, django_assert_num_queries
):
    category = make_category()
    make_product(category=category, stock=3)

    with django_assert_num_queries(2):  # count, page: no query for the form's choices
        response = api_client.get(PRODUCTS_URL, {"category": category.pk, "in_stock": "true"})

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_api_root_describes_itself_without_markdown():
    shown = page(Client(), "/api/v1/")
    text = description(shown)

    assert "auth/token/" in text
    assert "`" not in text
    assert "<h1>Product catalog API, version 1</h1>" in shown


def test_api_root_breaks_lines_only_between_paragraphs():
    """Without markdown every line break of the text shows: none may fall mid-sentence."""
    text = description(page(Client(), "/api/v1/")).strip().removeprefix("<p>").removesuffix("</p>")
    paragraphs = text.split("<br /><br />")

    assert len(paragraphs) == 3
    assert all("<br />" not in paragraph for paragraph in paragraphs)
    assert all(paragraph.strip().endswith(".") for paragraph in paragraphs)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/users/me/",
        "/api/v1/users/me/password/",
        "/api/v1/auth/password-reset/confirm/",
        "/api/v1/auth/token/",
    ],
)
def test_account_pages_describe_themselves_without_markdown(url):
    client = Client()
    client.force_login(make_staff(username="sam", email="sam@example.com"))

    response = client.get(url, **HTML)

    assert response["Content-Type"].startswith("text/html")
    text = description(response.content.decode())
    assert text.strip()
    assert "`" not in text


def test_api_root_links_the_endpoints_a_client_starts_from():
    links = Client().get("/api/v1/", HTTP_ACCEPT="application/json").json()

    for name, path in {
        "logout_all": "/api/v1/auth/logout-all/",
        "verify_email": "/api/v1/auth/verify-email/",
        "verify_email_resend": "/api/v1/auth/verify-email/resend/",
        "sessions": "/api/v1/users/me/sessions/",
        "totp": "/api/v1/users/me/mfa/totp/",
        "token_mfa": "/api/v1/auth/token/mfa/",
        "product_facets": "/api/v1/products/facets/",
    }.items():
        assert links[name].endswith(path), (name, links[name])
