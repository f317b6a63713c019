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

from . import events, metrics
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
