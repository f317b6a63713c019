from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

DEFAULT_ROOM_ID = 1


class Room(models.Model):
    """A conversation and its event stream. Its row is locked for every change visible
    in the room: it hands out the next `seq` of the stream, the id and ts of the last
    stored message (how ids follow visibility order and each message learns its
    prev_id), see docs/architecture.md."""

    PUBLIC, PRIVATE, DIRECT = "public", "private", "direct"
    KINDS = [(PUBLIC, "public"), (PRIVATE, "private"), (DIRECT, "direct")]

    kind = models.CharField(max_length=8, choices=KINDS, default=PUBLIC)
    name = models.CharField(max_length=80, blank=True)
    topic = models.CharField(max_length=250, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="owned_rooms")
    # The sorted member ids of a direct room ("3,7,12"): one room per set of users.
    direct_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
    last_seq = models.BigIntegerField(default=0, editable=False)
    last_message_id = models.BigIntegerField(null=True, blank=True, editable=False)
    last_ts = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), condition=~models.Q(kind="direct"), name="room_name_ci_unique"),
        ]

    def __str__(self):
        return self.name or f"direct {self.direct_key}"


class Membership(models.Model):
    """Explicit members of rooms other than the default one (every active user is a
    member of that one, implicitly). `joined_seq` is the seq of the member_joined event
    that made this membership: a socket of the user receives the room from there on."""

    OWNER, MEMBER = "owner", "member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=[(OWNER, "owner"), (MEMBER, "member")], default=MEMBER)
    joined_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="membership_once")]
        indexes = [models.Index(fields=["room", "user"], name="membership_room")]

    def __str__(self):
        return f"{self.user_id} in {self.room_id} ({self.role})"


class Message(models.Model):
    id = models.BigAutoField(primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="messages", default=DEFAULT_ROOM_ID)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    ts = models.BigIntegerField(help_text="nanoseconds since the Unix epoch, never decreasing within a room")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(max_length=4000)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    prev_id = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True, help_text="the seq of its `message` event in the room stream")
    edited_at = models.BigIntegerField(null=True, blank=True)
    reply_to = models.BigIntegerField(null=True, blank=True)
    # The payload's `mentions` (ids in order of first appearance); Mention rows carry the counts.
    mentions = models.JSONField(default=list, blank=True)

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


class Mention(models.Model):
    """One row per mentioned user: mention counts are an index range scan on (user, room, message)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mention_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room_id", "message"], name="mention_once")]


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reaction_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "emoji", "user"], name="reaction_once")]


class ReadState(models.Model):
    """How far a user has read a room (any room, the default one included)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="read_state_once")]


class Event(models.Model):
    """The room stream: every frame pushed for a room, as pushed (emails included), at
    its seq. `message_id` lets a replay send `message: null` for a message deleted since."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    frame = models.JSONField()
    message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.BigIntegerField(help_text="ns since the Unix epoch")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "seq"], name="event_room_seq")]
