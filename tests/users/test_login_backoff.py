"""Failed log-ins back off per submitted name (API.md, "Accounts a SPA can rely on"; the rule
as implemented in users/backoff.py): after failure n >= 5 the name is locked for
min(2^(n-5), 900) s, attempts during the lock are 429 and not counted, a success or 15 minutes
without a failure forget the count. On local memory, and on Redis with REDIS_URL set.

Each request comes from an address of its own, so the per-address throttle stays out of the
count unless a test is about it."""

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from django.test import Client
from rest_framework.exceptions import Throttled
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from backend import throttling
from tests.conftest import FakeTime
from tests.factories import DEFAULT_PASSWORD
from users import backoff

TOKEN_URL = "/api/v1/auth/token/"
SESSION_LOGIN_URLS = ["/api-auth/login/", "/admin/login/"]
WRONG = "wrong-password"
LOCKS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]  # after failures 5, 6, ... 15
ADDRESSES = itertools.count(1)
UNCOMPARABLE = {"X-Request-ID", "Expires"}  # per request, or per clock second


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime(1_800_000_000.0)
    monkeypatch.setattr(backoff, "time", fake)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


def new_address() -> str:
    n = next(ADDRESSES)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def log_in(username: str, password: str = WRONG, address: str | None = None):
    return APIClient().post(
        TOKEN_URL,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address or new_address(),
    )


def fail(username: str, times: int) -> list[int]:
    return [log_in(username).status_code for _ in range(times)]


def test_five_failures_then_429_with_retry_after_doubling_up_to_15_minutes(clock, customer):
    first_five = fail("carol", 5)
    waits = []
    for lock in LOCKS:
        refused = log_in("carol")
        assert refused.status_code == 429
        assert refused.json() == {
            "detail": refused.json()["detail"],
            "code": "throttled",
        }
        waits.append(int(refused["Retry-After"]))
        clock.now += lock
        assert log_in("carol").status_code == 401  # the one attempt after the lock

    assert first_five == [401] * 5
    assert waits == LOCKS


def test_retry_after_counts_down_to_the_end_of_the_lock(clock, customer):
    fail("carol", 5)
    for lock in LOCKS[:2]:
        clock.now += lock
        fail("carol", 1)  # failures 6 and 7: the last locks for 4 s

    at_start = log_in("carol")
    clock.now += 2.5
    later = log_in("carol")
    clock.now += 1.5
    after = log_in("carol")

    assert int(at_start["Retry-After"]) == 4
    assert int(later["Retry-After"]) == 2  # 1.5 s left, never rounded down to too early
    assert after.status_code == 401


def test_attempts_during_a_lock_are_not_counted(clock, customer):
    fail("carol", 5)

    during = [log_in("carol").status_code for _ in range(10)]
    clock.now += 1
    allowed = log_in("carol")
    next_refusal = log_in("carol")

    assert during == [429] * 10
    assert allowed.status_code == 401
    assert int(next_refusal["Retry-After"]) == 2  # failure 6, not failure 16


def test_a_correct_password_during_the_lock_is_still_429_and_issues_nothing(clock, customer):
    fail("carol", 5)

    response = log_in("carol", DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert set(response.json()) == {"detail", "code"}
    assert not OutstandingToken.objects.exists()


def test_a_success_resets_the_count(clock, customer):
    fail("carol", 4)

    success = log_in("carol", DEFAULT_PASSWORD)
    again = fail("carol", 5)
    sixth = log_in("carol")

    assert success.status_code == 200
    assert again == [401] * 5  # five more failures before a lock, not one
    assert sixth.status_code == 429


def test_the_count_is_forgotten_15_minutes_after_the_last_failure(clock, customer):
    fail("carol", 4)
    clock.now += 899
    fail("carol", 1)  # the fifth failure in a row: locked for 1 s
    clock.now += 900

    statuses = fail("carol", 5)

    assert statuses == [401] * 5


def test_a_burst_at_the_end_of_a_lock_gets_one_attempt_through(clock):
    for _ in range(5):
        backoff.attempt("carol")
    clock.now += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(backoff.attempt, ["carol"] * 16))

    assert sorted(waits) == [0] + [2.0] * 15  # one attempt let through, and counted


def test_other_password_checks_can_back_off_by_name(clock):
    """What the two-factor step (or any other check of a secret for a name) calls."""
    for _ in range(5):
        backoff.check("dora")
    with pytest.raises(Throttled) as refused:
        backoff.check("Dora")
    backoff.succeeded("DORA")

    backoff.check("dora")  # forgotten: counted afresh

    assert refused.value.wait == 1


