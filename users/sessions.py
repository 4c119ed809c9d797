"""STAND-IN until the lead's users/sessions.py lands on main (replaced at the merge): the
interface two-factor log-in calls, on today's refresh-token blacklist."""

from users import services
from users.tokens import REFRESH_JTI_CLAIM, SessionRefreshToken


def log_in(user, request) -> dict:
    from users.serializers.auth import TokenPairSerializer

    return TokenPairSerializer.of(SessionRefreshToken.for_user(user))


def end_all(user, *, keep=None, reason: str) -> None:
    services.blacklist_refresh_tokens(user=user, keep_jti=keep)


def current_id(request):
    return request.auth.get(REFRESH_JTI_CLAIM) if request.auth is not None else None
