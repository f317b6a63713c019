"""Rooms across three real daphne replicas behind nginx, on PostgreSQL and Redis, with
a third of the broker's publishes dropped: every room is a stream (dense seq, no
duplicates, repaired from storage), private content stays inside, membership is
ordered with the messages it governs on every replica, and direct rooms are one per
set even when created at once from several replicas."""

import asyncio
import concurrent.futures
import time

import pytest

from tests.wsclient import ChatClient, http_json, register_and_login

pytestmark = [pytest.mark.timeout(240), pytest.mark.cluster]


@pytest.fixture(scope="module")
def lossy(cluster_factory):
    return cluster_factory(port=8300, redis_db=13, database="chat_rooms_cluster", CHAT_FAULT_PUBLISH_DROP="0.3")


def ws_url(port):
    return f"ws://127.0.0.1:{port}/ws/chat"


def api(cluster, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http_json(method, f"{cluster.url}{path}", body, headers)


def person(cluster, name):
    return register_and_login(cluster.url, f"{name.lower()}-{time.time_ns()}@example.com", name)


def room_frames(client, room_id):
    return [f for f in client.frames if f.get("room_id") == room_id or f.get("room", {}).get("id") == room_id]


def assert_stream(frames, start):
    """Event frames of one room: seq dense from start + 1, no duplicates."""
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == list(range(start + 1, start + 1 + len(seqs))), seqs


async def test_private_room_stream_on_every_replica_with_lost_publishes(lossy):
    ports = [m.port for m in lossy.members]
    owner_token, owner = person(lossy, "Owner")
    member_token, member = person(lossy, "Member")
    outsider_token, _ = person(lossy, "Outsider")
    status, room, _ = api(lossy, "POST", "/api/rooms", owner_token, {"name": f"ops-{time.time_ns()}", "kind": "private"})
    assert status == 201, room
    assert api(lossy, "POST", f"/api/rooms/{room['id']}/members", owner_token, {"user_id": member["id"]})[0] == 201
    members = [await ChatClient(ws_url(p)).connect(member_token) for p in ports]
    outsiders = [await ChatClient(ws_url(p)).connect(outsider_token) for p in ports] + \
                [await ChatClient(ws_url(p)).connect() for p in ports]
    for client in members:
        assert await client.wait(lambda c=client: room_frames(c, room["id"]), 10)
    start = room_frames(members[0], room["id"])[0]["room"]["last_seq"]
    sender = await ChatClient(ws_url(ports[0])).connect(owner_token)
    for n in range(60):
        await sender.send({"type": "message", "room_id": room["id"], "body": f"p{n}", "client_id": f"p{n}"})
    for client in members:
        assert await client.wait(lambda c=client: len([f for f in room_frames(c, room["id"]) if f["type"] == "message"]) >= 60, 30), \
            lossy.logs()
        assert_stream(room_frames(client, room["id"])[1:], start)
    await asyncio.sleep(0.5)
    for client in outsiders:
        assert room_frames(client, room["id"]) == [] and "p1" not in str(client.frames)
    # replay gives exactly what was pushed
    status, replay, _ = api(lossy, "GET", f"/api/rooms/{room['id']}/events?after={start}&limit=500", member_token)
    pushed = [{k: v for k, v in f.items() if k != "_at"} for f in room_frames(members[1], room["id"])[1:]]
    assert status == 200 and replay["events"] == pushed
    await asyncio.gather(*(c.close() for c in [*members, *outsiders, sender]))


async def test_a_member_removed_while_another_replica_sends_gets_nothing_after(lossy):
    ports = [m.port for m in lossy.members]
    owner_token, owner = person(lossy, "Owner2")
    member_token, member = person(lossy, "Member2")
    _, room, _ = api(lossy, "POST", "/api/rooms", owner_token, {"name": f"rm-{time.time_ns()}", "kind": "private"})
    api(lossy, "POST", f"/api/rooms/{room['id']}/members", owner_token, {"user_id": member["id"]})
    watchers = [await ChatClient(ws_url(p)).connect(member_token) for p in ports]
    for client in watchers:
        assert await client.wait(lambda c=client: room_frames(c, room["id"]), 10)
    sender = await ChatClient(ws_url(ports[0])).connect(owner_token)

    async def keep_sending():
        for n in range(80):
            await sender.send({"type": "message", "room_id": room["id"], "body": f"r{n}", "client_id": f"r{n}"})
            await asyncio.sleep(0.01)

    sending = asyncio.create_task(keep_sending())
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    status = (await loop.run_in_executor(None, lambda: api(
        lossy, "DELETE", f"/api/rooms/{room['id']}/members/{member['id']}", owner_token)))[0]
    assert status == 204
    await sending
    for client in watchers:
        assert await client.wait(lambda c=client: any(f["type"] == "room_left" for f in room_frames(c, room["id"])), 10)
    await asyncio.sleep(1.0)
    for client in watchers:
        frames = room_frames(client, room["id"])
        left = [i for i, f in enumerate(frames) if f["type"] == "member_left"]
        assert len(left) == 1 and frames[left[0]]["user_id"] == member["id"], frames
        assert [f["type"] for f in frames[left[0] + 1:]] == ["room_left"], frames[left[0]:]
        assert_stream(frames[1:left[0] + 1], frames[0]["room"]["last_seq"])
    await asyncio.gather(*(c.close() for c in [*watchers, sender]))


async def test_added_on_one_replica_starts_the_room_on_every_replica(lossy):
    """Per-user events: the user's sockets on replicas that follow no viewer of the room still start it."""
    ports = [m.port for m in lossy.members]
    owner_token, owner = person(lossy, "Owner3")
    guest_token, guest = person(lossy, "Guest3")
    _, room, _ = api(lossy, "POST", "/api/rooms", owner_token, {"name": f"add-{time.time_ns()}", "kind": "private"})
    sockets = [await ChatClient(ws_url(p)).connect(guest_token) for p in ports]
    assert api(lossy, "POST", f"/api/rooms/{room['id']}/members", owner_token, {"user_id": guest["id"]})[0] == 201
    owner_ws = await ChatClient(ws_url(ports[0])).connect(owner_token)
    await owner_ws.send({"type": "message", "room_id": room["id"], "body": "welcome", "client_id": "w1"})
    for client in sockets:
        assert await client.wait(lambda c=client: any(f["type"] == "message" for f in room_frames(c, room["id"])), 10), \
            (sockets.index(client), client.frames, lossy.logs())
        frames = room_frames(client, room["id"])
        assert frames[0]["type"] == "room_joined" and frames[1]["type"] == "member_joined"
        assert frames[1]["seq"] == frames[0]["room"]["last_seq"] + 1
        assert_stream(frames[1:], frames[0]["room"]["last_seq"])
    await asyncio.gather(*(c.close() for c in [*sockets, owner_ws]))


def test_one_direct_room_per_set_when_created_at_once_from_every_replica(lossy):
    people = [person(lossy, f"D{i}") for i in range(3)]
    ports = [m.port for m in lossy.members]
    ids = [p[1]["id"] for p in people]

    def open_direct(i):
        token = people[i % 3][0]
        return http_json("POST", f"http://127.0.0.1:{ports[i % 3]}/api/direct", {"user_ids": ids},
                         {"Authorization": f"Bearer {token}"})

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(open_direct, range(12)))
    assert {a[1]["id"] for a in answers} == {answers[0][1]["id"]}
    assert sorted(a[0] for a in answers).count(201) == 1 and all(a[0] in (200, 201) for a in answers)


