"""Who may change whose account (API.md, Users: PATCH /users/{id}/)."""

from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import SAFE_METHODS, BasePermission

CHANGE_USER = "users.change_user"


def permissions_held(user) -> set[str]:
    """Every permission granted to the user, directly or through a group, as "app.codename".

    Read from the grants, not from `get_all_permissions()`, which answers nothing for an
    inactive account: one that could be edited, then reactivated with everything it holds."""
    rows = (
        Permission.objects.filter(Q(user=user) | Q(group__user=user))
        .values_list("content_type__app_label", "codename")
        .distinct()
    )
    return {f"{app_label}.{codename}" for app_label, codename in rows}


def may_change(actor, target) -> bool:
    """Nobody may change a user who holds a permission they lack: a superuser holds them all.
    Otherwise a holder of `change_user` could take over a more powerful account (a new email,
    then a password reset) and with it everything that account may do."""
    if actor.is_superuser:
        return True
    if target.is_superuser:
        return False
    return permissions_held(target) <= permissions_held(actor)


class IsStaffOrReadsSelf(BasePermission):
    """Staff read accounts; anyone logged in may read one (the queryset shows them only their
    own, so anyone else's id is a 404). Changing one takes `users.change_user` (superusers hold
    it), and a target that holds no permission the caller lacks: 403 otherwise, since the
    caller can see the account."""

    def has_permission(self, request, view):
        if view.action == "retrieve":
            return request.user.is_authenticated
        if request.method in SAFE_METHODS or request.method.lower() not in view.http_method_names:
            return request.user.is_staff  # the list; and methods that are 405 for staff
        return request.user.is_staff and request.user.has_perm(CHANGE_USER)

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS:
            return True
        return may_change(request.user, obj)
