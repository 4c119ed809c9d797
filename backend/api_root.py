"""The browsable API's front page: every endpoint group, as links."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView


class ApiRootView(APIView):
    """The product catalog API, version 1.

    Log in with `POST auth/token/` and send `Authorization: Bearer <access>`, or use the
    "Log in" link at the top right to browse with a session. The OpenAPI document is at
    `schema/`, Swagger UI at `docs/` and ReDoc at `redoc/`."""

    permission_classes = [AllowAny]
    links: dict[str, str] = {}  # name shown -> URL name
    openapi = {"get": {"exclude": True}}  # a page for people browsing; clients read schema.yml

    def get(self, request, format=None):
        links = self.links.items()
        return Response({name: reverse(url, request=request, format=format) for name, url in links})
