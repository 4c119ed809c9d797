"""RateLimit-Policy and RateLimit on every answer a throttle counted (API.md, "Accounts a SPA can
rely on"): exact numbers from the throttles' own counters, never stored with a cached answer.
These run on local memory, and on Redis with REDIS_URL set."""

from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient

from backend import throttling
from tests.conftest import FakeTime
from tests.factories import DEFAULT_PASSWORD, make_product

CATEGORIES_URL = "/api/v1/categories/"
PRODUCTS_URL = "/api/v1/products/"
TOKEN_URL = "/api/v1/auth/token/"
REGISTER_URL = "/api/v1/auth/register/"
ME_URL = "/api/v1/users/me/"
SECONDS_INTO_MINUTE = 15  # the fixed windows end 45 s later


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime(1_800_000_000 // 60 * 60 + SECONDS_INTO_MINUTE)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def rates(settings, **scopes: str) -> None:
    configured = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": configured | scopes
    }


def remaining(response) -> tuple[str, int, int]:
    """RateLimit's policy, r and t."""
    name, *parameters = response["RateLimit"].split(";")
    values = dict(parameter.split("=") for parameter in parameters)
    assert set(values) == {"r", "t"}
    return name, int(values["r"]), int(values["t"])


def test_anonymous_reads_count_down_the_anon_policy(clock, api_client):
    answers = [api_client.get(CATEGORIES_URL) for _ in range(3)]

    assert [answer["RateLimit-Policy"] for answer in answers] == ['"anon";q=300;w=60'] * 3
    assert [remaining(answer) for answer in answers] == [
        ('"anon"', 299, 45),
        ('"anon"', 298, 45),
        ('"anon"', 297, 45),
    ]


def test_the_reset_is_the_end_of_the_fixed_window(clock, api_client):
    first = api_client.get(CATEGORIES_URL)
    clock.now += 44.5
    last_moment = api_client.get(CATEGORIES_URL)
    clock.now += 0.5
    next_window = api_client.get(CATEGORIES_URL)

    assert remaining(first) == ('"anon"', 299, 45)
    assert remaining(last_moment) == ('"anon"', 298, 1)  # rounded up, never too early
    assert remaining(next_window) == ('"anon"', 299, 60)


def test_authenticated_reads_count_down_the_user_policy(clock, customer_client):
    answers = [customer_client.get(ME_URL) for _ in range(3)]

    assert [answer["RateLimit-Policy"] for answer in answers] == ['"user";q=3000;w=60'] * 3
    assert [remaining(answer)[1] for answer in answers] == [2999, 2998, 2997]


def test_log_ins_count_down_the_sliding_password_policy(clock, customer):
    answers = []
    for n in range(3):
        answers.append(
            APIClient().post(
                TOKEN_URL, {"username": f"guess-{n}", "password": "wrong"}, format="json"
            )
        )
        clock.now += 10

    assert [answer["RateLimit-Policy"] for answer in answers] == ['"password";q=10;w=60'] * 3
    # the sliding window moves on when its oldest attempt leaves it, 60 s after it was made
    assert [remaining(answer) for answer in answers] == [
        ('"password"', 9, 60),
        ('"password"', 8, 50),
        ('"password"', 7, 40),
    ]


def test_registrations_report_the_auth_policy(clock):
    response = APIClient().post(
        REGISTER_URL,
        {"username": "dora", "email": "dora@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )

    assert response.status_code == 201
    assert response["RateLimit-Policy"] == '"auth";q=10;w=60'
    assert remaining(response) == ('"auth"', 9, 60)


def test_several_policies_are_listed_and_the_nearest_its_limit_reported(clock, customer_client):
    response = customer_client.patch(
        ME_URL, {"email": "new@example.com", "current_password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response["RateLimit-Policy"] == '"user";q=3000;w=60, "password";q=10;w=60'
    assert remaining(response) == ('"password"', 9, 60)


def test_of_two_policies_with_none_left_the_longer_wait_is_reported(clock, settings, customer):
    rates(settings, user="1/min")
    client = APIClient()
    client.force_authenticate(customer)
    body = {"email": "new@example.com", "current_password": DEFAULT_PASSWORD}
    for _ in range(10):
        client.patch(ME_URL, body, format="json")
        clock.now += 1

    response = client.patch(ME_URL, body, format="json")

    assert response.status_code == 429
    # user: none left, 35 s to the clock minute; password: none left, 50 s until the first leaves
    assert remaining(response) == ('"password"', 0, 50)
    assert int(response["Retry-After"]) == 50


def test_a_429_reports_none_remaining_and_the_wait(clock, settings, api_client):
    rates(settings, anon="2/min")
    allowed = [api_client.get(CATEGORIES_URL) for _ in range(2)]

    refused = api_client.get(CATEGORIES_URL)

    assert [remaining(answer)[1] for answer in allowed] == [1, 0]
    assert refused.status_code == 429
    assert refused["RateLimit-Policy"] == '"anon";q=2;w=60'
    assert remaining(refused) == ('"anon"', 0, 45)
    assert int(refused["Retry-After"]) == 45


def test_a_refused_log_in_reports_none_remaining(clock, customer):
    for n in range(10):
        APIClient().post(TOKEN_URL, {"username": f"guess-{n}", "password": "x"}, format="json")
    clock.now += 20

    refused = APIClient().post(
        TOKEN_URL, {"username": "carol", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert refused.status_code == 429
    assert remaining(refused) == ('"password"', 0, 40)
    assert refused["Retry-After"] == "40"


def test_the_session_log_in_pages_report_the_password_policy(clock, client, customer):
    page = client.post("/api-auth/login/", {"username": "carol", "password": "wrong"})

    assert page.status_code == 200
    assert page["RateLimit-Policy"] == '"password";q=10;w=60'
    assert remaining(page) == ('"password"', 9, 60)


def test_a_not_modified_answer_carries_them_too(clock, api_client):
    first = api_client.get(CATEGORIES_URL)

    again = api_client.get(CATEGORIES_URL, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert remaining(again) == ('"anon"', 298, 45)


def test_a_cached_catalog_page_carries_each_callers_own_numbers(clock, settings):
    settings.API_CACHE_SECONDS = 300
    make_product(name="Lamp", sku="LAMP-1")
    first, second = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")
    reads = [first.get(PRODUCTS_URL) for _ in range(3)]

    other = second.get(PRODUCTS_URL)  # the page now comes rendered from the shared cache

    assert [remaining(read)[1] for read in reads] == [299, 298, 297]
    assert remaining(other) == ('"anon"', 299, 45)
    assert other.content == reads[0].content


def test_answers_no_throttle_counted_carry_none(clock, client):
    assert "RateLimit" not in client.get("/healthz")
    assert "RateLimit" not in client.get("/api-auth/login/")  # the form itself: not counted


def test_a_spa_on_another_origin_may_read_them(settings):
    exposed = set(django_settings.CORS_EXPOSE_HEADERS)

    assert {"ratelimit", "ratelimit-policy"} <= exposed


def test_the_schema_describes_them_on_every_response_of_a_throttled_operation():
    schema = yaml.safe_load((Path(django_settings.BASE_DIR) / "schema.yml").read_text())
    missing = [
        f"{method.upper()} {path} {status}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if not {"RateLimit-Policy", "RateLimit"} <= set(response.get("headers", {}))
    ]

    assert missing == []
    assert set(schema["components"]["headers"]) >= {"RateLimit-Policy", "RateLimit"}
