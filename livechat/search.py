"""GET /api/search: full-text search over the rooms a viewer sees, newest first.

PostgreSQL: the stored tsvector of migration 0004 (subject weighted A, body B, English
stems) under a GIN index, queried with websearch_to_tsquery (every word must match,
"quoted phrases" kept), under a statement timeout so that a very common word cannot
stall the database. SQLite (the embedded default): the FTS5 index of the same
migration with the Porter stemmer, the query built the same way (the same English
stop words dropped), so both give the same answers on ordinary text.
"""

import re

from django.conf import settings
from django.db import connection, transaction

from .models import Membership, Room
from .selectors import message_payloads_by_id

# PostgreSQL's english stop words (snowball), dropped from SQLite queries to match.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
it its itself they them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while of at by for with
about against between into through during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more most other some such no nor not only
own same so than too very s t can will just don should now
""".split())
TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WORD = re.compile(r"\w+", re.UNICODE)


def visible_room_ids(*, user_id: int | None) -> list[int]:
    public = set(Room.objects.filter(kind=Room.PUBLIC).values_list("id", flat=True))
    if user_id is not None:
        public |= set(Membership.objects.filter(user_id=user_id).values_list("room_id", flat=True))
    return sorted(public)


def _fts5_query(q: str) -> str | None:
    """websearch-style text as an FTS5 query: every word (and "quoted phrase") must match."""
    parts = []
    for phrase, word in TOKEN.findall(q):
        words = [w.lower() for w in WORD.findall(phrase or word)]
        if phrase and words:
            parts.append('"' + " ".join(words) + '"')
        else:
            parts.extend(f'"{w}"' for w in words if w not in STOP_WORDS)
    return " AND ".join(parts) or None


def message_search(*, q: str, room_ids: list[int], before: int | None, limit: int,
                   with_email: bool) -> tuple[list[dict], bool]:
    if not room_ids:
        return [], False
    before = before if before is not None else 2**63 - 1
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL statement_timeout = %s", [f"{settings.CHAT_SEARCH_TIMEOUT_MS}ms"])
            # `room_id + 0`: the visible rooms filter rows, they never drive an index (a
            # bitmap of every message of a thousand rooms cost 40 ms before the GIN match).
            cursor.execute(
                "SELECT id FROM livechat_message WHERE search @@ websearch_to_tsquery('english', %s) "
                "AND (room_id + 0) = ANY(%s) AND id < %s ORDER BY id DESC LIMIT %s",
                [q, room_ids, before, limit + 1],
            )
        else:
            match = _fts5_query(q)
            if match is None:
                return [], False
            marks = ",".join("%s" for _ in room_ids)
            cursor.execute(
                "SELECT m.id FROM livechat_message_fts f JOIN livechat_message m ON m.id = f.rowid "
                f"WHERE livechat_message_fts MATCH %s AND m.room_id IN ({marks}) AND m.id < %s "
                "ORDER BY m.id DESC LIMIT %s",
                [match, *room_ids, before, limit + 1],
            )
        ids = [row[0] for row in cursor.fetchall()]
    payloads = {p["id"]: p for p in message_payloads_by_id(ids[:limit], with_email=with_email)}
    return [payloads[i] for i in ids[:limit] if i in payloads], len(ids) > limit
