"""Writes of messages: sending, editing, deleting, reactions.

Every write visible in a room takes the room row's lock (stream.room_locked) and
appends its event to the room stream in the same transaction. messages_send (and
messages_append for imports) are the only writers of new messages: ids are taken in
lock order and committed in that order, so no message can become visible after one
with a larger id in its room, and the room row hands each message its prev_id and a
ts that never goes backwards, whatever the replicas' clocks say. A batch of sends
shares one lock and one commit per room (livechat/batching.py gathers them per process).
"""

import re
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from accounts.models import User

from chatapp import metrics

from . import clock, stream
from .models import DEFAULT_ROOM_ID, Mention, Membership, Message, Reaction, ReadState, Room
from .selectors import message_payload, reactions_of, valid_id
from .stream import frame

SUBJECT_MAX = 200
BODY_MAX = 4000
CLIENT_ID_MAX = 64
EMOJI_MAX = 16
MENTION = re.compile(r"<@(\d{1,18})>")


class MessageInvalid(Exception):
    pass


class MessageRateLimited(Exception):
    pass


class SenderInactive(Exception):
    pass


class Forbidden(Exception):
    """The user may see the thing but not do this to it (403; `forbidden` on the socket)."""


class NotFound(Exception):
    """No such thing, or one the user may not see (404)."""


@dataclass(frozen=True)
class SendResult:
    payload: dict
    created: bool
    seq: int | None = None


def _text_ok(*texts) -> bool:
    """No NUL (no database stores it as text) and no lone surrogates (from \\ud800-style escapes)."""
    try:
        for s in texts:
            s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any("\x00" in s for s in texts)


def message_check(*, subject, body, client_id) -> tuple[str, str, str | None]:
    """Bounds of the contract, in code points."""
    if subject is None:
        subject = ""
    if not isinstance(subject, str) or not isinstance(body, str):
        raise MessageInvalid()
    if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= CLIENT_ID_MAX):
        raise MessageInvalid()
    if len(subject) > SUBJECT_MAX or not 1 <= len(body) <= BODY_MAX or not body.strip():
        raise MessageInvalid()
    if not _text_ok(subject, body, client_id or ""):
        raise MessageInvalid()
    return subject, body, client_id


@dataclass(frozen=True)
class SendRequest:
    user_id: int
    subject: object
    body: object
    client_id: object = None
    room_id: object = DEFAULT_ROOM_ID
    reply_to: object = None


def message_send(*, user_id: int, subject, body, client_id=None, room_id=DEFAULT_ROOM_ID, reply_to=None) -> SendResult:
    """One message; raises MessageInvalid, MessageRateLimited, SenderInactive or Forbidden."""
    outcome = messages_send([SendRequest(user_id, subject, body, client_id, room_id, reply_to)])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def messages_send(requests: list[SendRequest]) -> list["SendResult | Exception"]:
    """Stores a batch of sends from many sockets in one transaction: per room one lock,
    and one commit (one WAL flush) for the whole batch, which is what lets a replica
    store more messages per second than one commit's round trip allows. Each request
    gets its own outcome: a SendResult, or the exception that says why it was refused
    (MessageInvalid, MessageRateLimited, SenderInactive, Forbidden). The checks run
    while the room row is locked, so they are exact even with several replicas writing."""
    outcomes: list = [None] * len(requests)
    by_room: dict[int, list] = defaultdict(list)
    for i, request in enumerate(requests):
        try:
            checked = message_check(subject=request.subject, body=request.body, client_id=request.client_id)
            if request.reply_to is not None and not valid_id(request.reply_to):
                raise MessageInvalid()
        except MessageInvalid as exc:
            outcomes[i] = exc
            continue
        if not valid_id(request.room_id):
            outcomes[i] = Forbidden()
            continue
        by_room[request.room_id].append((i, request.user_id, *checked, request.reply_to))
    repeats = []
    stored_total = 0
    if by_room:
        user_ids = {item[1] for items in by_room.values() for item in items}
        with transaction.atomic():
            senders = {u.pk: u for u in User.objects.filter(pk__in=user_ids, is_active=True).only("id", "name", "email")}
            all_checked = [(user_id, client_id) for items in by_room.values() for _, user_id, _, _, client_id, _ in items]
            taken = _client_ids_taken(all_checked)
            sent_recently = _recent_counts(user_ids) if settings.CHAT_RATE_LIMITS else {}
            for room_id in sorted(by_room):  # rooms locked in id order: no deadlock between replicas
                stored_total += _send_in_room(room_id, by_room[room_id], senders, taken, sent_recently,
                                              outcomes, repeats)
        metrics.MESSAGES_STORED.inc(stored_total)
    if repeats:  # a reconnecting client re-sends its pending messages: one query for all of them
        pairs = {(requests[i].user_id, requests[i].client_id) for i in repeats}
        stored = {(m.user_id, m.client_id): m for m in _matching_client_ids(pairs).select_related("user")}
        reactions = reactions_of(m.id for m in stored.values())
        for i in repeats:
            existing = stored.get((requests[i].user_id, requests[i].client_id))
            if existing is None:  # stored once, then deleted just now: nothing to answer with
                outcomes[i] = MessageInvalid()
            else:
                outcomes[i] = SendResult(payload=message_payload(message=existing, reactions=reactions.get(existing.id, [])),
                                         created=False, seq=existing.seq)
    return outcomes


