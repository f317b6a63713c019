"""Reads of messages and rooms. Every page is an index range scan on (room, id) or (room, ts, id)."""

from collections import defaultdict

from django.db import models
from django.db.models import Count

from accounts.models import User

from .models import DEFAULT_ROOM_ID, Membership, Message, Reaction, Room

_FIELDS = ("id", "ts", "subject", "body", "client_id", "prev_id", "user_id", "user__name", "user__email",
           "room_id", "edited_at", "reply_to", "mentions")


def message_payload(*, message: Message, with_email: bool = True, reactions: list | None = None) -> dict:
    user = message.user
    row = (message.id, message.ts, message.subject, message.body, message.client_id, message.prev_id,
           user.id, user.name, user.email, message.room_id, message.edited_at, message.reply_to, message.mentions)
    payload = _payloads([row], with_email=with_email, with_reactions=reactions is None)[0]
    if reactions is not None:
        payload["reactions"] = reactions
    return payload


def _base(room_id: int):
    return Message.objects.filter(room_id=room_id)


def reactions_of(message_ids) -> dict[int, list[dict]]:
    """Each message's reactions: emojis in the order first added, users in the order they reacted."""
    grouped: dict[int, dict[str, list[int]]] = defaultdict(dict)
    rows = Reaction.objects.filter(message_id__in=list(message_ids)).order_by("id").values_list(
        "message_id", "emoji", "user_id")
    for message_id, emoji, user_id in rows:
        grouped[message_id].setdefault(emoji, []).append(user_id)
    return {mid: [{"emoji": e, "user_ids": ids} for e, ids in by_emoji.items()] for mid, by_emoji in grouped.items()}


def _payloads(rows, *, with_email: bool = True, with_reactions: bool = True) -> list[dict]:
    """The contract's Message objects from rows of _FIELDS (pages read rows, not model
    instances: they are hot). The user is accounts.selectors.user_public's shape."""
    rows = list(rows)
    reactions = reactions_of(r[0] for r in rows) if with_reactions and rows else {}
    out = []
    for (message_id, ts, subject, body, client_id, prev_id, user_id, name, email,
         room_id, edited_at, reply_to, mentions) in rows:
        user = {"id": user_id, "name": name, "email": email} if with_email else {"id": user_id, "name": name}
        out.append({"id": message_id, "ts": ts, "subject": subject, "body": body, "client_id": client_id,
                    "prev_id": prev_id, "user": user, "room_id": room_id, "edited_at": edited_at,
                    "reply_to": reply_to, "mentions": mentions or [], "reactions": reactions.get(message_id, [])})
    return out


def message_payloads_by_id(message_ids, *, with_email: bool = True) -> list[dict]:
    rows = Message.objects.filter(id__in=list(message_ids)).order_by("id").values_list(*_FIELDS)
    return _payloads(rows, with_email=with_email)


def message_page(
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
    last_timestamp: int | None = None,
    room_id: int = DEFAULT_ROOM_ID,
    with_email: bool = True,
) -> tuple[list[dict], bool]:
    """One page of payloads, oldest first, and whether more exist beyond it in the paging direction."""
    if after is not None:
        rows = list(_base(room_id).filter(id__gt=after).order_by("id").values_list(*_FIELDS)[: limit + 1])
        return _payloads(rows[:limit], with_email=with_email), len(rows) > limit
    qs = _base(room_id)
    if before is not None:
        qs = qs.filter(id__lt=before).order_by("-id")
    elif last_timestamp is not None:
        qs = qs.filter(ts__lt=last_timestamp).order_by("-ts", "-id")
    else:
        qs = qs.order_by("-id")
    rows = list(qs.values_list(*_FIELDS)[: limit + 1])
    has_more = len(rows) > limit
    return _payloads(reversed(rows[:limit]), with_email=with_email), has_more


def room_last_seq(*, room_id: int = DEFAULT_ROOM_ID) -> int:
    return Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).first() or 0


