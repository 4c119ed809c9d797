"""Bearer authentication for the API: simplejwt's, refusing tokens whose session has ended."""

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from users import sessions
from users.tokens import refused


class JWTAuthentication(authentication.JWTAuthentication):
    """Says why a token is refused (`token_expired`, `token_not_valid`, `session_ended`).

    Cost per request: one query for the user (with its authenticator app, which the profile
    shows), and one cache lookup for the session (users.sessions.is_live); the database is
    asked about the session only when the cache does not know."""

    def get_validated_token(self, raw_token):
        """Only access tokens authenticate (simplejwt's AUTH_TOKEN_CLASSES default)."""
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise refused(exc) from exc

    def get_user(self, validated_token):
        """A deactivated or deleted account's sessions have ended, as has a logged-out one."""
        return sessions.user_of(validated_token)
