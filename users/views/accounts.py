"""The caller's own account, and staff management of everyone's (API.md, "Users")."""

from collections.abc import Mapping

from rest_framework import generics, mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.lazyschema import LazyAutoSchema
from backend.throttling import PasswordCheckThrottle
from users import services, sessions
from users.filters import UserFilter
from users.models import User
from users.permissions import IsStaffOrReadsSelf
from users.serializers.accounts import (
    PasswordChangeSerializer,
    StaffUserSerializer,
    UserSerializer,
)
from users.serializers.sessions import AccountDeletionSerializer
from users.services import LAST_SUPERUSER


class CurrentPasswordThrottle(PasswordCheckThrottle):
    """A write carrying `current_password` (or the `password` that closes the account) checks a
    password: it spends the log-in budget."""

    def bucket_for(self, request, view):
        sent = request.data if isinstance(request.data, Mapping) else {}
        checks_password = "password" if request.method == "DELETE" else "current_password"
        if request.method not in ("PUT", "PATCH", "DELETE") or checks_password not in sent:
            return None
        return super().bucket_for(request, view)


ACCOUNT_THROTTLES = [*APIView.throttle_classes, CurrentPasswordThrottle]


class MeView(generics.RetrieveUpdateDestroyAPIView):
    """The caller's own profile. is_staff, is_active, date_joined and id are read-only: sent in
    a body, they are ignored. A new username or email needs current_password (a change of
    letter case only does not); the old address is told of a new email."""

    serializer_class = UserSerializer
    throttle_classes = ACCOUNT_THROTTLES
    openapi = {
        "get": {"summary": "Read your profile"},
        "put": {"summary": "Replace your profile"},
        "patch": {"summary": "Change your profile"},
        "delete": {
            "summary": "Close your account",
            "description": (
                "Deletes the account for good, with the caller's password. Every session ends; "
                "logging in with its username or email then fails exactly as for an unknown "
                "user. The last active superuser cannot close their account (409)."
            ),
            "request": AccountDeletionSerializer,
            "responses": {204: None},
        },
    }
    error_responses = {"delete": {409: LAST_SUPERUSER}}

    def get_object(self):
        return self.request.user

    def destroy(self, request, *args, **kwargs):
        serializer = AccountDeletionSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        services.delete_account(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(generics.GenericAPIView):
    """Change the caller's password. Every other session ends; this one goes on."""

    serializer_class = PasswordChangeSerializer
    throttle_classes = [*APIView.throttle_classes, PasswordCheckThrottle]
    openapi = {"post": {"summary": "Change your password", "responses": {204: None}}}

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_password(
            user=request.user,
            new_password=serializer.validated_data["new_password"],
            keep_session=sessions.current_id(request),
        )
        sessions.keep_browser_logged_in(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Accounts: staff list, read and change them (deactivate, reactivate, edit the profile);
    a user may read their own."""

    serializer_class = StaffUserSerializer
    permission_classes = [IsStaffOrReadsSelf]
    filterset_class = UserFilter
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "date_joined"]
    ordering = ["username"]
    http_method_names = ["get", "patch", "head", "options"]
    lookup_value_converter = "int"
    throttle_classes = ACCOUNT_THROTTLES
    schema = LazyAutoSchema()
    openapi = {
        "list": {
            "summary": "List accounts (staff)",
            "description": "Staff only. Filter by `is_active` and `is_staff`, search, order.",
        },
        "retrieve": {
            "summary": "Read an account",
            "description": (
                "Staff read anyone; a user reads only their own (any other id is a 404)."
            ),
        },
        "partial_update": {
            "summary": "Change an account (staff)",
            "description": (
                "Staff holding `users.change_user`, or superusers. Edit the profile, or set "
                "`is_active`: a deactivated user can no longer log in or refresh, and their "
                "access tokens stop working at once and for good (reactivation does not revive "
                "them). Nobody may change an account that holds a permission they lack (a "
                "superuser holds them all). Changing one's own username or email needs "
                "`current_password`."
            ),
        },
    }
    error_responses = {
        "partial_update": {
            403: (
                "Not allowed: the caller lacks `users.change_user`, or the account holds a "
                "permission the caller lacks."
            )
        }
    }
    search_description = "Words matched in username, email, first and last name (any case)."

    def get_queryset(self):
        return User.objects.visible_to(self.request.user).for_api()
