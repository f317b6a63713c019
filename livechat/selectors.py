"""Reads of messages. Every page is an index range scan on (room, id) or (room, ts, id)."""

from accounts.selectors import user_public

from .models import DEFAULT_ROOM_ID, Message


def message_payload(*, message: Message, with_email: bool = True) -> dict:
    return {
        "id": message.id,
        "ts": message.ts,
        "subject": message.subject,
        "body": message.body,
        "client_id": message.client_id,
        "prev_id": message.prev_id,
        "user": user_public(user=message.user, with_email=with_email),
    }


def _base(room_id: int):
    return Message.objects.filter(room_id=room_id).select_related("user")


def message_page(
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
    last_timestamp: int | None = None,
    room_id: int = DEFAULT_ROOM_ID,
) -> tuple[list[Message], bool]:
    """One page, oldest first, and whether more exist beyond it in the paging direction."""
    if after is not None:
        rows = list(_base(room_id).filter(id__gt=after).order_by("id")[: limit + 1])
        return rows[:limit], len(rows) > limit
    qs = _base(room_id)
    if before is not None:
        qs = qs.filter(id__lt=before).order_by("-id")
    elif last_timestamp is not None:
        qs = qs.filter(ts__lt=last_timestamp).order_by("-ts", "-id")
    else:
        qs = qs.order_by("-id")
    rows = list(qs[: limit + 1])
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


def message_list_between(*, after: int, before: int, room_id: int = DEFAULT_ROOM_ID, limit: int = 500) -> list[dict]:
    """Payloads of the messages with after < id < before, oldest first (the hub's gap repair)."""
    rows = _base(room_id).filter(id__gt=after, id__lt=before).order_by("id")[:limit]
    return [message_payload(message=m) for m in rows]


def room_last_message_id(*, room_id: int = DEFAULT_ROOM_ID) -> int:
    from .models import Room

    return Room.objects.filter(pk=room_id).values_list("last_message_id", flat=True).first() or 0
