"""Registration, JWT log-in/refresh/verify/logout and password reset (API.md, "Authentication").

These endpoints ignore any credentials sent with them (`authentication_classes = ()`): an SPA
that attaches a stale access token to every call can still log in, refresh or register.

A view's docstring is plain text: the browsable API shows it as it is (without the `markdown`
package DRF renders no markdown), and the schema takes it as the operation's description.
"""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from backend.idempotency.decorators import idempotent
from backend.throttling import AuthRateThrottle, PasswordCheckThrottle
from users import services
from users.serializers.accounts import RegistrationSerializer, UserSerializer
from users.serializers.auth import (
    LogoutSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
)
from users.serializers.tokens import TokenPairSerializer

RESET_REQUESTED = (
    "If an account uses this email, a link to reset its password is on its way. "
    "It works once and expires in a few days."
)
TOKEN_REFUSED = {401: "The token is invalid, expired, already used or blacklisted."}
VALID_TOKEN = OpenApiResponse(OpenApiTypes.OBJECT, description="`{}`: the token is valid.")
LOG_IN_REFUSED = OpenApiResponse(
    {
        "oneOf": [
            {"$ref": "#/components/schemas/Error"},
            {
                "type": "object",
                "description": "The password is right, and two-factor log-in is on.",
                "properties": {
                    "detail": {"type": "string"},
                    "code": {"type": "string", "enum": ["mfa_required"]},
                    "challenge": {
                        "type": "string",
                        "description": "Send it with a code to /auth/token/mfa/ (once, within "
                        "5 minutes) for the tokens.",
                    },
                },
                "required": ["detail", "code", "challenge"],
            },
        ]
    },
    description="Wrong credentials, unknown user or inactive user: one answer for all "
    "(`authentication_failed`). A right password of a two-factor user: `mfa_required` with a "
    "`challenge`, and no tokens.",
)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)


class PublicAuthView:
    permission_classes = [AllowAny]
    authentication_classes = ()

    def get_authenticate_header(self, request):
        """Without a WWW-Authenticate value DRF turns a refused token into 403; it is a 401."""
        return 'Bearer realm="api"'


class RegisterView(PublicAuthView, generics.CreateAPIView):
    """Create an account. The password is checked by Django's validators, against the new
    user's own username and email too. Unless verification is off, the email gets a link to
    verify it. An account never verified that joined more than ACCOUNT_UNVERIFIED_DAYS ago no
    longer holds its username or email: registering with them replaces it."""

    serializer_class = RegistrationSerializer
    throttle_classes = [AuthRateThrottle]
    throttle_bucket = "register"
    openapi = {"post": {"summary": "Register an account", "responses": {201: UserSerializer}}}

    post = idempotent(generics.CreateAPIView.post)


@method_decorator(never_cache, name="dispatch")
class TokenObtainView(jwt_views.TokenObtainPairView):
    """Log in with a username or an email and a password; get an access and a refresh token."""

    throttle_classes = [PasswordCheckThrottle]
    error_responses = {
        "post": {
            403: (
                "`email_not_verified`: the password is correct, but the account's email is not "
                "verified yet and ACCOUNT_EMAIL_VERIFICATION is `mandatory`."
            ),
            429: (
                "Too many password checks from this address, or too many failed log-ins in a "
                "row for this name (known or not): retry after the seconds in Retry-After."
            ),
        }
    }
    openapi = {
        "post": {
            "summary": "Log in",
            "responses": {200: TokenPairSerializer, 401: LOG_IN_REFUSED},
        }
    }


@method_decorator(never_cache, name="dispatch")
class TokenRefreshView(jwt_views.TokenRefreshView):
    """Trade a refresh token for a new pair. The old refresh token is spent: it works once."""

    error_responses = {"post": TOKEN_REFUSED}
    openapi = {"post": {"summary": "Refresh a token pair", "responses": {200: TokenPairSerializer}}}


class TokenVerifyView(jwt_views.TokenVerifyView):
    """Check a token: 200 if it is valid, unexpired, not blacklisted and its user active."""

    error_responses = {"post": TOKEN_REFUSED}
    openapi = {"post": {"summary": "Verify a token", "responses": {200: VALID_TOKEN}}}


class LogoutView(PublicAuthView, generics.GenericAPIView):
    """Blacklist a refresh token, ending the session it belongs to."""

    serializer_class = LogoutSerializer
    error_responses = {"post": TOKEN_REFUSED}
    openapi = {"post": {"summary": "Log out", "responses": {204: None}}}

    def post(self, request):
        self.get_serializer(data=request.data).is_valid(raise_exception=True)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(PublicAuthView, generics.GenericAPIView):
    """Mail a reset link to the account with this email. The answer is the same whether or not
    there is one, so this does not tell who has an account."""

    serializer_class = PasswordResetRequestSerializer
    throttle_classes = [AuthRateThrottle]
    throttle_bucket = "password-reset"
    openapi = {
        "post": {"summary": "Request a password reset", "responses": {202: DetailSerializer}}
    }

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.send_password_reset(email=serializer.validated_data["email"])
        return Response({"detail": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(PublicAuthView, generics.GenericAPIView):
    """Set a new password with the uid and token from the reset link. Every session of the
    account ends."""

    serializer_class = PasswordResetConfirmSerializer
    openapi = {"post": {"summary": "Reset a password", "responses": {204: None}}}

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.reset_password(
            user=serializer.validated_data["user"],
            new_password=serializer.validated_data["new_password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