def _send_in_room(room_id, items, senders, taken, sent_recently, outcomes, repeats) -> int:
    try:
        room = stream.room_locked(room_id)
    except Room.DoesNotExist:
        room = None
    if room is None:
        for i, *_ in items:
            outcomes[i] = Forbidden()
        return 0
    members = None
    if room_id != DEFAULT_ROOM_ID:
        members = set(Membership.objects.filter(room=room, user_id__in={item[1] for item in items})
                      .values_list("user_id", flat=True))
    replies = {item[5] for item in items if item[5] is not None}
    replies_ok = set(Message.objects.filter(room=room, id__in=replies).values_list("id", flat=True)) if replies else set()
    accepted = []
    for i, user_id, subject, body, client_id, reply_to in items:
        sender = senders.get(user_id)
        if sender is None:
            outcomes[i] = SenderInactive()
        elif members is not None and user_id not in members:
            outcomes[i] = Forbidden()
        elif client_id is not None and (user_id, client_id) in taken:
            repeats.append(i)  # answered with the stored message, after commit
        elif reply_to is not None and reply_to not in replies_ok:
            outcomes[i] = MessageInvalid()
        elif settings.CHAT_RATE_LIMITS and sent_recently.get(user_id, 0) >= settings.CHAT_MESSAGE_RATE:
            outcomes[i] = MessageRateLimited()
        else:
            sent_recently[user_id] = sent_recently.get(user_id, 0) + 1
            if client_id is not None:
                taken.add((user_id, client_id))
            accepted.append((i, Message(room=room, user=sender, subject=subject, body=body, client_id=client_id,
                                        reply_to=reply_to)))
    if not accepted:
        return 0
    messages = [m for _, m in accepted]
    _set_mentions(room, messages)
    stored = _store_and_announce(room, messages)
    # Sending marks everything up to the sender's newest message read (ids grow under the lock).
    newest = {}
    for m in stored:
        newest[m.user_id] = m.id
    ReadState.objects.bulk_create([ReadState(user_id=u, room=room, last_read_id=mid) for u, mid in newest.items()],
                                  update_conflicts=True, unique_fields=["user", "room"], update_fields=["last_read_id"])
    for (i, _), message in zip(accepted, stored):
        outcomes[i] = SendResult(payload=message.payload, created=True, seq=message.seq)
    return len(stored)


def _store_and_announce(room: Room, messages: list[Message]) -> list[Message]:
    """Stores new messages of a locked room and appends their `message` events."""
    for k, message in enumerate(messages, start=1):
        message.seq = room.last_seq + k  # the seq events_append gives its event
    stored = _store_in_order(room, messages)
    frames = [frame("message", message=message_payload(message=m, reactions=[])) for m in stored]
    stream.events_append(room, frames, [m.id for m in stored])
    for message, event in zip(stored, frames):
        message.payload = event["message"]
    _mention_rows(room, stored)
    return stored


def _mentionable(room: Room, candidates: set[int]) -> set[int]:
    """Who a mention may name: any active user in a public room, members otherwise."""
    if not candidates:
        return set()
    if room.kind == Room.PUBLIC:
        return set(User.objects.filter(pk__in=candidates, is_active=True).values_list("pk", flat=True))
    return set(Membership.objects.filter(room=room, user_id__in=candidates).values_list("user_id", flat=True))


def _parse_mentions(body: str) -> list[int]:
    seen = []
    for match in MENTION.finditer(body):
        user_id = int(match.group(1))
        if user_id not in seen:
            seen.append(user_id)
    return seen


def _set_mentions(room: Room, messages: list[Message]) -> None:
    parsed = [_parse_mentions(m.body) for m in messages]
    allowed = _mentionable(room, {u for ids in parsed for u in ids})
    for message, ids in zip(messages, parsed):
        message.mentions = [u for u in ids if u in allowed]


def _mention_rows(room: Room, messages: list[Message]) -> None:
    rows = [Mention(message_id=m.id, user_id=u, room_id=room.pk) for m in messages for u in m.mentions]
    if rows:
        Mention.objects.bulk_create(rows, ignore_conflicts=True)


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
    return clock.now_ns() - settings.CHAT_MESSAGE_RATE_WINDOW_S * 1_000_000_000


