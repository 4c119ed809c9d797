"""Configuration from the environment (API.md, "Configuration (environment)").

Each case starts a fresh interpreter, so `backend/settings.py` is read with exactly the
environment the case gives it: the test process's own settings were fixed at start-up."""

import itertools
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from tests.conftest import CONFIGURED_PASSWORD_HASHERS
from tests.factories import DEFAULT_PASSWORD

CONFIG_PREFIXES = (
    "DJANGO_",
    "JWT_",
    "API_",
    "CORS_",
    "CELERY_",
    "REPLICA_",
    "OTEL_",
    "PROMETHEUS_",
    "METRICS_",
)
CONFIG_NAMES = {
    "DATABASE_URL",
    "DATABASE_REPLICA_URLS",
    "REDIS_URL",
    "EMAIL_URL",
    "PASSWORD_RESET_URL",
}
SECRET_KEY = "settings-test-key-" + "k3y" * 20
RESULT_MARKER = "SETTINGS-TEST-RESULT "
ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"

# Runs in the child: set Django up, evaluate each expression given on the command line, print
# the values as JSON on one marked line (log lines may share stdout).
PROBE = f"""
import importlib, json, sys, time
import django
django.setup()
from django.conf import settings
from django.core.cache import caches
from django.test import Client

def imported(dotted):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)

def request(method, path, body=None, **headers):
    started = time.monotonic()
    if body is None:
        response = getattr(Client(), method)(path, headers=headers)
    else:
        response = getattr(Client(), method)(
            path, json.dumps(body), content_type="application/json", headers=headers
        )
    return {{
        "status": response.status_code,
        "seconds": time.monotonic() - started,
        "location": response.get("Location"),
        "content_type": response.get("Content-Type"),
        "body": response.content.decode(errors="replace"),
    }}

# GET `path` from backend.wsgi.application itself, as a WSGI server would: its status line.
def served(path, **headers):
    from django.test import RequestFactory

    status = []
    environ = RequestFactory().get(path, headers=headers).environ
    application = imported("backend.wsgi.application")
    body = application(environ, lambda line, headers, exc_info=None: status.append(line))
    b"".join(body)
    body.close()
    return status[0]

values = {{expression: eval(expression) for expression in sys.argv[1:]}}
print({RESULT_MARKER!r} + json.dumps(values, default=str))
"""


