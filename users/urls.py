from django.urls import path
from rest_framework.routers import SimpleRouter

from users.views import accounts, auth, mfa, sessions, verification

router = SimpleRouter(use_regex_path=False)
router.register("users/me/sessions", sessions.SessionViewSet, basename="session")
router.register("users", accounts.UserViewSet, basename="user")

urlpatterns = [
    path("auth/register/", auth.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", auth.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", auth.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/token/verify/", auth.TokenVerifyView.as_view(), name="auth-token-verify"),
    path("auth/token/mfa/", mfa.TokenMFAView.as_view(), name="auth-token-mfa"),
    path("auth/logout/", auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all/", sessions.LogoutAllView.as_view(), name="auth-logout-all"),
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
    path("users/me/mfa/totp/", mfa.TOTPView.as_view(), name="user-me-mfa-totp"),
    path(
        "users/me/mfa/totp/confirm/",
        mfa.TOTPConfirmView.as_view(),
        name="user-me-mfa-totp-confirm",
    ),
    *router.urls,
]
