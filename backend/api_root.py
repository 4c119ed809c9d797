"""The browsable API's front page: every endpoint group, as links.

Its docstring is the page's text, shown as written: DRF renders markdown only when the
`markdown` package is installed, and the production virtualenv is kept without it."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView


class ApiRootView(APIView):
    """The product catalog API, version 1.

    Log in by posting a username (or email) and password to auth/token/, then send the header
    "Authorization: Bearer <access token>"; or use the "Log in" link at the top right to browse
    with a session. The OpenAPI document is at schema/, Swagger UI at docs/ and ReDoc at redoc/.
    """

    permission_classes = [AllowAny]
    links: dict[str, str] = {}  # name shown -> URL name
    openapi = {"get": {"exclude": True}}  # a page for people browsing; clients read schema.yml

    def get(self, request, format=None):
        links = self.links.items()
        return Response({name: reverse(url, request=request, format=format) for name, url in links})
