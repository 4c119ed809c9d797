"""Routes: the admin, the API under /api/v1/ with its schema and docs, the health probes and
the metrics.

Errors under /api/ that never reach a view are answered as JSON by
`backend.middleware.ApiJsonErrorsMiddleware`, whether DEBUG is on or off.
"""

import functools

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from backend import health
from backend.api_root import ApiRootView
from backend.middleware import json_error
from backend.throttling import throttle_login_posts
from users import backoff
from users.forms import AdminLoginForm, LoginForm


def docs_view(name: str, **initkwargs):
    """A drf-spectacular view, imported on its first request: the schema generator stays out of
    processes that only serve the API (see backend/schema.py)."""

    @functools.cache
    def real_view():
        from drf_spectacular import views

        return getattr(views, name).as_view(**initkwargs)

    def view(request, *args, **kwargs):
        return real_view()(request, *args, **kwargs)

    return view


@never_cache
@require_safe
def metrics(request):
    """/metrics (backend/metrics.py), a 404 while metrics are off: prometheus_client is imported
    only by a process that keeps metrics."""
    if not settings.METRICS_ENABLED:
        return json_error(404, "Not found.")
    from backend.metrics import scrape

    return scrape(request)


API_LINKS = {
    "register": "auth-register",
    "token": "auth-token",
    "token_refresh": "auth-token-refresh",
    "token_verify": "auth-token-verify",
    "token_mfa": "auth-token-mfa",
    "logout": "auth-logout",
    "logout_all": "auth-logout-all",
    "password_reset": "auth-password-reset",
    "password_reset_confirm": "auth-password-reset-confirm",
    "verify_email": "auth-verify-email",
    "verify_email_resend": "auth-verify-email-resend",
    "me": "user-me",
    "sessions": "session-list",
    "totp": "user-me-mfa-totp",
    "users": "user-list",
    "categories": "category-list",
    "products": "product-list",
    "product_facets": "product-facets",
    "schema": "schema",
    "docs": "swagger-ui",
    "redoc": "redoc",
}

api_v1 = [
    path("", ApiRootView.as_view(links=API_LINKS), name="api-root"),
    path("", include("products.urls")),  # first: the catalog is what most requests ask for
    path("", include("users.urls")),
    path("schema/", docs_view("SpectacularAPIView"), name="schema"),
    path("docs/", docs_view("SpectacularSwaggerView", url_name="schema"), name="swagger-ui"),
    path("redoc/", docs_view("SpectacularRedocView", url_name="schema"), name="redoc"),
]

# The browsable API's log-in and log-out, with log-in attempts throttled per address and backed
# off per name like the token endpoint, and a two-factor user's code asked for as there.
browsable_api_auth = (
    [
        path(
            "login/",
            throttle_login_posts(
                backoff.login_posts(
                    auth_views.LoginView.as_view(
                        template_name="rest_framework/login.html", authentication_form=LoginForm
                    )
                )
            ),
            name="login",
        ),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)

admin.site.site_header = "Product catalog administration"
admin.site.site_title = "Catalog admin"
admin.site.site_url = reverse_lazy("api-root")  # "View site": the browsable API; / is a 404
admin.site.login_form = AdminLoginForm  # a two-factor user's code too, as POST /auth/token/ asks

urlpatterns = [
    path("admin/login/", throttle_login_posts(backoff.login_posts(admin.site.login))),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api-auth/", include(browsable_api_auth)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
# Uploaded images, in development (DEBUG) only: production's nginx serves MEDIA_ROOT (README).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
