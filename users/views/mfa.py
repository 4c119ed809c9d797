"""Two-factor log-in: enrolling an authenticator app, turning it off, and finishing a log-in
with a code (API.md, "Accounts a SPA can rely on")."""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.exceptions import Conflict
from backend.throttling import AuthRateThrottle, PasswordCheckThrottle
from users import mfa, sessions
from users.serializers.mfa import (
    ChallengeAnswerSerializer,
    ConfirmSerializer,
    DisableSerializer,
    EnrolmentSerializer,
    RecoveryCodesSerializer,
)
from users.serializers.tokens import TokenPairSerializer
from users.views.auth import PublicAuthView

CONFLICT_ON = {409: "Two-factor log-in is already on (`conflict`)."}


class DisablingPasswordThrottle(PasswordCheckThrottle):
    """Turning two-factor off checks a password: it spends the log-in budget (starting an
    enrolment, on the same path, does not)."""

    def bucket_for(self, request, view):
        if request.method != "DELETE":
            return None
        return super().bucket_for(request, view)


class TOTPView(generics.GenericAPIView):
    """Start enrolling an authenticator app (POST), or turn two-factor log-in off (DELETE)."""

    throttle_classes = [*APIView.throttle_classes, DisablingPasswordThrottle]
    openapi = {
        "post": {
            "summary": "Start two-factor enrolment",
            "description": (
                "Makes a new secret for an authenticator app: show `otpauth_url` as a QR code "
                "(or let the user type `secret`), then send a code to `confirm/`. Nothing "
                "changes until then: log-in still needs only the password. Calling this again "
                "before confirming replaces the secret; once two-factor is on, it is 409 "
                "`conflict`."
            ),
            "request": None,
            "responses": {200: EnrolmentSerializer},
        },
        "delete": {
            "summary": "Turn two-factor log-in off",
            "description": (
                "Needs your `password` and a current `code` from the app, or a "
                "`recovery_code`. The app and the recovery codes are forgotten; every other "
                "session ends, this one goes on. A wrong password is 400 under `password` "
                "(and spends no code); a wrong or reused code 400 under `code` or "
                "`recovery_code`. It checks a password, so it spends the log-in attempts of "
                "the caller's address."
            ),
            "request": DisableSerializer,
            "responses": {204: None},
        },
    }
    error_responses = {
        "post": CONFLICT_ON,
        "delete": {409: "Two-factor log-in is not on (`conflict`)."},
    }

    def get_serializer_class(self):
        return DisableSerializer if self.request.method == "DELETE" else EnrolmentSerializer

    def post(self, request):
        device = mfa.start_enrolment(user=request.user)
        return Response(EnrolmentSerializer(device).data)

    def delete(self, request):
        if not mfa.is_enabled(request.user):
            raise Conflict(mfa.NOT_ON)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mfa.disable(user=request.user, keep_session=sessions.current_id(request))
        sessions.keep_browser_logged_in(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TOTPConfirmView(generics.GenericAPIView):
    """Confirm the enrolment with a code from the app: two-factor log-in is on."""

    serializer_class = ConfirmSerializer
    openapi = {
        "post": {
            "summary": "Confirm two-factor enrolment",
            "description": (
                "Send a `code` the app shows for the secret from the enrolment: two-factor "
                "log-in is on. The answer holds 10 single-use recovery codes, shown this once "
                "(only their hashes are kept): each logs in, or turns two-factor off, in place "
                "of a code. Every other session ends, this one goes on. A wrong or reused code "
                "is 400 under `code`; no enrolment started, or two-factor already on, 409 "
                "`conflict`."
            ),
            "responses": {200: RecoveryCodesSerializer},
        }
    }
    error_responses = {
        "post": {409: "No enrolment to confirm, or two-factor log-in already on (`conflict`)."}
    }

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        codes = mfa.confirm(
            user=request.user,
            code=serializer.validated_data["code"],
            keep_session=sessions.current_id(request),
        )
        sessions.keep_browser_logged_in(request)
        return Response(RecoveryCodesSerializer({"recovery_codes": codes}).data)


@method_decorator(never_cache, name="dispatch")
class TokenMFAView(PublicAuthView, generics.GenericAPIView):
    """Finish a two-factor log-in: the challenge from /auth/token/ and a code give the tokens."""

    serializer_class = ChallengeAnswerSerializer
    throttle_classes = [AuthRateThrottle]
    throttle_bucket = "token-mfa"
    openapi = {
        "post": {
            "summary": "Finish a two-factor log-in",
            "description": (
                "Send the `challenge` from the 401 `mfa_required` answer of /auth/token/ and "
                "either a `code` from the authenticator app or a `recovery_code`; the answer is "
                "the tokens, as /auth/token/ gives them. A challenge works once and for 5 "
                "minutes. A wrong or reused code is 400 under `code` (or `recovery_code`) and "
                "counts against the challenge: after 5 wrong codes it ends. A challenge that is "
                "unknown, used, expired or ended is 400 under `challenge`: log in with the "
                "password again. Throttled per address."
            ),
            "responses": {200: TokenPairSerializer},
        }
    }

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(sessions.log_in(serializer.validated_data["user"], request))