def clean_environment(**variables: str) -> dict[str, str]:
    """The test process's environment without any configuration variable, plus `variables`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIG_PREFIXES) and name not in CONFIG_NAMES
    }
    environment["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    return environment | variables


def start(variables: dict[str, str], *expressions: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *expressions],
        cwd=django_settings.BASE_DIR,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def result_of(process: subprocess.CompletedProcess) -> dict:
    assert process.returncode == 0, process.stderr
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert len(lines) == 1, process.stdout
    return json.loads(lines[0].removeprefix(RESULT_MARKER))


def configured(variables: dict[str, str], *expressions: str) -> dict:
    """The value of each expression in a process started with `variables` (and a secret key,
    unless `variables` says otherwise)."""
    return result_of(start({"DJANGO_SECRET_KEY": SECRET_KEY} | variables, *expressions))


def value_of(expression: str, **variables: str):
    return configured(variables, expression)[expression]


# --- secret key and debug ------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [None, "false", "False", "0", "off"])
def test_missing_secret_key_without_debug_refuses_to_start(debug):
    variables = {} if debug is None else {"DJANGO_DEBUG": debug}

    process = start(variables, "settings.DEBUG")

    assert process.returncode != 0
    assert "DJANGO_SECRET_KEY" in process.stderr
    assert RESULT_MARKER not in process.stdout


def test_empty_secret_key_without_debug_refuses_to_start():
    process = start({"DJANGO_SECRET_KEY": ""}, "settings.DEBUG")

    assert process.returncode != 0
    assert RESULT_MARKER not in process.stdout


@pytest.mark.parametrize("debug", ["true", "True", "1", "on"])
def test_debug_on_starts_without_a_secret_key(debug):
    process = start({"DJANGO_DEBUG": debug}, "settings.DEBUG", "bool(settings.SECRET_KEY)")

    assert result_of(process) == {"settings.DEBUG": True, "bool(settings.SECRET_KEY)": True}


def test_debug_defaults_to_false_and_the_key_is_the_one_given():
    values = configured({}, "settings.DEBUG", "settings.SECRET_KEY")

    assert values == {"settings.DEBUG": False, "settings.SECRET_KEY": SECRET_KEY}


# --- defaults -------------------------------------------------------------------------------------


def test_defaults_run_a_fresh_checkout():
    values = configured(
        {},
        "settings.ALLOWED_HOSTS",
        "settings.DATABASES['default']['ENGINE']",
        "str(settings.DATABASES['default']['NAME'])",
        "type(caches['default']).__module__ + '.' + type(caches['default']).__name__",
        "list(settings.CORS_ALLOWED_ORIGINS)",
        "settings.EMAIL_BACKEND",
        "settings.PASSWORD_RESET_URL",
        "imported('rest_framework_simplejwt.tokens.AccessToken').lifetime.total_seconds()",
        "imported('rest_framework_simplejwt.tokens.RefreshToken').lifetime.total_seconds()",
        "imported('rest_framework.settings.api_settings').NUM_PROXIES",
        "settings.SECURE_SSL_REDIRECT",
        "settings.SECURE_HSTS_SECONDS",
        "settings.SESSION_COOKIE_SECURE",
        "settings.CSRF_COOKIE_SECURE",
        "settings.SECURE_PROXY_SSL_HEADER",
    )

    assert list(values.values()) == [
        ["localhost", "127.0.0.1"],
        "django.db.backends.sqlite3",
        str(django_settings.BASE_DIR / "db.sqlite3"),
        "django.core.cache.backends.locmem.LocMemCache",
        [],
        "django.core.mail.backends.console.EmailBackend",
        "http://localhost:3000/reset-password?uid={uid}&token={token}",
        5 * 60.0,
        24 * 60 * 60.0,
        0,
        False,
        0,
        False,
        False,
        None,
    ]


THROTTLES = {
    "auth": "backend.throttling.AuthRateThrottle",
    "anon": "backend.throttling.AnonRateThrottle",
    "user": "backend.throttling.UserRateThrottle",
}


def throttle_rate(scope: str) -> str:
    """(requests, seconds) that the throttle guarding `scope` enforces."""
    throttle = f"imported({THROTTLES[scope]!r})()"
    return f"list(imported('backend.throttling.parse_rate')({throttle}.rate()))"


def test_throttle_rates_default_to_10_300_and_3000_a_minute():
    values = configured({}, *(throttle_rate(scope) for scope in THROTTLES))

    assert list(values.values()) == [[10, 60], [300, 60], [3000, 60]]


# --- every variable changes what it should -------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "scope", "expected"),
    [
        ("API_THROTTLE_AUTH", "3/hour", "auth", [3, 3600]),
        ("API_THROTTLE_AUTH", "20/min", "auth", [20, 60]),
        ("API_THROTTLE_ANON", "7/sec", "anon", [7, 1]),
        ("API_THROTTLE_ANON", "50/min", "anon", [50, 60]),
        ("API_THROTTLE_USER", "1000/day", "user", [1000, 86400]),
        ("API_THROTTLE_USER", "42/hour", "user", [42, 3600]),
    ],
)
def test_throttle_rate_variables_set_the_enforced_rates(variable, value, scope, expected):
    assert value_of(throttle_rate(scope), **{variable: value}) == expected


def test_throttle_rate_variables_change_only_their_own_scope():
    values = configured({"API_THROTTLE_AUTH": "3/hour"}, *(throttle_rate(s) for s in THROTTLES))

    assert list(values.values()) == [[3, 3600], [300, 60], [3000, 60]]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"JWT_ACCESS_MINUTES": "15"}, [15 * 60.0, 86400.0]),
        ({"JWT_REFRESH_DAYS": "7"}, [300.0, 7 * 86400.0]),
        ({"JWT_ACCESS_MINUTES": "1", "JWT_REFRESH_DAYS": "30"}, [60.0, 30 * 86400.0]),
    ],
)
def test_jwt_lifetime_variables_set_the_token_lifetimes(variables, expected):
    values = configured(
        variables,
        "imported('rest_framework_simplejwt.tokens.AccessToken').lifetime.total_seconds()",
        "imported('rest_framework_simplejwt.tokens.RefreshToken').lifetime.total_seconds()",
    )

    assert list(values.values()) == expected


def test_num_proxies_variable_sets_how_many_proxies_are_trusted():
    assert (
        value_of(
            "imported('rest_framework.settings.api_settings').NUM_PROXIES", API_NUM_PROXIES="2"
        )
        == 2
    )


def test_allowed_hosts_variable_is_comma_separated():
    hosts = value_of("settings.ALLOWED_HOSTS", DJANGO_ALLOWED_HOSTS="api.example.com,.example.org")

    assert hosts == ["api.example.com", ".example.org"]


def test_a_host_outside_allowed_hosts_is_refused():
    values = configured(
        {"DJANGO_ALLOWED_HOSTS": "api.example.com"},
        "request('get', '/healthz', Host='api.example.com')['status']",
        "request('get', '/healthz', Host='evil.example.net')['status']",
    )

    assert list(values.values()) == [200, 400]


def test_cors_allowed_origins_variable_is_comma_separated():
    origins = value_of(
        "list(imported('corsheaders.conf.conf').CORS_ALLOWED_ORIGINS)",
        CORS_ALLOWED_ORIGINS="https://spa.example,http://localhost:3000",
    )

    assert origins == ["https://spa.example", "http://localhost:3000"]


def test_database_url_for_postgres_selects_postgresql():
    database = value_of(
        "{key: settings.DATABASES['default'][key] for key in "
        "('ENGINE', 'NAME', 'USER', 'PASSWORD', 'HOST', 'PORT')}",
        DATABASE_URL="postgres://catalog:s3cret@db.example:5433/catalog_prod",
    )

    # backend.postgresql is Django's PostgreSQL backend with a cheaper health check.
    assert database | {"PORT": str(database["PORT"])} == {
        "ENGINE": "backend.postgresql",
        "NAME": "catalog_prod",
        "USER": "catalog",
        "PASSWORD": "s3cret",
        "HOST": "db.example",
        "PORT": "5433",
    }


def test_an_unreachable_postgres_answers_503_json_within_seconds():
    """API.md: never a hang. 10.255.255.1 drops connection attempts instead of refusing them."""
    values = configured(
        {
            "DATABASE_URL": "postgres://catalog:s3cret@10.255.255.1:5432/catalog",
            "DJANGO_ALLOWED_HOSTS": "testserver",
        },
        "request('get', '/readyz')",
        "request('post', '/api/v1/auth/token/', {'username': 'carol', 'password': 'x' * 12})",
    )

    readyz, token = values.values()
    assert readyz["status"] == 503
    assert "database" in json.loads(readyz["body"])["detail"]
    assert readyz["seconds"] < 10
    assert token["status"] == 503
    assert token["content_type"].startswith("application/json")
    assert set(json.loads(token["body"])) == {"detail", "code"}
    assert token["seconds"] < 10


def test_redis_url_selects_the_redis_cache_at_that_address():
    values = configured(
        {"REDIS_URL": "redis://cache.example:6380/2"},
        "isinstance(caches['default'], imported('django.core.cache.backends.redis.RedisCache'))",
        "settings.CACHES['default']['LOCATION']",
    )

    # Django's Redis backend (backend.cache.RedisCache only keeps its clients between calls).
    assert list(values.values()) == [True, "redis://cache.example:6380/2"]


REDIS = "redis://cache.example:6380/2"


@pytest.mark.parametrize(
    ("variables", "broker"),
    [
        pytest.param({}, "", id="neither: in-process"),
        pytest.param({"REDIS_URL": REDIS}, REDIS, id="redis"),
        pytest.param(
            {"REDIS_URL": REDIS, "CELERY_BROKER_URL": "redis://queue.example/5"},
            "redis://queue.example/5",
            id="own-broker",
        ),
        pytest.param({"REDIS_URL": REDIS, "CELERY_BROKER_URL": ""}, "", id="empty: in-process"),
    ],
)
def test_celery_broker_url_defaults_to_redis_url(variables, broker):
    assert value_of("settings.CELERY_BROKER_URL", **variables) == broker


def test_serving_requests_imports_no_celery():
    """Web workers carry Celery's memory only once they enqueue a job (backend/celery.py)."""
    values = configured(
        {"CELERY_BROKER_URL": "redis://queue.example/5", "DJANGO_ALLOWED_HOSTS": "testserver"},
        "request('get', '/api/v1/')['status']",
        "sorted(name for name in sys.modules if name.split('.')[0] in ('celery', 'kombu'))",
    )

    assert list(values.values()) == [200, []]


