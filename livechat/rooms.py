"""Writes of rooms: creating them, membership, direct rooms and read state.

Each membership change takes the room's lock and appends member_joined or member_left
to the room stream in the same transaction, so membership is ordered with the
messages it governs; every replica with a socket of the user hears of it through the
per-user group (events.membership_changed_on_commit) and applies it at that seq.
"""

from django.db import IntegrityError, connection, transaction

from accounts.models import User
from accounts.selectors import user_public

from . import events, stream
from .models import DEFAULT_ROOM_ID, Membership, Message, ReadState, Room
from .selectors import room_get_visible, room_payload, valid_id
from .services import Forbidden, NotFound, _text_ok
from .stream import frame

NAME_MAX = 80
TOPIC_MAX = 250
DIRECT_MAX_OTHERS = 8


class RoomInvalid(Exception):
    """Field errors: {"field": ["message"]} (400)."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or not _text_ok(name):
        raise RoomInvalid({"name": ["A room needs a name."]})
    name = name.strip()
    if len(name) > NAME_MAX:
        raise RoomInvalid({"name": [f"At most {NAME_MAX} characters."]})
    return name


def _check_topic(topic) -> str:
    if not isinstance(topic, str) or not _text_ok(topic):
        raise RoomInvalid({"topic": ["A topic is text."]})
    if len(topic) > TOPIC_MAX:
        raise RoomInvalid({"topic": [f"At most {TOPIC_MAX} characters."]})
    return topic


def _name_taken(name: str, exclude: int | None = None) -> bool:
    qs = Room.objects.filter(name__iexact=name).exclude(kind=Room.DIRECT)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


def member_joined_locked(room: Room, user: User, role: str = Membership.MEMBER) -> dict:
    """Adds the member and appends member_joined (room locked by the caller)."""
    membership = Membership.objects.create(room=room, user=user, role=role, joined_seq=room.last_seq + 1)
    joined = stream.events_append(room, [frame("member_joined", user=user_public(user=user, with_email=True))])[0]
    assert membership.joined_seq == joined["seq"]
    events.membership_changed_on_commit(user_id=user.pk, room_id=room.pk, seq=joined["seq"])
    return joined


def member_left_locked(room: Room, user_id: int) -> None:
    if not Membership.objects.filter(room=room, user_id=user_id).delete()[0]:
        raise NotFound()
    left = stream.events_append(room, [frame("member_left", user_id=user_id)])[0]
    events.membership_changed_on_commit(user_id=user_id, room_id=room.pk, seq=left["seq"])


def room_create(*, user: User, name, kind, topic=None) -> dict:
    if kind not in (Room.PUBLIC, Room.PRIVATE):
        raise RoomInvalid({"kind": ['"public" or "private".']})
    name = _check_name(name)
    topic = _check_topic("" if topic is None else topic)
    if _name_taken(name):
        raise RoomInvalid({"name": ["A room with this name exists."]})
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=kind, name=name, topic=topic, owner=user)
            room = stream.room_locked(room.pk)
            member_joined_locked(room, user, Membership.OWNER)
    except IntegrityError:  # the same name at the same instant from another request
        if not _name_taken(name):
            raise
        raise RoomInvalid({"name": ["A room with this name exists."]}) from None
    return room_payload(room=room)


def room_update(*, user: User, room_id, name=None, topic=None) -> dict:
    room = room_get_visible(room_id=room_id, user_id=user.pk)
    if room is None:
        raise NotFound()
    if room.owner_id != user.pk and not user.is_staff:
        raise Forbidden()
    if room.kind == Room.DIRECT:
        raise RoomInvalid({"detail": "A direct room has no name or topic."})
    name = _check_name(name) if name is not None else None
    topic = _check_topic(topic) if topic is not None else None
    if name is not None and _name_taken(name, exclude=room.pk):
        raise RoomInvalid({"name": ["A room with this name exists."]})
    try:
        with transaction.atomic():
            room = stream.room_locked(room.pk)
            room.name = room.name if name is None else name
            room.topic = room.topic if topic is None else topic
            room.save(update_fields=["name", "topic"])
            room.last_seq += 1  # the payload carries the seq of its own room_updated event
            payload = room_payload(room=room)
            room.last_seq -= 1
            stream.events_append(room, [frame("room_updated", room=payload)])
    except IntegrityError:
        if name is None or not _name_taken(name, exclude=room.pk):
            raise
        raise RoomInvalid({"name": ["A room with this name exists."]}) from None
    return payload


def room_join(*, user: User, room_id) -> dict:
    """Public rooms only; joining one's own room (or the default one) changes nothing."""
    room = room_get_visible(room_id=room_id, user_id=user.pk)
    if room is None:
        raise NotFound()
    if room.pk == DEFAULT_ROOM_ID or room.memberships.filter(user=user).exists():
        return room_payload(room=room)
    if room.kind != Room.PUBLIC:
        raise NotFound()
    with transaction.atomic():
        room = stream.room_locked(room.pk)
        if not room.memberships.filter(user=user).exists():
            member_joined_locked(room, user)
    return room_payload(room=room)


