"""Bearer authentication for the API: simplejwt's, refusing tokens whose session has ended."""

from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from users import sessions
from users.tokens import SESSION_ID_CLAIM, refused, session_ended


class JWTAuthentication(authentication.JWTAuthentication):
    """Says why a token is refused (`token_expired`, `token_not_valid`, `session_ended`).

    Cost per request: the user row simplejwt loads anyway, and one cache lookup for the session
    (users.sessions.is_live); the database is asked only when the cache does not know."""

    def get_validated_token(self, raw_token):
        """Only access tokens authenticate (simplejwt's AUTH_TOKEN_CLASSES default)."""
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise refused(exc) from exc

    def get_user(self, validated_token):
        """A deactivated or deleted account's sessions have ended, as has a logged-out one."""
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:  # simplejwt's: the code sits beside the detail
            if exc.detail.get("code") in ("user_inactive", "user_not_found"):
                raise session_ended() from exc
            raise
        if not sessions.is_live(validated_token.get(SESSION_ID_CLAIM)):
            raise session_ended()
        return user
