from django.urls import path
from rest_framework.routers import SimpleRouter

from users.views import accounts, auth, verification

router = SimpleRouter(use_regex_path=False)
router.register("users", accounts.UserViewSet, basename="user")

urlpatterns = [
    path("auth/register/", auth.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", auth.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", auth.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/token/verify/", auth.TokenVerifyView.as_view(), name="auth-token-verify"),
    path("auth/logout/", auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/password-reset/", auth.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password-reset/confirm/",
        auth.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/verify-email/", verification.VerifyEmailView.as_view(), name="auth-verify-email"),
    path(
        "auth/verify-email/resend/",
        verification.ResendVerificationView.as_view(),
        name="auth-verify-email-resend",
    ),
    path("users/me/", accounts.MeView.as_view(), name="user-me"),
    path("users/me/password/", accounts.PasswordChangeView.as_view(), name="user-me-password"),
    *router.urls,
]
