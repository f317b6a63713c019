"""Sends stored in batches (livechat/batching.py, services.messages_send): one room lock
and one commit for many messages, with every request's own outcome, and the hub's
one-write-per-socket delivery of a batch."""

import pytest
from channels.db import database_sync_to_async

from livechat import services
from livechat.models import Message, Room
from livechat.services import SendRequest
from livechat.tests.conftest import frames_until_quiet, receive_type

pytestmark = [pytest.mark.sqlite]


@pytest.mark.django_db(transaction=True)
def test_a_mixed_batch_gives_each_request_its_own_outcome(make_user, settings):
    settings.CHAT_RATE_LIMITS = True
    settings.CHAT_MESSAGE_RATE = 3
    alice, bob = make_user(), make_user()
    banned = make_user(is_active=False)
    earlier = services.message_send(user_id=alice.id, subject="", body="earlier", client_id="a-1").payload
    outcomes = services.messages_send([
        SendRequest(alice.id, "", "one"),                          # stored
        SendRequest(bob.id, "", " "),                              # invalid: blank
        SendRequest(banned.id, "", "from a banned user"),          # sender inactive
        SendRequest(alice.id, "", "retry", client_id="a-1"),       # stored before: answered with it
        SendRequest(bob.id, "s", "two", client_id="b-1"),          # stored
        SendRequest(bob.id, "", "same again", client_id="b-1"),    # repeated within the batch
        SendRequest(alice.id, "", "three"),                        # stored (alice's third)
        SendRequest(alice.id, "", "four"),                         # rate limited
    ])
    kinds = [type(o).__name__ if isinstance(o, Exception) else o.created for o in outcomes]
    assert kinds == [True, "MessageInvalid", "SenderInactive", False, True, False, True, "MessageRateLimited"]
    assert outcomes[3].payload == earlier
    assert outcomes[5].payload == outcomes[4].payload
    stored = list(Message.objects.order_by("id").values_list("id", "prev_id", "ts", "body"))
    assert [b for *_, b in stored] == ["earlier", "one", "two", "three"]
    assert [p for _, p, _, _ in stored[1:]] == [i for i, *_ in stored[:-1]]  # the chain is exact
    assert [t for _, _, t, _ in stored] == sorted({t for _, _, t, _ in stored})  # ts strictly increasing
    room = Room.objects.get()
    assert (room.last_message_id, room.last_ts) == stored[-1][:1] + stored[-1][2:3]
    assert [o.payload["id"] for o in outcomes if not isinstance(o, Exception) and o.created] == [i for i, *_ in stored[1:]]


@pytest.mark.django_db(transaction=True)
def test_a_batch_keeps_ts_increasing_when_this_replicas_clock_is_behind(make_user, monkeypatch):
    alice = make_user()
    first = services.message_send(user_id=alice.id, subject="", body="from a replica whose clock is ahead").payload
    Room.objects.update(last_ts=first["ts"] + 3_600 * 10**9)  # the other replica ran an hour ahead
    outcomes = services.messages_send([SendRequest(alice.id, "", f"m{i}") for i in range(5)])
    ts = [o.payload["ts"] for o in outcomes]
    assert ts == sorted(set(ts)) and ts[0] == first["ts"] + 3_600 * 10**9 + 1


async def test_one_socket_pipelines_sends_and_hears_back_in_order(sockets, make_user, settings, monkeypatch):
    """The socket's frames are read while earlier ones are stored, so a burst shares
    batches; it is stored in the order sent, every socket gets each message once, in
    id order, and the sender's failure comes back for the right client_id."""
    settings.CHAT_RATE_LIMITS = False
    batches = []
    real = services.messages_send

    def spy(requests, **kwargs):
        batches.append(len(requests))
        return real(requests, **kwargs)

    monkeypatch.setattr(services, "messages_send", spy)
    alice = await database_sync_to_async(make_user)()
    sender = await sockets(token_for=alice)
    guest = await sockets()
    for i in range(60):
        body = " " if i == 30 else f"burst {i}"
        await sender.send_json_to({"type": "message", "subject": "", "body": body, "client_id": f"c{i}"})
    expected = [f"burst {i}" for i in range(60) if i != 30]
    for ws in (sender, guest):
        frames = await frames_until_quiet(ws, quiet=1.0)
        messages = [f["message"] for f in frames if f["type"] == "message"]
        assert [m["body"] for m in messages] == expected
        assert [m["prev_id"] for m in messages[1:]] == [m["id"] for m in messages[:-1]]
        failures = [f for f in frames if f["type"] == "message_failed"]
        assert failures == ([{"type": "message_failed", "client_id": "c30", "reason": "invalid"}] if ws is sender else [])
    stored = await database_sync_to_async(lambda: list(Message.objects.order_by("id").values_list("body", flat=True)))()
    assert stored == expected
    assert sum(batches) == 60 and max(batches) > 1  # sent without waiting, stored together


