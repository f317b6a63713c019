"""Writes of the live side: sending and deleting messages.

message_send is the only writer of messages. It locks the room row, so inserts are
serialised cluster-wide: ids are taken in lock order and committed in that order,
so no message can become visible after one with a larger id, and the room row
hands each message its prev_id and a ts that never goes backwards, whatever the
replicas' clocks say.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from accounts.models import User

from chatapp import metrics

from . import events
from .models import DEFAULT_ROOM_ID, Message, Room
from .selectors import message_payload

SUBJECT_MAX = 200
BODY_MAX = 4000
CLIENT_ID_MAX = 64


class MessageInvalid(Exception):
    pass


class MessageRateLimited(Exception):
    pass


class SenderInactive(Exception):
    pass


@dataclass(frozen=True)
class SendResult:
    payload: dict
    created: bool


def message_check(*, subject, body, client_id) -> tuple[str, str, str | None]:
    """Bounds of the contract, in code points. NUL is refused: no database stores it as text."""
    if subject is None:
        subject = ""
    if not isinstance(subject, str) or not isinstance(body, str):
        raise MessageInvalid()
    if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= CLIENT_ID_MAX):
        raise MessageInvalid()
    if len(subject) > SUBJECT_MAX or not 1 <= len(body) <= BODY_MAX or not body.strip():
        raise MessageInvalid()
    if any("\x00" in s for s in (subject, body, client_id or "")):
        raise MessageInvalid()
    try:
        for s in (subject, body, client_id or ""):
            s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
        raise MessageInvalid() from None
    return subject, body, client_id


def message_send(*, user_id: int, subject, body, client_id=None, room_id: int = DEFAULT_ROOM_ID) -> SendResult:
    subject, body, client_id = message_check(subject=subject, body=body, client_id=client_id)
    if connection.vendor == "postgresql":
        stored = _insert_postgresql(user_id=user_id, subject=subject, body=body, client_id=client_id, room_id=room_id)
    else:
        stored = _insert_orm(user_id=user_id, subject=subject, body=body, client_id=client_id, room_id=room_id)
    if stored is None:
        return _explain_refusal(user_id=user_id, client_id=client_id)
    payload = stored
    events.message_created_on_commit(payload)
    metrics.MESSAGES_STORED.inc()
    return SendResult(payload=payload, created=True)


def _rate_window_start() -> int:
    return time.time_ns() - settings.CHAT_MESSAGE_RATE_WINDOW_S * 1_000_000_000


# One statement, so the room row is locked for the length of one statement instead of a
# transaction of several round trips. The INSERT reads the locked room row (FOR UPDATE),
# takes its id from the sequence while holding the lock, and the room row is updated in
# the same statement. It stores nothing (returns no row) when the sender is not active,
# the client_id was used before (ON CONFLICT), or the rate limit is reached; the caller
# then asks why. The rate count reads the statement's snapshot: concurrent sends of one
# user on several replicas can overshoot the limit by at most one per replica.
_INSERT_SQL = """
WITH room AS (
    SELECT id, last_message_id, last_ts FROM livechat_room WHERE id = %(room)s FOR UPDATE
), sender AS (
    SELECT id, name, email FROM accounts_user WHERE id = %(user)s AND is_active
), inserted AS (
    INSERT INTO livechat_message (room_id, user_id, ts, subject, body, client_id, prev_id)
    SELECT room.id, sender.id, GREATEST(%(now)s, room.last_ts + 1), %(subject)s, %(body)s, %(client_id)s,
           room.last_message_id
    FROM room, sender
    WHERE NOT %(limited)s OR (
        SELECT count(*) FROM livechat_message WHERE user_id = %(user)s AND ts > %(window)s) < %(rate)s
    ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
    RETURNING id, ts, prev_id
), moved AS (
    UPDATE livechat_room SET last_message_id = inserted.id, last_ts = inserted.ts
    FROM inserted WHERE livechat_room.id = %(room)s
)
SELECT inserted.id, inserted.ts, inserted.prev_id, sender.name, sender.email FROM inserted, sender
"""


def _insert_postgresql(*, user_id, subject, body, client_id, room_id) -> dict | None:
    params = {
        "room": room_id, "user": user_id, "now": time.time_ns(), "subject": subject, "body": body,
        "client_id": client_id, "limited": settings.CHAT_RATE_LIMITS, "window": _rate_window_start(),
        "rate": settings.CHAT_MESSAGE_RATE,
    }
    with connection.cursor() as cursor:  # autocommit: the statement is its own transaction
        cursor.execute(_INSERT_SQL, params)
        row = cursor.fetchone()
        if row is None:
            # Nothing stored: perhaps the room row does not exist yet (a fresh or flushed
            # database; another sender may be creating it right now). Make sure it exists
            # and try once more; a real refusal refuses again.
            Room.objects.get_or_create(pk=room_id, defaults={"name": f"room {room_id}"})
            cursor.execute(_INSERT_SQL, params)
            row = cursor.fetchone()
    if row is None:
        return None
    message_id, ts, prev_id, name, email = row
    return {"id": message_id, "ts": ts, "subject": subject, "body": body, "client_id": client_id,
            "prev_id": prev_id, "user": {"id": user_id, "name": name, "email": email}}


def _insert_orm(*, user_id, subject, body, client_id, room_id) -> dict | None:
    """SQLite (one writer at a time anyway): the same rules in a transaction."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        if room is None:
            Room.objects.get_or_create(pk=room_id, defaults={"name": f"room {room_id}"})
            room = Room.objects.select_for_update().get(pk=room_id)
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            return None
        if client_id is not None and Message.objects.filter(user_id=user_id, client_id=client_id).exists():
            return None
        if settings.CHAT_RATE_LIMITS:
            recent = Message.objects.filter(user_id=user_id, ts__gt=_rate_window_start()).count()
            if recent >= settings.CHAT_MESSAGE_RATE:
                return None
        ts = max(time.time_ns(), room.last_ts + 1)
        message = Message.objects.create(
            room=room, user=user, ts=ts, subject=subject, body=body, client_id=client_id, prev_id=room.last_message_id
        )
        Room.objects.filter(pk=room.pk).update(last_message_id=message.id, last_ts=ts)
        return message_payload(message=message)