def rooms_last_seq(room_ids) -> dict[int, int]:
    """The hub's tail poll: one query for every room it follows (on PostgreSQL one array
    parameter, however many rooms: it runs every 2 s with thousands of them)."""
    from django.db import connection

    ids = list(room_ids)
    if connection.vendor != "postgresql":
        return dict(Room.objects.filter(pk__in=ids).values_list("id", "last_seq"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, last_seq FROM livechat_room WHERE id = ANY(%s)", [ids])
        return dict(cursor.fetchall())


# ---- rooms -------------------------------------------------------------------------
def room_visible(*, room: Room, user_id: int | None) -> bool:
    """Public rooms to anyone; private and direct rooms to their members only."""
    if room.kind == Room.PUBLIC:
        return True
    return user_id is not None and Membership.objects.filter(room=room, user_id=user_id).exists()


def valid_id(value) -> bool:
    """An id as clients may send it: an integer (not a bool) that fits a bigint."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def room_get_visible(*, room_id, user_id: int | None) -> Room | None:
    room = Room.objects.filter(pk=room_id).first() if valid_id(room_id) else None
    if room is None or not room_visible(room=room, user_id=user_id):
        return None
    return room


def room_is_public(*, room_id: int) -> bool:
    return Room.objects.filter(pk=room_id, kind=Room.PUBLIC).exists()


def is_member(*, room: Room, user_id: int | None) -> bool:
    if user_id is None:
        return False
    if room.pk == DEFAULT_ROOM_ID:
        return User.objects.filter(pk=user_id, is_active=True).exists()
    return Membership.objects.filter(room=room, user_id=user_id).exists()


def _member_counts(rooms: list[Room]) -> dict[int, int]:
    ids = [r.pk for r in rooms if r.pk != DEFAULT_ROOM_ID]
    counts = dict(Membership.objects.filter(room_id__in=ids).values("room_id").annotate(n=Count("id"))
                  .values_list("room_id", "n")) if ids else {}
    if any(r.pk == DEFAULT_ROOM_ID for r in rooms):
        counts[DEFAULT_ROOM_ID] = User.objects.filter(is_active=True).count()
    return counts


def _direct_members(rooms: list[Room], *, with_email: bool) -> dict[int, list[dict]]:
    ids = [r.pk for r in rooms if r.kind == Room.DIRECT]
    out: dict[int, list[dict]] = defaultdict(list)
    if ids:
        rows = Membership.objects.filter(room_id__in=ids).order_by("user_id").values_list(
            "room_id", "user_id", "user__name", "user__email")
        for room_id, user_id, name, email in rows:
            out[room_id].append({"id": user_id, "name": name, "email": email} if with_email
                                else {"id": user_id, "name": name})
    return out


def room_payloads(rooms: list[Room], *, with_email: bool = True) -> list[dict]:
    counts = _member_counts(rooms)
    members = _direct_members(rooms, with_email=with_email)
    out = []
    for room in rooms:
        data = {"id": room.pk, "kind": room.kind, "name": room.name, "topic": room.topic,
                "member_count": counts.get(room.pk, 0), "last_seq": room.last_seq}
        if room.kind == Room.DIRECT:
            data["members"] = members.get(room.pk, [])
        out.append(data)
    return out


def room_payload(*, room: Room, with_email: bool = True) -> dict:
    return room_payloads([room], with_email=with_email)[0]


def rooms_by_id(room_ids) -> list[dict]:
    """Room payloads (emails included) for the hub, read in one go."""
    return room_payloads(list(Room.objects.filter(pk__in=list(room_ids)).order_by("id")))


def is_member_since(*, room_id: int, user_id: int, seq: int) -> bool:
    return Membership.objects.filter(room_id=room_id, user_id=user_id, joined_seq=seq).exists()


def membership_last_id() -> int:
    return Membership.objects.order_by("-id").values_list("id", flat=True).first() or 0


def memberships_after(*, after_id: int, user_ids: list[int]) -> list[tuple[int, int, int, int]]:
    """(id, user_id, room_id, joined_seq) of the memberships of these users with a larger id."""
    return list(Membership.objects.filter(id__gt=after_id, user_id__in=user_ids).order_by("id")
                .values_list("id", "user_id", "room_id", "joined_seq"))


def member_rooms_info(*, user_id: int, room_ids) -> list[dict]:
    """Room payloads with the user's joined_seq, for the rooms among room_ids the user is
    still a member of: membership and last_seq read by one statement."""
    rows = list(Room.objects.filter(pk__in=list(room_ids), memberships__user_id=user_id)
                .annotate(joined_seq=models.F("memberships__joined_seq")).order_by("id"))
    return [dict(payload, joined_seq=room.joined_seq) for room, payload in zip(rows, room_payloads(rows))]


def member_rooms_of_users(user_ids: list[int]) -> list[list[tuple[int, int]]]:
    """Each user's (room_id, joined_seq): one query for a burst of sign-ins."""
    found: dict[int, list] = defaultdict(list)
    for user_id, room_id, joined_seq in Membership.objects.filter(user_id__in=set(user_ids)).values_list(
            "user_id", "room_id", "joined_seq"):
        found[user_id].append((room_id, joined_seq))
    return [found.get(user_id, []) for user_id in user_ids]


UNREAD_CAP = 1000


def _capped_count(qs) -> int:
    return qs[:UNREAD_CAP].count()


def room_list(*, user_id: int | None, with_email: bool) -> list[dict]:
    """GET /api/rooms: the public rooms and the viewer's own, with read state."""
    from .models import Mention, ReadState

    mine = set(Membership.objects.filter(user_id=user_id).values_list("room_id", flat=True)) if user_id else set()
    rooms = list((Room.objects.filter(kind=Room.PUBLIC) | Room.objects.filter(pk__in=mine)).distinct().order_by("id"))
    reads = dict(ReadState.objects.filter(user_id=user_id).values_list("room_id", "last_read_id")) if user_id else {}
    out = []
    for room, data in zip(rooms, room_payloads(rooms, with_email=with_email)):
        member = user_id is not None and (room.pk in mine or room.pk == DEFAULT_ROOM_ID)
        last_read = reads.get(room.pk) if member else None
        unread = mentions = 0
        if member:
            after = last_read or 0
            unread = _capped_count(Message.objects.filter(room=room, id__gt=after).exclude(user_id=user_id)
                                   .values("id"))
            mentions = _capped_count(Mention.objects.filter(user_id=user_id, room_id=room.pk, message_id__gt=after)
                                     .values("id"))
        out.append({**data, "member": member, "last_read_id": last_read, "unread": unread, "mentions": mentions})
    return out


def room_members(*, room: Room, with_email: bool) -> list[dict]:
    def public(user_id, name, email):
        return {"id": user_id, "name": name, "email": email} if with_email else {"id": user_id, "name": name}

    if room.pk == DEFAULT_ROOM_ID:
        rows = User.objects.filter(is_active=True).order_by("name", "id").values_list("id", "name", "email")
        return [{"user": public(*row), "role": Membership.MEMBER} for row in rows]
    rows = room.memberships.order_by("id").values_list("user_id", "user__name", "user__email", "role")
    return [{"user": public(u, n, e), "role": role} for u, n, e, role in rows]


def users_search(*, q: str, with_email: bool = True) -> list[dict]:
    """Active users whose name has a word starting with q, or whose email starts with q."""
    from django.db.models import Q

    matches = (User.objects.filter(is_active=True)
               .filter(Q(name__istartswith=q) | Q(name__icontains=" " + q) | Q(email__istartswith=q))
               .order_by("name", "id").values_list("id", "name", "email")[:20])
    return [{"id": i, "name": n, "email": e} if with_email else {"id": i, "name": n} for i, n, e in matches]
