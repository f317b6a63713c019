from django.conf import settings
from django.db import models

DEFAULT_ROOM_ID = 1


class Room(models.Model):
    """A conversation. Its row is locked for every insert: it holds the id and ts of
    the last stored message, which is how ids follow visibility order and how each
    message learns its prev_id (see docs/architecture.md)."""

    name = models.CharField(max_length=100, unique=True)
    last_message_id = models.BigIntegerField(null=True, blank=True)
    last_ts = models.BigIntegerField(default=0)

    def __str__(self):
        return self.name


class Message(models.Model):
    id = models.BigAutoField(primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="messages", default=DEFAULT_ROOM_ID)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    ts = models.BigIntegerField(help_text="nanoseconds since the Unix epoch, never decreasing within a room")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(max_length=4000)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    prev_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_id"], condition=models.Q(client_id__isnull=False), name="message_client_id_once"
            )
        ]
        indexes = [
            models.Index(fields=["room", "id"], name="message_room_id"),
            models.Index(fields=["room", "ts", "id"], name="message_room_ts"),
            models.Index(fields=["user", "ts"], name="message_user_ts"),
        ]

    def __str__(self):
        return f"#{self.id} {self.subject or self.body[:40]}"
