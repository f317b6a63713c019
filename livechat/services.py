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
from django.db import transaction

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
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        if room is None:  # a fresh or flushed database: the room appears with its first message
            Room.objects.get_or_create(pk=room_id, defaults={"name": f"room {room_id}"})
            room = Room.objects.select_for_update().get(pk=room_id)
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise SenderInactive()
        if client_id is not None:
            existing = Message.objects.filter(user_id=user_id, client_id=client_id).select_related("user").first()
            if existing is not None:
                return SendResult(payload=message_payload(message=existing), created=False)
        now_ns = time.time_ns()
        if settings.CHAT_RATE_LIMITS:
            window_start = now_ns - settings.CHAT_MESSAGE_RATE_WINDOW_S * 1_000_000_000
            if Message.objects.filter(user_id=user_id, ts__gt=window_start).count() >= settings.CHAT_MESSAGE_RATE:
                raise MessageRateLimited()
        ts = max(now_ns, room.last_ts + 1)
        message = Message.objects.create(
            room=room, user=user, ts=ts, subject=subject, body=body, client_id=client_id, prev_id=room.last_message_id
        )
        Room.objects.filter(pk=room.pk).update(last_message_id=message.id, last_ts=ts)
        payload = message_payload(message=message)
        events.message_created_on_commit(payload)
    metrics.MESSAGES_STORED.inc()
    return SendResult(payload=payload, created=True)


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