def test_unknown_and_known_names_are_answered_alike(clock, customer, monkeypatch):
    hashes = []
    encode = MD5PasswordHasher.encode
    monkeypatch.setattr(
        MD5PasswordHasher, "encode", lambda self, *args: hashes.append(1) or encode(self, *args)
    )

    def attempts(username: str) -> list:
        answers = []
        for _ in range(7):
            hashes.clear()
            response = log_in(username)
            headers = {k: v for k, v in response.headers.items() if k not in UNCOMPARABLE}
            answers.append((response.status_code, response.content, headers, len(hashes)))
        return answers

    known = attempts("carol")
    unknown = attempts("nobody-here")

    assert [status for status, *_ in known] == [401] * 5 + [429] * 2
    assert [hashed for *_, hashed in known] == [1] * 5 + [0] * 2  # no hash while locked
    assert unknown == known


@pytest.mark.parametrize(
    ("sent", "same"),
    [
        ("CAROL", "carol"),
        ("\uff43\uff41\uff52\uff4f\uff4c", "carol"),  # fullwidth: NFKC makes it `carol`
        ("Carol@Example.COM", "carol@example.com"),
    ],
)
def test_a_name_counts_in_the_form_it_is_looked_up_in(clock, customer, sent, same):
    fail(sent, 5)

    assert log_in(same).status_code == 429


def test_a_username_and_an_email_count_apart(clock, customer):
    fail("carol", 5)

    assert log_in("carol@example.com", DEFAULT_PASSWORD).status_code == 200
    assert log_in("carol").status_code == 429


def test_the_cache_holds_a_hash_of_the_name_not_the_name(clock, customer):
    fail("Carol", 1)

    assert cache.has_key(backoff._key("carol"))
    assert not [key for key in stored_keys() if "carol" in key.lower()]


def stored_keys() -> list[str]:
    if throttling.uses_redis():
        return [key.decode() for key in cache._cache.get_client().keys("*")]
    return list(cache._cache)


def test_a_long_name_backs_off_like_any_other(clock):
    name = "x" * 10_000

    statuses = fail(name, 6)

    assert statuses == [401] * 5 + [429]


def test_a_nul_in_the_name_is_a_400_and_not_counted(clock, customer):
    refused = [log_in("car\x00ol").status_code for _ in range(6)]

    assert refused == [400] * 6
    assert log_in("carol", DEFAULT_PASSWORD).status_code == 200


def test_the_per_address_throttle_applies_on_its_own(clock, customer):
    address = "198.51.100.7"
    for n in range(10):
        log_in(f"guess-{n}", address=address)

    by_address = [log_in("carol", address=address) for _ in range(5)]
    elsewhere = log_in("carol", DEFAULT_PASSWORD)

    assert [response.status_code for response in by_address] == [429] * 5
    assert int(by_address[0]["Retry-After"]) == 60  # the address's window, not a name's lock
    assert elsewhere.status_code == 200  # refused by the address: never counted for the name


def test_a_name_locked_at_the_token_endpoint_is_locked_on_the_session_pages(clock, customer, staff):
    fail("carol", 5)
    fail("sam", 5)

    pages = [
        Client(REMOTE_ADDR=new_address()).post(
            url, {"username": name, "password": DEFAULT_PASSWORD}
        )
        for url, name in zip(SESSION_LOGIN_URLS, ["carol", "sam"], strict=True)
    ]

    assert [page.status_code for page in pages] == [429, 429]
    assert [int(page["Retry-After"]) for page in pages] == [1, 1]


@pytest.mark.parametrize("url", SESSION_LOGIN_URLS)
def test_session_page_failures_count_and_a_log_in_there_resets(clock, staff, url):
    browser = Client(REMOTE_ADDR=new_address())
    for _ in range(4):
        assert browser.post(url, {"username": "sam", "password": WRONG}).status_code == 200
    logged_in = browser.post(url, {"username": "sam", "password": DEFAULT_PASSWORD})
    after = fail("sam", 5)

    assert logged_in.status_code == 302
    assert after == [401] * 5


@pytest.mark.parametrize("url", SESSION_LOGIN_URLS)
def test_session_page_failures_lock_the_token_endpoint(clock, customer, url):
    for _ in range(5):
        Client(REMOTE_ADDR=new_address()).post(url, {"username": "carol", "password": WRONG})

    assert log_in("carol", DEFAULT_PASSWORD).status_code == 429
