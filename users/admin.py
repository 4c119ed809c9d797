from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm

from users import services
from users.models import User


class RevokingPasswordChangeForm(AdminPasswordChangeForm):
    """A password set by staff ends the user's API sessions, like a reset does."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            services.blacklist_refresh_tokens(user=user)
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    change_password_form = RevokingPasswordChangeForm
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    readonly_fields = ("date_joined", "last_login")
    actions = ["deactivate", "reactivate"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.blacklist_refresh_tokens(user=obj)

    @admin.action(description="Deactivate selected users (ends their sessions)")
    def deactivate(self, request, queryset):
        users = list(queryset.exclude(pk=request.user.pk).filter(is_active=True))
        for user in users:
            services.set_active(user=user, is_active=False)
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users")
    def reactivate(self, request, queryset):
        count = queryset.filter(is_active=False).update(is_active=True)
        self.message_user(request, f"Reactivated {count} user(s).", messages.SUCCESS)
