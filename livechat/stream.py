"""The room stream: every change visible in a room is an event with the room's next
`seq`, taken while the room row is locked (so seqs are dense and in commit order),
stored as the frame that is pushed, and published after commit.

Replays (`events?after=`, and every hub's gap repair) read the stored frames back:
`message: null` for a message deleted since, and emails only for signed-in viewers.
"""

import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from . import clock, events
from .models import DEFAULT_ROOM_ID, Event, Message, Room


class EventsGone(Exception):
    """The events asked for are older than what the room keeps (410)."""


def room_locked(room_id: int) -> Room:
    """The room row, locked until commit; every writer of a room's stream takes it first."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None and room_id == DEFAULT_ROOM_ID:
        default_room_ensure()
        room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise Room.DoesNotExist(room_id)
    return room


ROOM_SEQUENCE_SQL = ("SELECT setval(pg_get_serial_sequence('livechat_room', 'id'), "
                     "GREATEST((SELECT MAX(id) FROM livechat_room), 1))")


def default_room_ensure() -> None:
    """The default room exists on any database (migration 0002 makes it; a flushed test database has none)."""
    _, created = Room.objects.get_or_create(pk=DEFAULT_ROOM_ID, defaults={"name": "general", "kind": Room.PUBLIC})
    if created and connection.vendor == "postgresql":  # inserted with an explicit id
        with connection.cursor() as cursor:
            cursor.execute(ROOM_SEQUENCE_SQL)


def events_append(room: Room, frames: list[dict], message_ids: list[int | None] | None = None) -> list[dict]:
    """Gives each frame the room's next seq, stores it and publishes it after commit.
    The caller holds the room lock (room_locked) inside a transaction."""
    if not frames:
        return frames
    assert transaction.get_connection().in_atomic_block, "events_append runs inside the room's transaction"
    message_ids = message_ids or [None] * len(frames)
    now = clock.now_ns()
    seq = room.last_seq
    rows = []
    for frame, message_id in zip(frames, message_ids):
        seq += 1
        frame["room_id"], frame["seq"] = room.pk, seq
        rows.append(Event(room_id=room.pk, seq=seq, frame=frame, message_id=message_id, created_at=now))
    Event.objects.bulk_create(rows)
    Room.objects.filter(pk=room.pk).update(last_seq=seq)
    room.last_seq = seq
    events.room_events_on_commit(room.pk, frames)
    return frames


def frame(kind: str, **fields) -> dict:
    """An event frame; room_id and seq are filled in by events_append (keys in the contract's order)."""
    return {"type": kind, "room_id": None, "seq": None, **fields}


# ---- replay ------------------------------------------------------------------------
def _strip_user(user):
    return {k: v for k, v in user.items() if k != "email"} if isinstance(user, dict) else user


def frame_for_guest(event: dict) -> dict:
    """The frame as a viewer without a signed-in socket gets it: no emails."""
    out = dict(event)
    if isinstance(out.get("message"), dict):
        out["message"] = dict(out["message"], user=_strip_user(out["message"]["user"]))
    if "user" in out:
        out["user"] = _strip_user(out["user"])
    if isinstance(out.get("room"), dict) and "members" in out["room"]:
        out["room"] = dict(out["room"], members=[_strip_user(u) for u in out["room"]["members"]])
    return out


def _with_deletions(rows: list[tuple[dict, int | None]]) -> list[dict]:
    ids = {mid for _, mid in rows if mid is not None}
    alive = set(Message.objects.filter(id__in=ids).values_list("id", flat=True)) if ids else set()
    out = []
    for event, mid in rows:
        if mid is not None and mid not in alive and "message" in event:
            event = dict(event, message=None)
        out.append(event)
    return out


def events_between(*, room_id: int, after: int, upto: int | None = None, limit: int = 500) -> list[dict]:
    """Stored frames with after < seq <= upto, oldest first, emails included (the hub's repair)."""
    qs = Event.objects.filter(room_id=room_id, seq__gt=after)
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    rows = list(qs.order_by("seq").values_list("frame", "message_id")[:limit])
    return _with_deletions(rows)


def events_after(*, room: Room, after: int, limit: int, with_email: bool) -> tuple[list[dict], bool]:
    """GET /api/rooms/{id}/events: the frames after `after`, exactly as pushed. Raises
    EventsGone when the first of them is no longer kept."""
    if after >= room.last_seq:
        return [], False
    rows = list(Event.objects.filter(room_id=room.pk, seq__gt=after).order_by("seq")
                .values_list("seq", "frame", "message_id")[: limit + 1])
    if not rows or rows[0][0] != after + 1:
        raise EventsGone()
    frames = _with_deletions([(f, m) for _, f, m in rows[:limit]])
    if not with_email:
        frames = [frame_for_guest(f) for f in frames]
    return frames, len(rows) > limit


def events_prune(*, keep_events: int | None = None, keep_seconds: int | None = None, progress=None) -> int:
    """Deletes, per room, the events that are both beyond the newest `keep_events` and
    older than `keep_seconds` (the contract keeps at least 10,000 events or 7 days)."""
    keep_events = settings.CHAT_EVENTS_KEEP if keep_events is None else keep_events
    keep_seconds = settings.CHAT_EVENTS_KEEP_SECONDS if keep_seconds is None else keep_seconds
    cutoff = time.time_ns() - keep_seconds * 1_000_000_000
    total = 0
    for room_id, last_seq in Room.objects.filter(last_seq__gt=keep_events).values_list("id", "last_seq"):
        # A prefix of the stream, so that a replay notices the cut at its first event
        # (replicas' clocks disagree: created_at need not grow with seq).
        upto = Event.objects.filter(room_id=room_id, seq__lte=last_seq - keep_events,
                                    created_at__lt=cutoff).aggregate(m=Max("seq"))["m"]
        if upto is not None:
            total += Event.objects.filter(room_id=room_id, seq__lte=upto).delete()[0]
        if progress:
            progress(1)
    return total