def test_email_url_filemail_writes_each_message_to_a_file_in_that_directory(tmp_path):
    values = configured(
        {"EMAIL_URL": f"filemail:///{tmp_path}"},
        "settings.EMAIL_BACKEND",
        "str(settings.EMAIL_FILE_PATH)",
        "imported('django.core.mail.send_mail')('Hello', 'Body', None, ['to@example.com'])",
    )

    assert str(tmp_path).startswith("/")
    assert list(values.values()) == [
        "django.core.mail.backends.filebased.EmailBackend",
        str(tmp_path),
        1,
    ]
    written = list(tmp_path.iterdir())
    assert len(written) == 1
    assert "Subject: Hello" in written[0].read_text()


def test_email_url_smtp_sets_the_smtp_server():
    values = configured(
        {"EMAIL_URL": "smtp://mailer:p4ss@mail.example:587"},
        "[settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, "
        "settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD]",
    )

    assert next(iter(values.values())) == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example",
        587,
        "mailer",
        "p4ss",
    ]


def test_password_reset_url_variable_sets_the_link_template():
    url = "https://spa.example/reset/{uid}/{token}"

    assert value_of("settings.PASSWORD_RESET_URL", PASSWORD_RESET_URL=url) == url


def test_password_reset_email_links_to_the_configured_page(
    api_client, customer, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.PASSWORD_RESET_URL = "https://spa.example/reset/{uid}/{token}"

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/auth/password-reset/", {"email": "carol@example.com"}, format="json"
        )

    assert response.status_code == 202
    assert len(mailoutbox) == 1
    assert "https://spa.example/reset/" in mailoutbox[0].body
    assert "localhost:3000" not in mailoutbox[0].body


