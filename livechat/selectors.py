"""Reads of messages. Every page is an index range scan on (room, id) or (room, ts, id)."""

from .models import DEFAULT_ROOM_ID, Message


def message_payload(*, message: Message, with_email: bool = True) -> dict:
    user = message.user
    row = (message.id, message.ts, message.subject, message.body, message.client_id, message.prev_id,
           user.id, user.name, user.email)
    return _payloads([row], with_email=with_email)[0]


def _base(room_id: int):
    return Message.objects.filter(room_id=room_id)


_FIELDS = ("id", "ts", "subject", "body", "client_id", "prev_id", "user_id", "user__name", "user__email")


def _payloads(rows, *, with_email: bool = True) -> list[dict]:
    """The contract's Message objects from rows of _FIELDS (pages read rows, not model
    instances: they are hot). The user is accounts.selectors.user_public's shape."""
    out = []
    for message_id, ts, subject, body, client_id, prev_id, user_id, name, email in rows:
        user = {"id": user_id, "name": name, "email": email} if with_email else {"id": user_id, "name": name}
        out.append({"id": message_id, "ts": ts, "subject": subject, "body": body, "client_id": client_id,
                    "prev_id": prev_id, "user": user})
    return out


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


def message_list_between(*, after: int, before: int, room_id: int = DEFAULT_ROOM_ID, limit: int = 500) -> list[dict]:
    """Payloads of the messages with after < id < before, oldest first (the hub's gap repair)."""
    return _payloads(_base(room_id).filter(id__gt=after, id__lt=before).order_by("id").values_list(*_FIELDS)[:limit])


def room_last_message_id(*, room_id: int = DEFAULT_ROOM_ID) -> int:
    from .models import Room

    return Room.objects.filter(pk=room_id).values_list("last_message_id", flat=True).first() or 0
