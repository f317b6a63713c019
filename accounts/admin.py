from django.contrib import admin, messages

from . import services
from .models import RefreshToken, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff")
    search_fields = ("email", "name")
    ordering = ("-date_joined",)
    fields = ("email", "name", "is_active", "is_staff", "is_superuser", "groups", "user_permissions", "date_joined")
    readonly_fields = ("date_joined",)
    actions = ["ban", "unban"]

    def save_model(self, request, obj, form, change):
        # Deactivation goes through the service: tokens revoked, sockets demoted.
        if change and "is_active" in form.changed_data:
            active = obj.is_active
            obj.is_active = not active
            super().save_model(request, obj, form, change)
            services.user_set_active(user=obj, active=active)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Ban selected users (sign them out everywhere)", permissions=["change"])
    def ban(self, request, queryset):
        for user in queryset:
            services.user_set_active(user=user, active=False)
        self.message_user(request, f"Banned {queryset.count()} user(s).", messages.SUCCESS)

    @admin.action(description="Unban selected users", permissions=["change"])
    def unban(self, request, queryset):
        for user in queryset:
            services.user_set_active(user=user, active=True)
        self.message_user(request, f"Unbanned {queryset.count()} user(s).", messages.SUCCESS)


@admin.register(RefreshToken)
class RefreshTokenAdmin(admin.ModelAdmin):
    """Read-only; the stored hash is never shown (the secret was never stored)."""

    list_display = ("id", "user", "family", "created_at", "expires_at", "used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("user__email",)
    fields = ("user", "family", "created_at", "expires_at", "used_at", "grace_used", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected refresh tokens (and their sign-in)", permissions=["delete"])
    def revoke(self, request, queryset):
        revoked = services.refresh_families_revoke(families=set(queryset.values_list("family", flat=True)))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
