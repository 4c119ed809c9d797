"""The caller's own account, and staff management of everyone's (API.md, "Users")."""

from django.contrib.auth import update_session_auth_hash
from rest_framework import generics, mixins, status, viewsets
from rest_framework.response import Response

from backend.lazyschema import LazyAutoSchema
from users import services
from users.filters import UserFilter
from users.models import User
from users.permissions import IsStaffOrReadsSelf
from users.serializers.accounts import (
    PasswordChangeSerializer,
    StaffUserSerializer,
    UserSerializer,
)
from users.tokens import REFRESH_JTI_CLAIM


class MeView(generics.RetrieveUpdateAPIView):
    """The caller's own profile. `is_staff`, `is_active`, `date_joined` and `id` are read-only:
    sent in a body, they are ignored."""

    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user


class PasswordChangeView(generics.GenericAPIView):
    """Change the caller's password. Every other session ends; this one goes on."""

    serializer_class = PasswordChangeSerializer
    openapi = {"post": {"responses": {204: None}}}

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_password(
            user=request.user,
            new_password=serializer.validated_data["new_password"],
            keep_jti=_refresh_jti_of(request),
        )
        if request.auth is None:  # a browser session: keep it logged in, as Django's view does
            update_session_auth_hash(request, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _refresh_jti_of(request) -> str | None:
    """The refresh token behind the caller's access token, if they came with one."""
    return request.auth.get(REFRESH_JTI_CLAIM) if request.auth is not None else None


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
                "Staff only. Edit the profile, or set `is_active`: a deactivated user can no "
                "longer log in or refresh, and their access tokens stop working at once."
            ),
        },
    }
    search_description = "Words matched in username, email, first and last name (any case)."

    def get_queryset(self):
        return User.objects.visible_to(self.request.user)
