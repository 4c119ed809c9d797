"""The browsable API's front page: every endpoint group, as links.

Its text is shown as written (DRF renders markdown only when the `markdown` package is
installed, and the production virtualenv is kept without it): plain sentences, one line per
paragraph, since every line break shows."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

DESCRIPTION = "\n\n".join(
    (
        "Users, categories and products over JSON. Reading the catalog needs no log-in.",
        "Log in by posting a username (or email) and password to auth/token/, then send the "
        'header "Authorization: Bearer <access token>"; or use the "Log in" link at the top '
        "right to browse with a session.",
        "The OpenAPI document is at schema/, Swagger UI at docs/ and ReDoc at redoc/.",
    )
)


class ApiRootView(APIView):
    """The API's front page (see the module's docstring)."""

    name = "Product catalog API, version 1"  # DRF's page title and description
    description = DESCRIPTION
    permission_classes = [AllowAny]
    links: dict[str, str] = {}  # name shown -> URL name
    openapi = {"get": {"exclude": True}}  # a page for people browsing; clients read schema.yml

    def get(self, request, format=None):
        links = self.links.items()
        return Response({name: reverse(url, request=request, format=format) for name, url in links})
