"""Writes of the live side: sending and deleting messages.

messages_send (and messages_append for imports) are the only writers of messages.
They lock the room row, so inserts are serialised cluster-wide: ids are taken in lock
order and committed in that order, so no message can become visible after one with a
larger id, and the room row hands each message its prev_id and a ts that never goes
backwards, whatever the replicas' clocks say. A batch of sends shares one lock and one
commit (livechat/batching.py gathers them per process).
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

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


@dataclass(frozen=True)
class SendRequest:
    user_id: int
    subject: object
    body: object
    client_id: object = None


def message_send(*, user_id: int, subject, body, client_id=None, room_id: int = DEFAULT_ROOM_ID) -> SendResult:
    """One message; raises MessageInvalid, MessageRateLimited or SenderInactive."""
    outcome = messages_send([SendRequest(user_id, subject, body, client_id)], room_id=room_id)[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def messages_send(requests: list[SendRequest], *, room_id: int = DEFAULT_ROOM_ID) -> list["SendResult | Exception"]:
    """Stores a batch of sends from many sockets in one transaction: one room lock and
    one commit (one WAL flush) for the whole batch, which is what lets a replica store
    more messages per second than one commit's round trip allows. Each request gets
    its own outcome: a SendResult, or the exception that says why it was refused
    (MessageInvalid, MessageRateLimited, SenderInactive). The checks run while the
    room row is locked, so they are exact even with several replicas writing."""
    outcomes: list = [None] * len(requests)
    checked = []
    for i, request in enumerate(requests):
        try:
            checked.append((i, request.user_id, *message_check(
                subject=request.subject, body=request.body, client_id=request.client_id)))
        except MessageInvalid as exc:
            outcomes[i] = exc
    repeats = []
    if checked:
        with transaction.atomic():
            room = _room_locked(room_id)
            user_ids = {user_id for _, user_id, *_ in checked}
            senders = {u.pk: u for u in User.objects.filter(pk__in=user_ids, is_active=True).only("id", "name", "email")}
            taken = _client_ids_taken([(user_id, client_id) for _, user_id, _, _, client_id in checked])
            sent_recently = _recent_counts(user_ids) if settings.CHAT_RATE_LIMITS else {}
            accepted = []
            for i, user_id, subject, body, client_id in checked:
                sender = senders.get(user_id)
                if sender is None:
                    outcomes[i] = SenderInactive()
                elif client_id is not None and (user_id, client_id) in taken:
                    repeats.append(i)  # answered with the stored message, after commit
                elif settings.CHAT_RATE_LIMITS and sent_recently.get(user_id, 0) >= settings.CHAT_MESSAGE_RATE:
                    outcomes[i] = MessageRateLimited()
                else:
                    sent_recently[user_id] = sent_recently.get(user_id, 0) + 1
                    if client_id is not None:
                        taken.add((user_id, client_id))
                    accepted.append((i, Message(room=room, user=sender, subject=subject, body=body, client_id=client_id)))
            stored = _store_in_order(room, [m for _, m in accepted])
            payloads = [message_payload(message=m) for m in stored]
            events.messages_created_on_commit(payloads)
        for (i, _), payload in zip(accepted, payloads):
            outcomes[i] = SendResult(payload=payload, created=True)
        metrics.MESSAGES_STORED.inc(len(accepted))
    if repeats:  # a reconnecting client re-sends its pending messages: one query for all of them
        pairs = {(requests[i].user_id, requests[i].client_id) for i in repeats}
        stored = {(m.user_id, m.client_id): m for m in _matching_client_ids(pairs).select_related("user")}
        for i in repeats:
            existing = stored.get((requests[i].user_id, requests[i].client_id))
            if existing is None:  # stored once, then deleted by a moderator just now: nothing to answer with
                outcomes[i] = MessageInvalid()
            else:
                outcomes[i] = SendResult(payload=message_payload(message=existing), created=False)
    return outcomes


def _room_locked(room_id: int) -> Room:
    """The room row, locked until commit (created on a fresh database)."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        Room.objects.get_or_create(pk=room_id, defaults={"name": f"room {room_id}"})
        room = Room.objects.select_for_update().get(pk=room_id)
    return room


def _matching_client_ids(pairs: set[tuple[int, str]]):
    """Messages whose user is among the pairs' and client_id among theirs (a superset of
    the pairs: callers keep the exact pairs)."""
    return Message.objects.filter(user_id__in={u for u, _ in pairs}, client_id__in={c for _, c in pairs})


def _client_ids_taken(pairs: list[tuple[int, str | None]]) -> set[tuple[int, str]]:
    wanted = {(u, c) for u, c in pairs if c is not None}
    if not wanted:
        return set()
    return {pair for pair in _matching_client_ids(wanted).values_list("user_id", "client_id") if pair in wanted}


def _recent_counts(user_ids: set[int]) -> dict[int, int]:
    rows = (Message.objects.filter(user_id__in=user_ids, ts__gt=_rate_window_start())
            .values("user_id").annotate(n=Count("id")).values_list("user_id", "n"))
    return dict(rows)


def _rate_window_start() -> int:
    return time.time_ns() - settings.CHAT_MESSAGE_RATE_WINDOW_S * 1_000_000_000


def _store_in_order(room: Room, messages: list[Message]) -> list[Message]:
    """Inserts messages (room row locked by the caller) with ids taken in lock order,
    each one's prev_id the one before it, and a ts that never goes backwards whatever
    this replica's clock says; moves the room's last message to the newest."""
    if not messages:
        return messages
    last_id, last_ts = room.last_message_id, room.last_ts
    now = time.time_ns()
    for message in messages:
        message.ts = max(message.ts or now, last_ts + 1)
        last_ts = message.ts
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('livechat_message', 'id')) "
                           "FROM generate_series(1, %s)", [len(messages)])
            ids = sorted(row[0] for row in cursor.fetchall())
        for message, message_id in zip(messages, ids):
            message.id, message.prev_id, last_id = message_id, last_id, message_id
        Message.objects.bulk_create(messages)
    else:  # SQLite: one writer at a time; each insert hands out the next id
        for message in messages:
            message.prev_id = last_id
            message.save(force_insert=True)
            last_id = message.id
    Room.objects.filter(pk=room.pk).update(last_message_id=last_id, last_ts=last_ts)
    room.last_message_id, room.last_ts = last_id, last_ts
    return messages


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
    with transaction.atomic():
        room = _room_locked(room_id)
        checked = [(row, *message_check(subject=row.subject, body=row.body, client_id=row.client_id)) for row in rows]
        taken = _client_ids_taken([(row.user.pk, client_id) for row, _, _, client_id in checked])
        fresh = []
        for row, subject, body, client_id in checked:
            if client_id is not None:
                if (row.user.pk, client_id) in taken:
                    continue
                taken.add((row.user.pk, client_id))
            fresh.append(Message(room=room, user=row.user, ts=row.ts, subject=subject, body=body, client_id=client_id))
        created = _store_in_order(room, fresh)
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
