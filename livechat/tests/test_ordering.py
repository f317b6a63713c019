"""Ids follow visibility order on PostgreSQL: a reader that only ever asks for
`after=<largest id seen>` while four writers insert concurrently still sees every
message. With ids taken from the sequence by concurrent transactions (no room lock),
a transaction holding a smaller id can commit after a larger one is visible, and such
a reader skips it for good."""

import threading

import pytest
from django.db import connection, connections

from livechat import services
from livechat.selectors import message_page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("batch", [1, 10], ids=["one per transaction", "batches of 10"])
def test_a_reader_following_after_misses_nothing_under_concurrent_writers(make_user, settings, batch):
    assert connection.vendor == "postgresql"
    settings.CHAT_RATE_LIMITS = False
    writers = [make_user() for _ in range(4)]
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(user):
        try:
            for i in range(0, 150, batch):
                services.messages_send([services.SendRequest(user.id, "", f"{user.id}-{j}") for j in range(i, i + batch)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def read():
        last = 0
        try:
            while True:
                finished = done.is_set()
                page, _ = message_page(limit=100, after=last)
                for message in page:
                    seen.append(message["id"])
                    last = message["id"]
                if finished and not page:
                    return
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(u,)) for u in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(30)
    from livechat.models import Message

    stored = list(Message.objects.order_by("id").values_list("id", "prev_id"))
    assert not errors, errors
    assert len(stored) == 600
    assert seen == [i for i, _ in stored]  # nothing skipped, nothing twice
    assert [p for _, p in stored[1:]] == [i for i, _ in stored[:-1]]  # the chain is exact