def room_leave(*, user: User, room_id) -> None:
    room = room_get_visible(room_id=room_id, user_id=user.pk)
    if room is None:
        raise NotFound()
    if room.pk == DEFAULT_ROOM_ID or room.kind == Room.DIRECT:
        raise RoomInvalid({"detail": "The default room and direct rooms cannot be left."})
    with transaction.atomic():
        member_left_locked(stream.room_locked(room.pk), user.pk)


def member_add(*, actor: User, room_id, user_id) -> None:
    room = room_get_visible(room_id=room_id, user_id=actor.pk)
    if room is None:
        raise NotFound()
    if room.kind == Room.DIRECT or room.pk == DEFAULT_ROOM_ID:
        raise RoomInvalid({"user_id": ["Members of this room cannot be added."]})
    if room.kind == Room.PRIVATE and room.owner_id != actor.pk:
        raise Forbidden()
    if room.kind == Room.PUBLIC and not room.memberships.filter(user=actor).exists():
        raise Forbidden()
    user = User.objects.filter(pk=user_id, is_active=True).first() if valid_id(user_id) else None
    if user is None:
        raise RoomInvalid({"user_id": ["No such user."]})
    with transaction.atomic():
        room = stream.room_locked(room.pk)
        if room.memberships.filter(user=user).exists():
            raise RoomInvalid({"user_id": ["Already a member."]})
        member_joined_locked(room, user)


def member_remove(*, actor: User, room_id, user_id) -> None:
    room = room_get_visible(room_id=room_id, user_id=actor.pk)
    if room is None:
        raise NotFound()
    if room.owner_id != actor.pk and not actor.is_staff:
        raise Forbidden()
    if room.kind == Room.DIRECT:
        raise Forbidden()
    if room.pk == DEFAULT_ROOM_ID or not valid_id(user_id):
        raise NotFound()
    with transaction.atomic():
        member_left_locked(stream.room_locked(room.pk), user_id)


def direct_open(*, user: User, user_ids) -> tuple[dict, bool]:
    """The direct room of exactly the caller and user_ids; (payload, created now).
    A unique key on the sorted set makes concurrent openers, on any replica, agree."""
    if not isinstance(user_ids, list) or not all(valid_id(u) for u in user_ids):
        raise RoomInvalid({"user_ids": ["A list of user ids."]})
    others = sorted(set(user_ids) - {user.pk})
    if not 1 <= len(others) <= DIRECT_MAX_OTHERS:
        raise RoomInvalid({"user_ids": [f"1 to {DIRECT_MAX_OTHERS} other users."]})
    found = {u.pk: u for u in User.objects.filter(pk__in=others, is_active=True)}
    if len(found) != len(others):
        raise RoomInvalid({"user_ids": ["No such user."]})
    key = ",".join(str(u) for u in sorted([user.pk, *others]))
    existing = Room.objects.filter(direct_key=key).first()
    if existing is not None:
        return room_payload(room=existing), False
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=Room.DIRECT, name="", topic="", direct_key=key)
            room = stream.room_locked(room.pk)
            for member in sorted([user, *found.values()], key=lambda u: u.pk):
                member_joined_locked(room, member)
    except IntegrityError:  # another opener made it at the same instant
        return room_payload(room=Room.objects.get(direct_key=key)), False
    return room_payload(room=room), True


def room_read(*, user: User, room_id, message_id) -> bool:
    """last_read_id becomes the larger of the two, in one statement; True when it moved
    (then the user's sockets get `read`)."""
    room = room_get_visible(room_id=room_id, user_id=user.pk)
    if room is None:
        raise NotFound()
    if room.pk != DEFAULT_ROOM_ID and not room.memberships.filter(user=user).exists():
        raise NotFound()
    if not valid_id(message_id) or not Message.objects.filter(pk=message_id, room=room).exists():
        raise RoomInvalid({"message_id": ["Not a message of this room."]})
    biggest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    table = ReadState._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (user_id, room_id, last_read_id) VALUES (%s, %s, %s) "
                f"ON CONFLICT (user_id, room_id) DO UPDATE SET last_read_id = {biggest}({table}.last_read_id, "
                f"excluded.last_read_id) WHERE {table}.last_read_id < excluded.last_read_id RETURNING last_read_id",
                [user.pk, room.pk, message_id],
            )
            moved = cursor.fetchone() is not None
        if moved:
            events.read_on_commit(user_id=user.pk, room_id=room.pk, message_id=message_id)
    return moved
