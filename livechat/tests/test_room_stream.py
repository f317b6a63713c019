"""The room stream on real sockets (the ASGI application in process; with Redis on
the PostgreSQL run): who receives a room, in seq order, from when to when."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from accounts import services as account_services
from livechat import broker, rooms, services
from livechat.hub import Hub
from livechat.stream import default_room_ensure
from livechat.tests.conftest import frames_until_quiet, receive_type

pytestmark = [pytest.mark.sqlite]


@pytest.fixture
def setup_rooms(live, settings):
    settings.CHAT_RATE_LIMITS = False
    default_room_ensure()


async def room_of(user, name, kind="private"):
    return await database_sync_to_async(rooms.room_create)(user=user, name=name, kind=kind)


async def send(user, body, room_id, **extra):
    return await database_sync_to_async(services.message_send)(user_id=user.id, subject="", body=body,
                                                               room_id=room_id, **extra)


def of_room(frames, room_id):
    return [f for f in frames if f.get("room_id") == room_id or f.get("room", {}).get("id") == room_id]


async def test_auth_starts_every_member_room_and_private_content_stays_inside(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    room = await room_of(ana, "ops")
    member = await sockets(token_for=ana)
    joined = await receive_type(member, "room_joined")
    assert joined["room"]["id"] == room["id"] and joined["room"]["last_seq"] == 1
    outsider = await sockets(token_for=ben)
    guest = await sockets()
    stored = await send(ana, "for members", room["id"])
    frame = await receive_type(member, "message")
    assert frame == {"type": "message", "room_id": room["id"], "seq": 2, "message": stored.payload}
    for ws in (outsider, guest):
        assert of_room(await frames_until_quiet(ws), room["id"]) == []


async def test_a_removed_member_gets_their_member_left_and_nothing_after(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    room = await room_of(ana, "team")
    await database_sync_to_async(rooms.member_add)(actor=ana, room_id=room["id"], user_id=ben.id)
    ben_ws = await sockets(token_for=ben)
    assert (await receive_type(ben_ws, "room_joined"))["room"]["last_seq"] == 2
    await send(ana, "before", room["id"])
    await database_sync_to_async(rooms.member_remove)(actor=ana, room_id=room["id"], user_id=ben.id)
    await send(ana, "after", room["id"])
    frames = of_room(await frames_until_quiet(ben_ws), room["id"])
    assert [(f["type"], f.get("seq")) for f in frames] == [("message", 3), ("member_left", 4), ("room_left", None)]
    assert frames[1]["user_id"] == ben.id
    assert "after" not in str(frames)


async def test_an_added_member_receives_from_their_member_joined_on(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    room = await room_of(ana, "later")
    await send(ana, "before ben", room["id"])
    ben_ws = await sockets(token_for=ben)
    await database_sync_to_async(rooms.member_add)(actor=ana, room_id=room["id"], user_id=ben.id)
    await send(ana, "welcome", room["id"])
    frames = of_room(await frames_until_quiet(ben_ws), room["id"])
    assert [(f["type"], f.get("seq")) for f in frames] == [("room_joined", None), ("member_joined", 3), ("message", 4)]
    assert frames[0]["room"]["last_seq"] == 2 and "before ben" not in str(frames)


async def test_creating_a_direct_room_starts_it_on_each_members_sockets(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    ben_ws = await sockets(token_for=ben)
    room, created = await database_sync_to_async(rooms.direct_open)(user=ana, user_ids=[ben.id])
    frames = of_room(await frames_until_quiet(ben_ws), room["id"])
    assert created and frames[0]["type"] == "room_joined" and frames[0]["room"]["kind"] == "direct"
    assert [f["seq"] for f in frames[1:]] == [frames[0]["room"]["last_seq"] + 1] and frames[1]["user"]["id"] == ben.id


async def test_watch_and_unwatch_public_rooms_only(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    public = await room_of(ana, "lobby", "public")
    private = await room_of(ana, "hidden")
    guest = await sockets()
    await guest.send_json_to({"type": "watch", "room_id": public["id"]})
    assert (await receive_type(guest, "room_joined"))["room"]["id"] == public["id"]
    stored = await send(ana, "hello watchers", public["id"])
    got = await receive_type(guest, "message")
    assert got["message"]["id"] == stored.payload["id"] and "email" not in got["message"]["user"]
    for bad in (private["id"], 10**9, "x", None):
        await guest.send_json_to({"type": "watch", "room_id": bad})
        assert await receive_type(guest, "error") == {"type": "error", "reason": "not_found"}
    await guest.send_json_to({"type": "unwatch", "room_id": public["id"]})
    assert await receive_type(guest, "room_left") == {"type": "room_left", "room_id": public["id"]}
    await send(ana, "gone", public["id"])
    assert of_room(await frames_until_quiet(guest), public["id"]) == []


async def test_at_most_twenty_watches(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ids = [(await room_of(ana, f"w{i}", "public"))["id"] for i in range(21)]
    guest = await sockets()
    for room_id in ids[:20]:
        await guest.send_json_to({"type": "watch", "room_id": room_id})
        await receive_type(guest, "room_joined")
    await guest.send_json_to({"type": "watch", "room_id": ids[20]})
    assert await receive_type(guest, "error") == {"type": "error", "reason": "too_many_watches"}


async def test_typing_reaches_the_others_paced_and_never_the_typist(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    room = await room_of(ana, "typing")
    await database_sync_to_async(rooms.member_add)(actor=ana, room_id=room["id"], user_id=ben.id)
    ana_ws, ana_tab = await sockets(token_for=ana), await sockets(token_for=ana)
    ben_ws = await sockets(token_for=ben)
    await frames_until_quiet(ana_ws)
    await frames_until_quiet(ana_tab)
    await frames_until_quiet(ben_ws)
    for _ in range(3):
        await ana_ws.send_json_to({"type": "typing", "room_id": room["id"]})
    typing = [f for f in await frames_until_quiet(ben_ws, 0.5) if f["type"] == "typing"]
    assert typing == [{"type": "typing", "room_id": room["id"], "user": {"id": ana.id, "name": "Ana",
                                                                        "email": ana.email}}]
    assert [f for f in await frames_until_quiet(ana_tab) if f["type"] == "typing"] == []
    guest = await sockets()
    await guest.send_json_to({"type": "typing", "room_id": 1})  # guests cannot type: dropped silently
    assert [f for f in await frames_until_quiet(ben_ws) if f["type"] == "typing"] == []


async def test_read_is_pushed_to_every_socket_of_the_user_once(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    m = await send(ben, "read me", 1)
    a1, a2 = await sockets(token_for=ana), await sockets(token_for=ana)
    await a1.send_json_to({"type": "read", "room_id": 1, "message_id": m.payload["id"]})
    expected = {"type": "read", "room_id": 1, "message_id": m.payload["id"]}
    assert await receive_type(a1, "read") == expected and await receive_type(a2, "read") == expected
    await a2.send_json_to({"type": "read", "room_id": 1, "message_id": m.payload["id"]})
    assert [f for f in await frames_until_quiet(a1) if f["type"] == "read"] == []
    await a2.send_json_to({"type": "read", "room_id": 1, "message_id": 10**9})
    assert await receive_type(a2, "error") == {"type": "error", "reason": "invalid"}


async def test_socket_messages_into_rooms(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    ben = await database_sync_to_async(make_user)(name="Ben")
    room = await room_of(ana, "writers")
    ben_ws = await sockets(token_for=ben)
    await ben_ws.send_json_to({"type": "message", "room_id": room["id"], "body": "let me in", "client_id": "b1"})
    assert await receive_type(ben_ws, "message_failed") == {"type": "message_failed", "client_id": "b1",
                                                             "reason": "forbidden"}
    await ben_ws.send_json_to({"type": "message", "room_id": 10**9, "body": "nowhere", "client_id": "b2"})
    assert (await receive_type(ben_ws, "message_failed"))["reason"] == "forbidden"
    ana_ws = await sockets(token_for=ana)
    await frames_until_quiet(ana_ws)
    elsewhere = await send(ben, "in general", 1)
    await frames_until_quiet(ana_ws)
    await ana_ws.send_json_to({"type": "message", "room_id": room["id"], "body": "re", "reply_to": elsewhere.payload["id"],
                               "client_id": "a1"})
    assert (await receive_type(ana_ws, "message_failed"))["reason"] == "invalid"
    await ana_ws.send_json_to({"type": "message", "room_id": room["id"], "body": "ok", "client_id": "a2"})
    first = await receive_type(ana_ws, "message")
    await ana_ws.send_json_to({"type": "message", "room_id": room["id"], "body": "ok", "client_id": "a2"})
    again = await receive_type(ana_ws, "message")
    assert again["seq"] == first["seq"] and again["room_id"] == room["id"] and again["message"] == first["message"]


async def test_a_ban_drops_private_rooms_with_room_left(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    room = await room_of(ana, "banned")
    public = await room_of(ana, "open", "public")
    ws = await sockets(token_for=ana)
    await frames_until_quiet(ws)
    await database_sync_to_async(account_services.user_set_active)(user=ana, active=False)
    frames = await frames_until_quiet(ws, 1.0)
    kinds = [f["type"] for f in frames if f["type"] != "user_count"]
    assert kinds[0] == "auth_failed"
    assert sorted(f["room_id"] for f in frames if f["type"] == "room_left") == sorted([room["id"], public["id"]])


async def test_a_lost_publish_is_repaired_by_the_tail_poll(sockets, make_user, setup_rooms, monkeypatch):
    """A replica killed between commit and PUBLISH: nothing follows the event, yet every
    viewer gets it (each hub's tail poll reads every followed room's last_seq)."""
    ana = await database_sync_to_async(make_user)(name="Ana")
    room = await room_of(ana, "lossy")
    ws = await sockets(token_for=ana)
    await frames_until_quiet(ws)
    monkeypatch.setattr(broker, "publish", lambda group, event: None)  # the event never leaves
    stored = await send(ana, "lost publish", room["id"])
    got = await receive_type(ws, "message", timeout=5)
    assert got["seq"] == 2 and got["message"]["id"] == stored.payload["id"]


async def test_the_hub_follows_a_room_only_while_it_has_a_local_viewer(sockets, make_user, setup_rooms):
    ana = await database_sync_to_async(make_user)(name="Ana")
    room = await room_of(ana, "follow")
    ws = await sockets(token_for=ana)
    await receive_type(ws, "room_joined")
    hub = Hub.current()
    assert room["id"] in hub.rooms
    await ws.disconnect()
    await asyncio.sleep(0.1)
    assert room["id"] not in hub.rooms and 1 in hub.rooms