def _store_in_order(room: Room, messages: list[Message]) -> list[Message]:
    """Inserts messages (room row locked by the caller) with ids taken in lock order,
    each one's prev_id the one before it, and a ts that never goes backwards whatever
    this replica's clock says; moves the room's last message to the newest."""
    if not messages:
        return messages
    last_id, last_ts = room.last_message_id, room.last_ts
    now = clock.now_ns()
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
    """Removes messages from history, search and replay, and tells every open client
    (message_deleted, an event of each message's room)."""
    ids = list(Message.objects.filter(pk__in=list(message_ids)).values_list("room_id", "pk"))
    by_room: dict[int, list[int]] = defaultdict(list)
    for room_id, message_id in ids:
        by_room[room_id].append(message_id)
    deleted = 0
    with transaction.atomic():
        for room_id in sorted(by_room):
            room = stream.room_locked(room_id)
            gone = sorted(Message.objects.filter(room=room, pk__in=by_room[room_id]).values_list("pk", flat=True))
            Message.objects.filter(pk__in=gone).delete()
            stream.events_append(room, [frame("message_deleted", id=m) for m in gone])
            deleted += len(gone)
    return deleted


@dataclass(frozen=True)
class NewMessage:
    user: User
    body: str
    subject: str = ""
    client_id: str | None = None
    ts: int | None = None  # kept when it does not go backwards (imports); else now


def messages_append(*, rows: list[NewMessage], room_id: int = DEFAULT_ROOM_ID) -> list[Message]:
    """Bulk path for seeding and imports: one room lock for the batch, the same
    ordering rules and events as message_send (no rate limit, no membership check).
    Rows whose (user, client_id) is already stored are skipped (imports are idempotent)."""
    with transaction.atomic():
        room = stream.room_locked(room_id)
        checked = [(row, *message_check(subject=row.subject, body=row.body, client_id=row.client_id)) for row in rows]
        taken = _client_ids_taken([(row.user.pk, client_id) for row, _, _, client_id in checked])
        fresh = []
        for row, subject, body, client_id in checked:
            if client_id is not None:
                if (row.user.pk, client_id) in taken:
                    continue
                taken.add((row.user.pk, client_id))
            fresh.append(Message(room=room, user=row.user, ts=row.ts, subject=subject, body=body, client_id=client_id))
        _set_mentions(room, fresh)
        created = _store_and_announce(room, fresh)
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


# ---- edits and reactions -----------------------------------------------------------
def _message_for(*, message_id: int, user_id: int | None) -> Message:
    """The message if the user may see its room, else NotFound."""
    from .selectors import room_visible

    message = Message.objects.select_related("room", "user").filter(pk=message_id).first() if valid_id(message_id) else None
    if message is None or not room_visible(room=message.room, user_id=user_id):
        raise NotFound()
    return message


def message_edit(*, user: User, message_id: int, body, subject=None) -> dict:
    """The author's edit: bounds as for sending; the whole message in message_edited."""
    message = _message_for(message_id=message_id, user_id=user.pk)
    if message.user_id != user.pk:
        raise Forbidden()
    subject, body, _ = message_check(subject=message.subject if subject is None else subject, body=body, client_id=None)
    with transaction.atomic():
        room = stream.room_locked(message.room_id)
        message = Message.objects.select_related("user").select_for_update().filter(pk=message.pk).first()
        if message is None:
            raise NotFound()
        message.subject, message.body = subject, body
        message.edited_at = max(clock.now_ns(), message.ts + 1, (message.edited_at or 0) + 1)
        _set_mentions(room, [message])
        message.save(update_fields=["subject", "body", "edited_at", "mentions"])
        Mention.objects.filter(message=message).delete()
        _mention_rows(room, [message])
        payload = message_payload(message=message)
        stream.events_append(room, [frame("message_edited", message=payload)], [message.pk])
    return payload


def message_delete(*, user: User, message_id: int) -> None:
    """By its author, or by staff."""
    message = _message_for(message_id=message_id, user_id=user.pk)
    if message.user_id != user.pk and not user.is_staff:
        raise Forbidden()
    messages_delete(message_ids=[message.pk])


def emoji_check(emoji) -> str:
    if not isinstance(emoji, str) or not 1 <= len(emoji) <= EMOJI_MAX or not _text_ok(emoji):
        raise MessageInvalid()
    if any(ch.isspace() or ch in "\u200b\u2028\u2029\ufeff" for ch in emoji):
        raise MessageInvalid()
    return emoji


def reaction_set(*, user: User, message_id: int, emoji: str, add: bool) -> bool:
    """Idempotent: True when something changed (and a `reaction` event was appended)."""
    from .selectors import is_member

    emoji = emoji_check(emoji)
    message = _message_for(message_id=message_id, user_id=user.pk)
    if message.room.kind != Room.PUBLIC and not is_member(room=message.room, user_id=user.pk):
        raise NotFound()
    with transaction.atomic():
        room = stream.room_locked(message.room_id)
        if not Message.objects.filter(pk=message.pk).exists():
            raise NotFound()
        if add:
            try:
                with transaction.atomic():
                    _, changed = Reaction.objects.get_or_create(message_id=message.pk, emoji=emoji, user=user)
            except IntegrityError:  # the unique row won a race we did not see under the lock
                changed = False
        else:
            changed = Reaction.objects.filter(message_id=message.pk, emoji=emoji, user=user).delete()[0] > 0
        if changed:
            stream.events_append(room, [frame("reaction", message_id=message.pk, emoji=emoji, user_id=user.pk,
                                              op="add" if add else "remove")], [None])
    return changed
