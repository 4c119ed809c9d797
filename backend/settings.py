"""Settings for the catalog backend: one module, read from the environment.

Every variable is listed in README.md ("Configuration"); the defaults run a fresh checkout on
SQLite and a local-memory cache. Differences between machines are variables, never modules.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# --- Paths and environment -------------------------------------------------------------------

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")  # the real environment wins over the file

DEBUG = env.bool("DJANGO_DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-never-in-production")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")  # unset -> ImproperlyConfigured at start-up

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

# --- Security ----------------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

HTTPS = env.bool("DJANGO_HTTPS", default=False)
if HTTPS:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto. Health checks come from the
    # load balancer over plain HTTP and must not be redirected.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Apps and middleware -----------------------------------------------------------------------

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # trigram search index (OpClass); inert on SQLite
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "products",
    "backend.idempotency",
    "django_cleanup.apps.CleanupConfig",  # last, as it asks: a deleted image's files go too
]

MIDDLEWARE = [
    "backend.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside ApiJsonErrorsMiddleware, which answers some errors afresh: the headers reach those.
    "backend.ratelimit.RateLimitHeadersMiddleware",
    "backend.middleware.ApiJsonErrorsMiddleware",
    "backend.middleware.RequestBodyLimitMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who writes, for the change history's triggers (after RequestLogMiddleware's request id).
    "backend.change_context.ChangeContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Request bodies: the API's are small; anything larger is refused with 413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Database ----------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a writer takes the lock up front, so concurrent writers wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 5, "transaction_mode": "IMMEDIATE"}
    # Tests on a file, not in memory: in-memory shared-cache SQLite fails concurrent writers at
    # once ("table is locked") instead of queueing them, which the race tests need. One file per
    # test run, so two runs side by side never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": Path(tempfile.gettempdir()) / f"catalog-test-{os.getpid()}.sqlite3"
    }
else:
    # Health checks without a round trip per request (backend/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "backend.postgresql"
    # An unreachable database answers 503 within seconds, never a hang.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"connect_timeout": 3})
    # Behind PgBouncer in transaction pooling mode (API.md) each transaction may run on another
    # server connection, so nothing may outlive one on the server: no server-side cursors
    # (.iterator() reads client-side), and no prepared statements. CONN_MAX_AGE stays: those are
    # connections to the pooler.
    DATABASE_POOL_MODE = env.str("DATABASE_POOL_MODE", default="") or "session"
    if DATABASE_POOL_MODE not in ("session", "transaction"):
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MODE: session or transaction, not {DATABASE_POOL_MODE!r}"
        )
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_POOL_MODE == "transaction"
    # On a connection of its own, psycopg's server-side binding and its automatic prepared
    # statements: a statement a connection runs again and again (a product by id, a list page)
    # is prepared by psycopg on its third run, and PostgreSQL then skips parsing and planning it
    # (the backend's own options, which Django leaves off by default; no SQL is kept by the
    # application).
    if DATABASE_POOL_MODE == "session":
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=2)

# Read replicas (backend.replicas): `replica1`, `replica2`... beside the primary, read-only even
# if something tried to write there, quick to give up on when down. Unset: no router, nothing
# changes. The tests' databases mirror the primary's.
DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[])
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=5)
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
if DATABASE_REPLICA_URLS and DATABASES["default"]["ENGINE"] != "backend.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS: read replicas need a PostgreSQL primary")
for _number, _url in enumerate(DATABASE_REPLICA_URLS, start=1):
    _replica = env.db_url_config(_url)
    DATABASES[f"replica{_number}"] = {
        **DATABASES["default"],
        **{key: _replica[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
        "OPTIONS": {
            **DATABASES["default"].get("OPTIONS", {}),
            "connect_timeout": 2,
            "options": "-c default_transaction_read_only=on",
        },
        "TEST": {"MIRROR": "default"},
    }
if DATABASE_REPLICA_URLS:
    DATABASE_ROUTERS = ["backend.replicas.ReplicaRouter"]
    # Inside the JSON errors (a request run again on the primary answers afresh), outside
    # everything that reads.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("backend.middleware.RequestBodyLimitMiddleware") + 1,
        "backend.replicas.ReplicaMiddleware",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (also the throttle counters, shared by every app process) ---------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "backend.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "catalog",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Catalog list pages and counts, shared by every process until the next catalog write. Off
# without Redis: separate processes' memory caches could not tell each other about writes.
API_CACHE_SECONDS = env.int("API_CACHE_SECONDS", default=300 if REDIS_URL else 0)
# Whether a session's state (live or ended) is kept in the cache, so an authenticated request
# needs no query for it (users.sessions). Only a cache every process shares can be told that a
# session ended elsewhere: without Redis the database answers.
SESSION_STATE_IN_CACHE = bool(REDIS_URL)

# --- Authentication and passwords --------------------------------------------------------------

AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = ["users.backends.UsernameOrEmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/api/v1/"
LOGOUT_REDIRECT_URL = "/api/v1/"
PASSWORD_RESET_URL = env.str(
    "PASSWORD_RESET_URL",
    default="http://localhost:3000/reset-password?uid={uid}&token={token}",
)
# The name an authenticator app shows beside the account of a two-factor user.
TOTP_ISSUER = env.str("TOTP_ISSUER", default="Catalog")

# Email verification (users.verification): `mandatory` refuses a token to an unverified
# account, `optional` only sends the link, `none` sends nothing.
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="") or "optional"
if ACCOUNT_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
    raise ImproperlyConfigured(
        "ACCOUNT_EMAIL_VERIFICATION: mandatory, optional or none, "
        f"not {ACCOUNT_EMAIL_VERIFICATION!r}"
    )
_unverified_days = env.str("ACCOUNT_UNVERIFIED_DAYS", default="") or "7"
if not (_unverified_days.isascii() and _unverified_days.isdigit() and int(_unverified_days) > 0):
    raise ImproperlyConfigured(
        f"ACCOUNT_UNVERIFIED_DAYS: a whole number of days from 1, not {_unverified_days!r}"
    )
ACCOUNT_UNVERIFIED_DAYS = int(_unverified_days)
EMAIL_VERIFICATION_URL = env.str(
    "EMAIL_VERIFICATION_URL",
    default="http://localhost:3000/verify-email?uid={uid}&token={token}",
)
try:
    _link_works = (
        EMAIL_VERIFICATION_URL.format(uid="{uid}", token="{token}") == EMAIL_VERIFICATION_URL
    )
except (KeyError, IndexError, ValueError):
    _link_works = False
if not (_link_works and "{uid}" in EMAIL_VERIFICATION_URL and "{token}" in EMAIL_VERIFICATION_URL):
    raise ImproperlyConfigured(
        "EMAIL_VERIFICATION_URL: a link with {uid} and {token} and no other braces, "
        f"not {EMAIL_VERIFICATION_URL!r}"
    )

# --- Django REST framework ---------------------------------------------------------------------

REST_FRAMEWORK = {
    # JWT first: DRF takes WWW-Authenticate from the first class, so anonymous refusals are 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.JWTAuthentication",  # simplejwt's, refusing ended sessions
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "backend.parsers.JSONParser",
        "backend.parsers.FormParser",
        "backend.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "backend.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "backend.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "backend.filters.FilterBackend",
        "backend.filters.SearchFilter",
        "backend.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "backend.throttling.AnonRateThrottle",
        "backend.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="300/min"),
        "user": env.str("API_THROTTLE_USER", default="3000/min"),
        "auth": env.str("API_THROTTLE_AUTH", default="10/min"),
    },
    # 0: the connecting address is the client; X-Forwarded-For counts only through this many.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "backend.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "backend.schema.AutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",  # always UTC (TIME_ZONE), always microseconds
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# --- JWT ---------------------------------------------------------------------------------------

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "users.serializers.auth.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "users.serializers.auth.TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "users.serializers.auth.TokenVerifySerializer",
}

# --- OpenAPI -----------------------------------------------------------------------------------

SPECTACULAR_SETTINGS = {
    "TITLE": "Product Catalog API",
    "DESCRIPTION": (
        "Users and products over JSON. Authenticate with `POST /api/v1/auth/token/` and send "
        "`Authorization: Bearer <access>`; the browsable API also accepts a session log-in."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "deepLinking": True},
}

# --- CORS (single-page apps on other origins) --------------------------------------------------

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = [
    "etag",
    "idempotent-replayed",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "x-request-id",
]

# --- Email -------------------------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# A mail server that accepts the connection and then hangs fails the delivery (which the outbox
# retries) instead of holding a worker: Django's SMTP backend has no timeout of its own.
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="catalog@localhost")

# --- Background jobs (Celery; users.mail, backend/celery.py) -----------------------------------

# Unset: REDIS_URL. Empty (or neither set): no broker, and jobs run in-process after commit.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# A job is acknowledged once done, not once received: a worker that dies mid-job leaves it
# for another. One job reserved at a time, so a busy worker does not sit on others' work.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # no result backend: a job's outcome is in the database
CELERY_TASK_TIME_LIMIT = 120  # a hung mail server must not hold a worker for ever
# A broker that is down must not hold a request: enqueueing tries it once, within a second or
# so, and the row waits for the sweep (users.mail.sweep) instead. (The worker reconnects by its
# own rules, broker_connection_max_retries.)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# `celery worker --beat` on one worker: the outbox sweep and the catalog jobs' sweep every minute
# (users.mail.sweep, products.bulk.jobs.sweep), and
# Idempotency-Key records past their 24 hours deleted every hour. Its state (when each last ran)
# is worth nothing across restarts: kept out of the checkout.
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "users.tasks.sweep_outbox", "schedule": 60.0},
    "catalog-jobs-sweep": {"task": "products.tasks.sweep_catalog_jobs", "schedule": 60.0},
    "idempotency-keys-expiry": {
        "task": "backend.idempotency.tasks.clear_expired_keys",
        "schedule": 3600.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(Path(tempfile.gettempdir()) / "catalog-celerybeat-schedule")

# --- Internationalisation and time -------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Media (product images) ----------------------------------------------------------------------

# Local files by default (served by `make run` in DEBUG, by nginx in production: README), or an
# S3-compatible bucket: MEDIA_STORAGE_URL=s3://bucket?endpoint_url=…&region=…, credentials
# from the standard AWS variables. URLs are the storage's own: absolute when MEDIA_URL is.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
# The CSV files of admin-started imports and exports (products.models.JobFiles): private, and
# shared by every instance and worker (a shared volume).
CATALOG_JOBS_ROOT = env.path("CATALOG_JOBS_ROOT", default=BASE_DIR / "job-files")


def media_storage(url: str) -> dict:
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    parsed = urlsplit(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ImproperlyConfigured("MEDIA_STORAGE_URL must be s3://bucket?endpoint_url=…")
    query = dict(parse_qsl(parsed.query))
    options = {
        "bucket_name": parsed.netloc,
        "endpoint_url": query.get("endpoint_url"),
        "region_name": query.get("region"),
        "custom_domain": query.get("custom_domain"),
        # Plain URLs, the same on every read: a signed one would change the ETag each time.
        "querystring_auth": False,
        "file_overwrite": False,
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


# --- Static files (admin, browsable API, Swagger UI and ReDoc assets; no CDN) ------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "backend" / "static"]  # what the apps' admins share
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": media_storage(env.str("MEDIA_STORAGE_URL", default="")),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Logging -----------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "backend.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": env.str("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json"),
        }
    },
    "filters": {"runserver_access_lines": {"()": "backend.logs.RunserverAccessLines"}},
    "root": {"handlers": ["stdout"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # One line a request, ours (backend.logs), in development too: Django's 4xx warnings
        # and runserver's access lines (ours has the same, and more) are left out, and Django's
        # DEBUG console handler goes (it printed every django.* line a second time, on stderr).
        # django.request keeps its errors: the traceback of what failed outside a DRF view.
        "django": {"level": "INFO"},
        "django.request": {"level": "ERROR"},
        "django.server": {
            "level": "INFO",
            "filters": ["runserver_access_lines"],
            "propagate": True,
        },
    },
}

# --- Metrics and traces (backend/metrics.py, backend/tracing.py) -------------------------------

# Prometheus metrics, on with a directory every process of the service (gunicorn's workers,
# Celery's) writes its numbers to, for /metrics to add up. Unset: no metric work at all.
METRICS_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
METRICS_ENABLED = bool(METRICS_DIR)
if METRICS_ENABLED and not os.path.isdir(METRICS_DIR):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR: an existing directory, not {METRICS_DIR!r}"
    )
# /metrics answers this bearer token; unset, only clients on this machine that came straight in.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_ENABLED:
    MIDDLEWARE.insert(0, "backend.metrics.PrometheusMiddleware")  # outermost: times the rest
    CACHES["default"]["BACKEND"] = (
        "backend.metrics.TimedRedisCache" if REDIS_URL else "backend.metrics.TimedLocMemCache"
    )

# OpenTelemetry traces, on when the standard variables name an exporter or an OTLP endpoint.
_traces_exporter = env.str("OTEL_TRACES_EXPORTER", default="").strip().lower()
_otlp_endpoint = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="") or env.str(
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default=""
)
TRACING_ENABLED = not env.bool("OTEL_SDK_DISABLED", default=False) and (
    _traces_exporter != "none" if _traces_exporter else bool(_otlp_endpoint)
)