def _explain_refusal(*, user_id, client_id) -> SendResult:
    """Nothing was stored: say why (the rare path)."""
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        raise SenderInactive()
    if client_id is not None:
        existing = Message.objects.filter(user_id=user_id, client_id=client_id).select_related("user").first()
        if existing is not None:
            return SendResult(payload=message_payload(message=existing), created=False)
    raise MessageRateLimited()


def messages_delete(*, message_ids: list[int]) -> int:
    """Removes messages from history and from every open client (message_deleted)."""
    with transaction.atomic():
        ids = list(Message.objects.filter(pk__in=message_ids).values_list("pk", flat=True))
        Message.objects.filter(pk__in=ids).delete()
        events.message_deleted_on_commit(ids)
    return len(ids)


@dataclass(frozen=True)
class NewMessage:
    user: User
    body: str
    subject: str = ""
    client_id: str | None = None
    ts: int | None = None  # kept when it does not go backwards (imports); else now


def messages_append(*, rows: list[NewMessage], room_id: int = DEFAULT_ROOM_ID) -> list[Message]:
    """Bulk path for seeding and imports: one room lock for the batch, the same
    ordering rules as message_send. Rows whose (user, client_id) is already stored are
    skipped (imports are idempotent). Open clients pick the batch up through their
    hub's tail poll."""
    created = []
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        if room is None:
            Room.objects.get_or_create(pk=room_id, defaults={"name": f"room {room_id}"})
            room = Room.objects.select_for_update().get(pk=room_id)
        last_id, last_ts = room.last_message_id, room.last_ts
        for row in rows:
            subject, body, client_id = message_check(subject=row.subject, body=row.body, client_id=row.client_id)
            if client_id is not None and Message.objects.filter(user=row.user, client_id=client_id).exists():
                continue
            ts = max(row.ts or time.time_ns(), last_ts + 1)
            message = Message.objects.create(
                room=room, user=row.user, ts=ts, subject=subject, body=body, client_id=client_id, prev_id=last_id
            )
            last_id, last_ts = message.id, ts
            created.append(message)
        Room.objects.filter(pk=room.pk).update(last_message_id=last_id, last_ts=last_ts)
    metrics.MESSAGES_STORED.inc(len(created))
    return created


def messages_purge(*, before_ns: int, batch: int = 1000, progress=None) -> int:
    """Deletes every message older than before_ns, in batches, telling open clients."""
    total = 0
    while True:
        ids = list(Message.objects.filter(ts__lt=before_ns).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return total
        total += messages_delete(message_ids=ids)
        if progress:
            progress(len(ids))
