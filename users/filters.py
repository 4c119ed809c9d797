from backend.filters import FilterSet, StrictBooleanFilter
from users.models import User


class UserFilter(FilterSet):
    is_active = StrictBooleanFilter()
    is_staff = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["is_active", "is_staff"]