HTTPS_SETTINGS = (
    "settings.SECURE_SSL_REDIRECT",
    "settings.SECURE_HSTS_SECONDS",
    "settings.SESSION_COOKIE_SECURE",
    "settings.CSRF_COOKIE_SECURE",
    "settings.SECURE_PROXY_SSL_HEADER",
)


def test_https_variable_turns_on_redirect_hsts_secure_cookies_and_the_proxy_header():
    values = configured({"DJANGO_HTTPS": "true"}, *HTTPS_SETTINGS)

    redirect, hsts, session_secure, csrf_secure, proxy_header = values.values()
    assert redirect is True
    assert hsts > 0
    assert session_secure is True
    assert csrf_secure is True
    assert proxy_header == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_https_redirects_plain_requests_but_not_health_checks():
    values = configured(
        {
            "DJANGO_HTTPS": "true",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": "sqlite:///:memory:",
        },
        "request('get', '/api/v1/users/me/')",
        "request('get', '/api/v1/users/me/', X_Forwarded_Proto='https')",
        "request('get', '/healthz')",
        "request('get', '/readyz')",
    )

    plain, proxied, healthz, readyz = values.values()
    assert plain["status"] == 301
    assert plain["location"] == "https://testserver/api/v1/users/me/"
    assert proxied["status"] == 401
    assert healthz["status"] == 200
    assert readyz["status"] == 200


def test_https_answers_carry_hsts_when_forwarded_as_https():
    values = configured(
        {"DJANGO_HTTPS": "true", "DJANGO_ALLOWED_HOSTS": "testserver"},
        "imported('django.test.Client')().get('/healthz', headers={'X-Forwarded-Proto': 'https'})"
        ".get('Strict-Transport-Security')",
    )

    assert "max-age=" in next(iter(values.values()))


