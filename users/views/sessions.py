"""The caller's sessions: list them, end one, end them all (API.md, "Sessions")."""

from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from users import sessions
from users.models import Session
from users.serializers.sessions import SessionSerializer


class SessionViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's live sessions, most recently used first: one per log-in, on whatever device
    made it. `current` marks the one this request came with."""

    serializer_class = SessionSerializer
    filter_backends = []
    lookup_value_converter = "uuid"
    openapi = {
        "list": {"summary": "List your sessions"},
        "destroy": {
            "summary": "End one of your sessions",
            "description": (
                "Log a device out: its refresh token and access tokens are refused from the "
                "next request on (`401`, `code: session_ended`). Ending the current session "
                "logs this client out. Another user's session id, or one already ended, is 404."
            ),
        },
    }

    def get_queryset(self):
        return Session.objects.live().filter(user=self.request.user).order_by("-last_used_at")

    def perform_destroy(self, instance):
        sessions.end(Session.objects.filter(pk=instance.pk), reason="revoked")


class LogoutAllView(APIView):
    """Log out everywhere: every session of the caller ends at once, this one too, and so do
    the caller's browser log-ins."""

    openapi = {"post": {"summary": "Log out everywhere", "request": None, "responses": {204: None}}}

    def post(self, request):
        sessions.end_everywhere(request.user, reason="logout-all")
        return Response(status=status.HTTP_204_NO_CONTENT)
