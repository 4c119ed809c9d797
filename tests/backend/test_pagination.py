"""`page` and `page_size` on every list (API.md, "Lists, errors, limits"): a page size is a
whole number from 1, larger is capped at 100, and anything else is a 400 like every other bad
parameter, never a quiet page of 20."""

import pytest

from backend.pagination import BAD_PAGE_SIZE
from tests.factories import make_category, make_products, make_user

LISTS = ["/api/v1/users/", "/api/v1/categories/", "/api/v1/products/"]
BAD_PAGE_SIZES = ["0", "-5", "abc", "null", "1.5", "+5", " 5", "1e2", "٣", "0" * 5000]


@pytest.fixture
def catalog():
    make_products(3, category=make_category())
    make_user()


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("page_size", BAD_PAGE_SIZES)
def test_a_bad_page_size_is_a_400_naming_it(staff_client, catalog, url, page_size):
    response = staff_client.get(url, {"page_size": page_size})

    assert response.status_code == 400
    assert response.json() == {"page_size": [BAD_PAGE_SIZE]}


@pytest.mark.parametrize("page_size", BAD_PAGE_SIZES)
def test_a_bad_page_size_is_a_400_when_the_catalog_cache_is_on(
    api_client, settings, catalog, page_size
):
    settings.API_CACHE_SECONDS = 300

    response = api_client.get("/api/v1/products/", {"page_size": page_size})

    assert response.status_code == 400
    assert response.json() == {"page_size": [BAD_PAGE_SIZE]}


@pytest.mark.parametrize("cache_seconds", [0, 300])
@pytest.mark.parametrize(
    ("page_size", "expected"), [("2", 2), ("002", 2), ("1000", 3), ("9" * 5000, 3), ("", 3)]
)
def test_a_whole_page_size_is_honoured_and_capped(
    api_client, settings, catalog, cache_seconds, page_size, expected
):
    settings.API_CACHE_SECONDS = cache_seconds

    response = api_client.get("/api/v1/products/", {"page_size": page_size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == expected


@pytest.mark.parametrize("cache_seconds", [0, 300])
@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5"])
def test_a_bad_page_number_is_a_json_404(api_client, settings, catalog, cache_seconds, page):
    settings.API_CACHE_SECONDS = cache_seconds

    response = api_client.get("/api/v1/products/", {"page": page})

    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code"}