class RecordingSink:
    def __init__(self):
        self.writes = []

    def write(self, frame):
        self.writes.append(frame.texts)


async def test_the_hub_writes_a_batch_once_per_socket_and_repairs_a_gap_inside_it(live, make_user):
    import asyncio
    import json

    from livechat.hub import Connection, Hub, RoomView
    from livechat.selectors import rooms_by_id
    from livechat.stream import events_between

    alice = await database_sync_to_async(make_user)()
    await database_sync_to_async(services.messages_send)([SendRequest(alice.id, "", f"m{i}") for i in range(5)])
    e = await database_sync_to_async(events_between)(room_id=1, after=0)
    hub = Hub(asyncio.get_running_loop())
    info = (await database_sync_to_async(rooms_by_id)([1]))[0]
    view = hub.rooms[1] = RoomView(info, cursor=e[0]["seq"])
    signed_in, guest = Connection(RecordingSink()), Connection(RecordingSink())
    signed_in.user = {"id": alice.id, "name": alice.name, "email": alice.email}
    view.conns.update({signed_in, guest})

    await hub._on_events(view, [e[0], e[1], e[2]])  # e[0] was delivered already
    await hub._on_events(view, [e[4]])  # e[3]'s publish was lost: repaired from storage first
    for conn, with_email in ((signed_in, True), (guest, False)):
        writes = [[json.loads(t) for t in texts] for texts in conn.sink.writes]
        assert [[x["seq"] for x in w] for w in writes] == [[e[1]["seq"], e[2]["seq"]], [e[3]["seq"]], [e[4]["seq"]]]
        assert all(("email" in x["message"]["user"]) is with_email for w in writes for x in w)
    assert view.cursor == e[4]["seq"]


async def test_a_burst_of_sign_ins_shares_queries_and_each_socket_gets_its_own_answer(sockets, make_user, monkeypatch):
    import accounts.selectors
    from accounts.tokens import access_token_issue
    from livechat import hub as hub_module

    batches = []
    real = accounts.selectors.users_active

    def spy(user_ids):
        batches.append(len(user_ids))
        return real(user_ids)

    monkeypatch.setattr(hub_module, "users_active", spy)
    users = [await database_sync_to_async(make_user)() for _ in range(12)]
    banned = await database_sync_to_async(make_user)(is_active=False)
    clients = [await sockets() for _ in range(13)]
    for ws, user in zip(clients, users + [banned]):
        await ws.send_json_to({"type": "auth", "token": access_token_issue(user=user)})
    for ws, user in zip(clients, users):
        assert (await receive_type(ws, "auth"))["user"]["id"] == user.id
    assert await receive_type(clients[-1], "auth_failed") == {"type": "auth_failed"}
    assert sum(batches) == 13 and max(batches) > 1


async def test_a_refusal_never_overtakes_an_earlier_messages_outcome(sockets, make_user, monkeypatch):
    import asyncio
    import time as time_module

    from livechat.hub import Hub

    real = services.messages_send

    def slow(requests, **kwargs):
        time_module.sleep(0.3)  # the first message is still being stored when the second is refused
        return real(requests, **kwargs)

    monkeypatch.setattr(services, "messages_send", slow)
    alice = await database_sync_to_async(make_user)()
    sender = await sockets(token_for=alice)
    await sender.send_json_to({"type": "message", "subject": "", "body": "first", "client_id": "c1"})
    await asyncio.sleep(0.1)
    for conn in Hub.current().conns:
        conn.auth_exp = 0  # the access token expires between the two frames
    await sender.send_json_to({"type": "message", "subject": "", "body": "second", "client_id": "c2"})
    frames = [f for f in await frames_until_quiet(sender, quiet=1.0) if f["type"] != "user_count"]
    assert [f["type"] for f in frames] == ["message", "message_failed", "refresh"], frames
    assert frames[0]["message"]["client_id"] == "c1"
    assert frames[1] == {"type": "message_failed", "client_id": "c2", "reason": "token_expired"}
