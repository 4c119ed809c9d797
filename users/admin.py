from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.templatetags.static import static
from django.utils.html import format_html

from backend.admin_columns import ReadOnlyAdmin, with_compact_timestamps
from users import mfa, services, sessions
from users.models import OutboxEmail, Session, User
from users.permissions import may_change


class RevokingPasswordChangeForm(AdminPasswordChangeForm):
    """A password set by staff ends the user's API sessions, like a reset does."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            sessions.end_all(user, reason="password set by staff")
        return user


class LiveSessionInline(admin.TabularInline):
    """The user's live API sessions on their page; they are ended from the sessions list."""

    model = Session
    fields = ("user_agent", "ip", "created_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "live sessions (end them from the Sessions list: select, then the action)"

    def get_queryset(self, request):
        return super().get_queryset(request).live()

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [LiveSessionInline]
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
    list_display = with_compact_timestamps(
        User,
        (
            "username",
            "email_address",
            "full_name",
            "is_staff",
            "is_active",
            "date_joined",
            "last_login",
            "two_factor",
        ),
    )
    list_select_related = ("totp",)
    list_filter = ("is_active", "is_staff", "is_superuser", "email_verified", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    readonly_fields = ("date_joined", "last_login", "pending_email", "two_factor")
    fieldsets = (
        DjangoUserAdmin.fieldsets[0],
        (
            "Personal info",
            {"fields": ("first_name", "last_name", "email", "email_verified", "pending_email")},
        ),
        *DjangoUserAdmin.fieldsets[2:],
        ("Two-factor log-in", {"fields": ("two_factor",)}),
    )
    actions = ["deactivate", "reactivate", "turn_two_factor_off"]

    class Media:
        css = {"all": ["backend/changelist.css"]}

    @admin.display(description="name", ordering="last_name")
    def full_name(self, user):
        """First and last name in one column: two mostly empty ones cost the list its width."""
        return user.get_full_name() or None

    @admin.display(description="email address", ordering="email")
    def email_address(self, user):
        """The address with its verification state beside it: a column of its own would cost
        the list the width of its header."""
        state = "verified" if user.email_verified else "not verified"
        icon = static(f"admin/img/icon-{'yes' if user.email_verified else 'no'}.svg")
        return format_html('{} <img src="{}" alt="{}" title="{}">', user.email, icon, state, state)

    @admin.display(description="2FA", boolean=True)
    def two_factor(self, user):
        """On or off only: the secret and the recovery codes never show."""
        return user.mfa_enabled

    def get_inlines(self, request, obj):
        """Sessions on an existing user's page; a new user has none."""
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None):
        """As in the API: nobody changes a user who holds a permission they lack (the page is
        then read-only)."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_change(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_change(request.user, obj))

    def get_readonly_fields(self, request, obj=None):
        """Only a superuser grants powers: anyone else holding `change_user` could otherwise
        give themselves, or an account they control, what they lack."""
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "groups", "user_permissions")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            sessions.end_everywhere(obj, reason="deactivated")

    @admin.action(
        description="Deactivate selected users (ends their sessions)", permissions=["change"]
    )
    def deactivate(self, request, queryset):
        users = self._changeable(
            request, queryset.exclude(pk=request.user.pk).filter(is_active=True)
        )
        for user in users:
            services.set_active(user=user, is_active=False)
        self.message_user(request, f"Deactivated {len(users)} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users", permissions=["change"])
    def reactivate(self, request, queryset):
        users = self._changeable(request, queryset.filter(is_active=False))
        for user in users:
            services.set_active(user=user, is_active=True)
        self.message_user(request, f"Reactivated {len(users)} user(s).", messages.SUCCESS)

    @admin.action(
        description="Turn two-factor log-in off for selected users (ends their sessions)",
        permissions=["superuser"],
    )
    def turn_two_factor_off(self, request, queryset):
        """For a user who lost their authenticator app and their recovery codes: they log in
        with the password alone again, and may enrol a new app. Every session they had ends,
        in case the app was lost to someone else."""
        users = [user for user in queryset.for_api() if user.mfa_enabled]
        for user in users:
            mfa.disable(user=user)
        self.message_user(
            request, f"Turned two-factor log-in off for {len(users)} user(s).", messages.SUCCESS
        )

    def has_superuser_permission(self, request):
        return request.user.is_superuser

    @staticmethod
    def _changeable(request, queryset) -> list[User]:
        return [user for user in queryset if may_change(request.user, user)]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Everyone's API sessions. Staff who may change a user end that user's sessions with the
    action: the device is logged out from its next request on (users.sessions.end). Rows are
    never deleted here: a deleted row would not tell the other instances' caches."""

    list_display = ("user", "user_agent", "ip", "created_at", "last_used_at", "ended_at")
    list_display += ("ended_by",)
    list_filter = (("ended_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "ip")
    fields = ("user", "user_agent", "ip", "created_at", "last_used_at", "ended_at", "ended_by")
    readonly_fields = fields
    ordering = ("-last_used_at",)
    actions = ["end_sessions"]

    @admin.action(
        description="End selected sessions (logs the devices out)", permissions=["change"]
    )
    def end_sessions(self, request, queryset):
        users = {session.user for session in queryset.select_related("user")}
        allowed = [user.pk for user in users if may_change(request.user, user)]
        ended = sessions.end(queryset.filter(user__in=allowed), reason="ended by staff")
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    """What the outbox holds and whether each email left, for operators (needs
    `users.view_outboxemail`). Read-only, and without the bodies: a password reset's body holds
    the link that resets the password."""

    list_display = ("subject", "to", "created_at", "sent_at", "attempts", "last_error")
    list_filter = (("sent_at", admin.EmptyFieldListFilter),)
    fields = ("subject", "recipients", "created_at", "sent_at", "attempts", "last_attempt_at")
    fields += ("last_error",)
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    @admin.display(description="to")
    def to(self, email):
        return ", ".join(email.recipients)
