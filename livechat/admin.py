import datetime as dt

from django.contrib import admin, messages
from django.utils import timezone

from . import services
from .models import Membership, Message, Room

NS = 1_000_000_000


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("7d", "Past 7 days"), ("30d", "Past 30 days"), ("older", "Older than 30 days")]

    def queryset(self, request, queryset):
        now = timezone.now()
        starts = {
            "today": now.replace(hour=0, minute=0, second=0, microsecond=0),
            "7d": now - dt.timedelta(days=7),
            "30d": now - dt.timedelta(days=30),
        }
        if self.value() in starts:
            return queryset.filter(ts__gte=int(starts[self.value()].timestamp() * NS))
        if self.value() == "older":
            return queryset.filter(ts__lt=int((now - dt.timedelta(days=30)).timestamp() * NS))
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Deleting here (the object page or "delete selected") removes the messages from
    history and from every open client, through livechat.services."""

    list_display = ("id", "author", "subject", "short_body", "sent")
    list_filter = (SentFilter,)
    search_fields = ("body", "subject", "user__email")
    list_select_related = ("user",)
    ordering = ("-id",)
    fields = ("id", "user", "sent", "subject", "body", "client_id", "prev_id")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="author", ordering="user__email")
    def author(self, obj):
        return f"{obj.user.name} <{obj.user.email}>"

    @admin.display(description="body")
    def short_body(self, obj):
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    @admin.display(description="sent", ordering="ts")
    def sent(self, obj):
        return dt.datetime.fromtimestamp(obj.ts / NS, tz=dt.timezone.utc)

    def delete_model(self, request, obj):
        services.messages_delete(message_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        count = services.messages_delete(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Removed {count} message(s) from history and from every open client.", messages.SUCCESS)


class MembershipInline(admin.TabularInline):
    """Read-only here: membership changes are events of the room's stream (use the API
    or `manage.py room_members`)."""

    model = Membership
    fields = ("user", "role", "joined_seq")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Every room, private and direct ones included (the API shows those to members only)."""

    list_display = ("id", "kind", "name", "topic", "owner", "last_seq")
    list_filter = ("kind",)
    search_fields = ("name", "topic")
    fields = ("id", "kind", "name", "topic", "owner", "direct_key", "last_seq", "created_at")
    readonly_fields = fields
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("room", "user", "role", "joined_seq")
    list_filter = ("role", "room__kind")
    search_fields = ("room__name", "user__email")
    list_select_related = ("room", "user")
    readonly_fields = ("room", "user", "role", "joined_seq")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        """Removing a member from here is a member_left event like any other removal."""
        from django.db import transaction

        from . import rooms, stream

        with transaction.atomic():
            rooms.member_left_locked(stream.room_locked(obj.room_id), obj.user_id)

    def delete_queryset(self, request, queryset):
        for membership in list(queryset):
            self.delete_model(request, membership)
