from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsStaffOrReadsSelf(BasePermission):
    """Staff manage accounts; anyone logged in may read one (the queryset shows them only their
    own, so anyone else's id is a 404). Only a superuser may change a superuser."""

    def has_permission(self, request, view):
        if view.action == "retrieve":
            return request.user.is_authenticated
        return request.user.is_staff

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS:
            return True
        return request.user.is_superuser or not obj.is_superuser