async def test_edits_deletions_and_reactions_reach_every_replica_in_order(lossy):
    ports = [m.port for m in lossy.members]
    token, user = person(lossy, "Editor")
    other_token, other = person(lossy, "Reactor")
    _, room, _ = api(lossy, "POST", "/api/rooms", token, {"name": f"edits-{time.time_ns()}", "kind": "public"})
    api(lossy, "POST", f"/api/rooms/{room['id']}/join", other_token)
    viewers = [await ChatClient(ws_url(p)).connect(other_token) for p in ports]
    for client in viewers:
        assert await client.wait(lambda c=client: room_frames(c, room["id"]), 10)
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    await sender.send({"type": "message", "room_id": room["id"], "body": "first draft", "client_id": "e1"})
    assert await sender.wait(lambda: any(f["type"] == "message" for f in room_frames(sender, room["id"])), 10)
    message = next(f for f in room_frames(sender, room["id"]) if f["type"] == "message")["message"]
    loop = asyncio.get_running_loop()

    def changes():
        assert api(lossy, "PATCH", f"/api/messages/{message['id']}", token, {"body": "final"})[0] == 200
        for emoji in ("%F0%9F%91%8D", "%F0%9F%8E%89"):
            assert api(lossy, "PUT", f"/api/messages/{message['id']}/reactions/{emoji}", other_token)[0] == 204
        assert api(lossy, "DELETE", f"/api/messages/{message['id']}/reactions/%F0%9F%8E%89", other_token)[0] == 204
        assert api(lossy, "DELETE", f"/api/messages/{message['id']}", token)[0] == 204

    await loop.run_in_executor(None, changes)
    want = ["message", "message_edited", "reaction", "reaction", "reaction", "message_deleted"]
    for client in viewers:
        def kinds(c=client):
            return [f["type"] for f in room_frames(c, room["id"]) if "seq" in f and f["type"] != "member_joined"]
        assert await client.wait(lambda: kinds() == want, 15), (kinds(), lossy.logs())
        frames = room_frames(client, room["id"])
        assert_stream(frames[1:], frames[0]["room"]["last_seq"])
        edited = next(f for f in frames if f["type"] == "message_edited")["message"]
        assert edited["body"] == "final" and edited["edited_at"] is not None
        assert [(f["emoji"], f["op"]) for f in frames if f["type"] == "reaction"] == [
            ("👍", "add"), ("🎉", "add"), ("🎉", "remove")]
    await asyncio.gather(*(c.close() for c in [*viewers, sender]))


async def test_concurrent_reactions_from_every_replica_leave_one_row_and_one_event(lossy):
    ports = [m.port for m in lossy.members]
    token, user = person(lossy, "Toggler")
    owner_token, _ = person(lossy, "Poster")
    _, room, _ = api(lossy, "POST", "/api/rooms", owner_token, {"name": f"react-{time.time_ns()}", "kind": "public"})

    async def post():
        client = await ChatClient(ws_url(ports[0])).connect(owner_token)
        await client.send({"type": "message", "room_id": room["id"], "body": "react to me", "client_id": "r1"})
        await client.wait(lambda: client.messages, 10)
        await client.close()
        return client.messages[-1]

    message = await post()

    def toggle(i):
        return http_json("PUT", f"http://127.0.0.1:{ports[i % 3]}/api/messages/{message['id']}/reactions/%E2%9C%85", None,
                         {"Authorization": f"Bearer {token}"})[0]

    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        codes = await asyncio.gather(*(loop.run_in_executor(pool, toggle, i) for i in range(24)))
    assert set(codes) == {204}
    status, page, _ = api(lossy, "GET", f"/api/rooms/{room['id']}/messages")
    assert page["messages"][-1]["reactions"] == [{"emoji": "✅", "user_ids": [user["id"]]}]
    status, replay, _ = api(lossy, "GET", f"/api/rooms/{room['id']}/events?after=0", token)
    assert [e["op"] for e in replay["events"] if e["type"] == "reaction"] == ["add"]