def test_check_deploy_is_clean_with_https_on():
    process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=django_settings.BASE_DIR,
        env=clean_environment(
            DJANGO_HTTPS="true",
            DJANGO_SECRET_KEY="Zq8v" + "-deploy-check-key-with-enough-entropy-0123456789-abcdefXYZ",
            DATABASE_URL="sqlite:///:memory:",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert process.returncode == 0, process.stdout + process.stderr


# --- passwords ------------------------------------------------------------------------------------


def test_argon2_is_the_configured_password_hasher():
    assert CONFIGURED_PASSWORD_HASHERS[0] == ARGON2


def test_a_fresh_process_hashes_new_passwords_with_argon2():
    values = configured(
        {},
        "settings.PASSWORD_HASHERS[0]",
        "imported('django.contrib.auth.hashers.make_password')("
        f"{DEFAULT_PASSWORD!r}).startswith('argon2$')",
    )

    assert list(values.values()) == [ARGON2, True]


# --- CORS, in this process -----------------------------------------------------------------------


def preflight(client, origin: str):
    return client.options(
        "/api/v1/users/me/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_cors_preflight_from_an_allowed_origin_is_allowed(settings, api_client):
    settings.CORS_ALLOWED_ORIGINS = ["http://spa.example"]

    response = preflight(api_client, "http://spa.example")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://spa.example"
    allowed_headers = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "PATCH" in response["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://spa.example", "http://spa.example.evil.example"]
)
def test_cors_preflight_from_another_origin_gets_no_allow_origin(settings, api_client, origin):
    settings.CORS_ALLOWED_ORIGINS = ["http://spa.example"]

    response = preflight(api_client, origin)

    assert "Access-Control-Allow-Origin" not in response


def test_cors_allows_no_origin_by_default(api_client):
    response = preflight(api_client, "http://spa.example")

    assert "Access-Control-Allow-Origin" not in response


def test_cors_actual_request_from_an_allowed_origin_is_readable(settings, customer_client):
    settings.CORS_ALLOWED_ORIGINS = ["http://spa.example"]

    response = customer_client.get("/api/v1/users/me/", HTTP_ORIGIN="http://spa.example")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://spa.example"


# --- NUM_PROXIES, in this process -----------------------------------------------------------------


GUESSES = itertools.count()


def attempt_login(client, forwarded_for: str):
    """A wrong password, for a name of its own each time (the per-name backoff is not counted)."""
    return client.post(
        "/api/v1/auth/token/",
        {"username": f"guess-{next(GUESSES)}", "password": "wrong-password"},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_with_one_trusted_proxy_the_forwarded_address_is_the_client(settings, api_client, customer):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {"NUM_PROXIES": 1}
    for _ in range(10):
        attempt_login(api_client, "203.0.113.1")

    throttled = attempt_login(api_client, "203.0.113.1")
    other_client = attempt_login(api_client, "203.0.113.2")

    assert throttled.status_code == 429
    assert "Retry-After" in throttled
    assert other_client.status_code == 401


def test_without_trusted_proxies_a_forwarded_address_is_ignored(api_client, customer):
    for n in range(10):
        attempt_login(api_client, f"203.0.113.{n}")

    response = attempt_login(api_client, "203.0.113.200")

    assert response.status_code == 429


# --- read replicas ------------------------------------------------------------------------------

REPLICA_MIDDLEWARE = "backend.replicas.ReplicaMiddleware"


def test_without_replicas_no_router_is_installed():
    values = configured(
        {},
        "list(settings.DATABASES)",
        "settings.DATABASE_ROUTERS",
        f"{REPLICA_MIDDLEWARE!r} in settings.MIDDLEWARE",
        "settings.REPLICA_PIN_SECONDS",
        "settings.REPLICA_MAX_LAG_SECONDS",
    )

    assert list(values.values()) == [["default"], [], False, 5, 10.0]


def test_replica_urls_add_read_only_aliases_mirrored_in_tests_and_the_router():
    replica = "settings.DATABASES['replica2']"
    values = configured(
        {
            "DATABASE_URL": "postgres://app@primary:5432/catalog",
            "DATABASE_REPLICA_URLS": "postgres://app@one:5432/catalog,postgres://ro@two:6432/cat",
            "REPLICA_PIN_SECONDS": "3",
            "REPLICA_MAX_LAG_SECONDS": "2.5",
        },
        "list(settings.DATABASES)",
        f"[{replica}[key] for key in ('ENGINE', 'HOST', 'PORT', 'USER', 'NAME')]",
        f"{replica}['OPTIONS']['options']",
        f"{replica}['OPTIONS']['connect_timeout']",
        f"{replica}['TEST']['MIRROR']",
        "settings.DATABASE_ROUTERS",
        f"{REPLICA_MIDDLEWARE!r} in settings.MIDDLEWARE",
        "[settings.REPLICA_PIN_SECONDS, settings.REPLICA_MAX_LAG_SECONDS]",
    )

    assert list(values.values()) == [
        ["default", "replica1", "replica2"],
        ["backend.postgresql", "two", 6432, "ro", "cat"],
        "-c default_transaction_read_only=on",
        2,
        "default",
        ["backend.replicas.ReplicaRouter"],
        True,
        [3, 2.5],
    ]


def test_replicas_of_a_sqlite_database_refuse_to_start():
    process = start(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "DATABASE_REPLICA_URLS": "postgres://app@one/catalog"},
        "settings.DATABASE_ROUTERS",
    )

    assert process.returncode != 0
    assert "DATABASE_REPLICA_URLS" in process.stderr
