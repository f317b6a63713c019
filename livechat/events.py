"""The events of the live side, as they travel between processes. Services call
these inside their transaction; each event leaves after commit (broker.py)."""

import uuid

from django.db import transaction

from . import broker


def room_events_on_commit(room_id: int, frames: list[dict]) -> None:
    """Frames of one room, with consecutive seqs, stored by one transaction: one PUBLISH."""
    if frames:
        event = {"type": "room.events", "room_id": room_id, "events": frames}
        transaction.on_commit(lambda: broker.publish(broker.room_group(room_id), event))


def membership_changed_on_commit(*, user_id: int, room_id: int, seq: int) -> None:
    """The user joined or left the room at seq: every replica with a socket of theirs
    starts or stops the room there (hub.py), even one that follows no viewer of it."""
    event = {"type": "user.room", "eid": uuid.uuid4().hex, "user_id": user_id, "room_id": room_id, "seq": seq}
    transaction.on_commit(lambda: broker.publish(broker.USERS_GROUP, event))


def read_on_commit(*, user_id: int, room_id: int, message_id: int) -> None:
    event = {"type": "user.read", "eid": uuid.uuid4().hex, "user_id": user_id,
             "frame": {"type": "read", "room_id": room_id, "message_id": message_id}}
    transaction.on_commit(lambda: broker.publish(broker.USERS_GROUP, event))


def user_deactivated(user_id: int) -> None:
    """Called after commit by accounts.services.user_set_active."""
    broker.publish(broker.USERS_GROUP, {"type": "user.deactivated", "eid": uuid.uuid4().hex, "user_id": user_id})


def typing(*, room_id: int, user: dict) -> None:
    """Never stored: a lost typing frame is no loss."""
    event = {"type": "room.typing", "eid": uuid.uuid4().hex, "room_id": room_id, "user": user}
    broker.publish(broker.room_group(room_id), event)
