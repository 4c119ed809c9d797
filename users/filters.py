from django_filters import rest_framework as filters

from backend.filters import StrictBooleanFilter
from users.models import User


class UserFilter(filters.FilterSet):
    is_active = StrictBooleanFilter()
    is_staff = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["is_active", "is_staff"]
