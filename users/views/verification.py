"""Email verification: open the emailed link, or have it sent again (API.md, "Accounts a SPA
can rely on"). Like the other public auth views, they ignore any credentials sent along."""

from rest_framework import generics, status
from rest_framework.response import Response

from backend.throttling import AuthRateThrottle
from users import verification
from users.serializers.verification import ResendVerificationSerializer, VerifyEmailSerializer
from users.views.auth import DetailSerializer, PublicAuthView

RESEND_ACCEPTED = (
    "If an account with this email is waiting for its address to be verified, a new link is "
    "on its way."
)


class VerifyEmailView(PublicAuthView, generics.GenericAPIView):
    """Open an email verification link: its uid and token. The account's address is verified;
    if a change of address was pending, the new address replaces the old one."""

    serializer_class = VerifyEmailSerializer
    openapi = {
        "post": {
            "summary": "Verify an email address",
            "description": (
                "Send `uid` and `token` from the link emailed at registration, on a change of "
                "address or by the resend endpoint: 204, and the address is verified (a pending "
                "new address becomes the account's email). A link works once and expires after "
                "a few days (`PASSWORD_RESET_TIMEOUT`); a bad, used or expired link, or a bad "
                "`uid`, is 400 with one message under `token`. A pending address another "
                "account took meanwhile is 400 under `non_field_errors`, and nothing changes."
            ),
            "responses": {204: None},
        }
    }

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResendVerificationView(PublicAuthView, generics.GenericAPIView):
    """Mail the verification link again to the account with this email, if its address is
    unverified or a change of address is pending (then to the new address). The answer is the
    same whether or not there is one, so this does not tell who has an account."""

    serializer_class = ResendVerificationSerializer
    throttle_classes = [AuthRateThrottle]
    throttle_bucket = "verify-email-resend"
    openapi = {
        "post": {
            "summary": "Send the email verification link again",
            "description": (
                "202 with the same body whether or not an account with this email waits for a "
                "link: it goes to the pending new address if a change is pending, else to the "
                "account's unverified address. Nothing is sent when verification is off "
                "(`ACCOUNT_EMAIL_VERIFICATION=none`). Limited per client address, like "
                "registration."
            ),
            "responses": {202: DetailSerializer},
        }
    }

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        verification.resend(email=serializer.validated_data["email"])
        return Response({"detail": RESEND_ACCEPTED}, status=status.HTTP_202_ACCEPTED)
