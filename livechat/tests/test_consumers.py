"""Every frame of the contract through the real ASGI application (WebsocketCommunicator)."""

import asyncio
import time
from unittest.mock import ANY

import jwt
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts import services as account_services
from chatapp.asgi import application
from livechat import services
from livechat.models import Message
from livechat.tests.conftest import frames_until_quiet, receive_type

pytestmark = [pytest.mark.sqlite]


async def test_connect_counts_socket_as_anonymous(sockets):
    ws = await sockets(drain_count=False)
    assert await ws.receive_json_from() == {"type": "user_count", "authenticated": 0, "anonymous": 1}


async def test_ping_pong(sockets):
    ws = await sockets()
    await ws.send_json_to({"type": "ping"})
    assert await receive_type(ws, "pong") == {"type": "pong"}


@pytest.mark.parametrize(
    "raw",
    ['{"type":"nope"}', "[1]", "not json", '{"no":"type"}', '"ping"', '{"type":["ping"]}', "{" * 5000 + "}" * 5000, "1e999999"],
)
async def test_bad_frames_get_error_and_socket_stays_open(sockets, raw):
    ws = await sockets()
    await ws.send_to(text_data=raw)
    assert await receive_type(ws, "error") == {"type": "error", "reason": "bad_request"}
    await ws.send_to(bytes_data=b"\x00\x01")
    assert await receive_type(ws, "error") == {"type": "error", "reason": "bad_request"}
    await ws.send_json_to({"type": "ping"})
    assert (await receive_type(ws, "pong"))["type"] == "pong"


async def test_auth_then_send_reaches_every_socket_with_viewer_specific_user(sockets, make_user):
    alice = await database_sync_to_async(make_user)(email="alice@example.com", name="Alice")
    sender = await sockets(token_for=alice)
    guest = await sockets()
    await sender.send_json_to({"type": "message", "subject": "hi", "body": "hello <b>all</b>", "client_id": "c1"})
    mine = (await receive_type(sender, "message"))["message"]
    theirs = (await receive_type(guest, "message"))["message"]
    assert mine["user"] == {"id": alice.id, "name": "Alice", "email": "alice@example.com"}
    assert theirs["user"] == {"id": alice.id, "name": "Alice"}  # guests never see emails
    assert mine["body"] == "hello <b>all</b>" and mine["client_id"] == "c1" and mine["subject"] == "hi"
    assert {k: v for k, v in mine.items() if k != "user"} == {k: v for k, v in theirs.items() if k != "user"}
    assert abs(mine["ts"] - time.time_ns()) < 10 * 1_000_000_000 and mine["prev_id"] is None


async def test_auth_failures(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets()
    await ws.send_json_to({"type": "auth", "token": "garbage"})
    assert await receive_type(ws, "auth_failed") == {"type": "auth_failed"}
    await ws.send_json_to({"type": "auth", "token": 12})
    assert await receive_type(ws, "auth_failed") == {"type": "auth_failed"}
    now = int(time.time())
    expired = jwt.encode(
        {"token_type": "access", "user_id": alice.id, "name": "A", "email": "a", "jti": "x", "exp": now - 1},
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithm="HS256",
    )
    await ws.send_json_to({"type": "auth", "token": expired})
    assert await receive_type(ws, "refresh") == {"type": "refresh"}
    await database_sync_to_async(account_services.user_set_active)(user=alice, active=False)
    from accounts.tokens import access_token_issue

    await ws.send_json_to({"type": "auth", "token": access_token_issue(user=alice)})
    assert await receive_type(ws, "auth_failed") == {"type": "auth_failed"}


async def test_message_failures(sockets, make_user, settings):
    alice = await database_sync_to_async(make_user)()
    guest = await sockets()
    await guest.send_json_to({"type": "message", "body": "x", "client_id": "g1"})
    assert await receive_type(guest, "message_failed") == {
        "type": "message_failed", "client_id": "g1", "reason": "unauthenticated"}
    await guest.send_json_to({"type": "message", "body": "x"})
    assert (await receive_type(guest, "message_failed"))["client_id"] is None
    ws = await sockets(token_for=alice)
    bad = [
        {"body": ""}, {"body": "   \n\t"}, {"body": "x" * 4001}, {"subject": "s" * 201, "body": "x"},
        {"body": 5}, {"body": "x", "subject": ["s"]}, {"body": "x", "client_id": ""}, {"body": "x", "client_id": "c" * 65},
        {"body": "nul\x00byte"}, {"body": "\ud800"},
    ]
    for i, fields in enumerate(bad):
        await ws.send_json_to({"type": "message", **fields})
        frame = await receive_type(ws, "message_failed")
        assert frame["reason"] == "invalid", fields
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_message_limits_in_code_points(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    body = "\U0001f600" * 4000  # 4,000 four-byte characters: 16,000 bytes, ~24 KB escaped
    await ws.send_json_to({"type": "message", "subject": "é" * 200, "body": body})
    got = (await receive_type(ws, "message"))["message"]
    assert got["body"] == body and len(got["subject"]) == 200


async def test_idempotent_client_id(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    other = await sockets()
    await ws.send_json_to({"type": "message", "body": "once", "client_id": "same"})
    first = (await receive_type(ws, "message"))["message"]
    await receive_type(other, "message")
    await ws.send_json_to({"type": "message", "body": "twice?", "client_id": "same"})
    again = (await receive_type(ws, "message"))["message"]
    assert again == first
    assert await frames_until_quiet(other) == []  # the others get nothing new
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_rate_limit(sockets, make_user, settings):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    for i in range(settings.CHAT_MESSAGE_RATE):
        await ws.send_json_to({"type": "message", "body": f"m{i}"})
        await receive_type(ws, "message")
    await ws.send_json_to({"type": "message", "body": "one too many", "client_id": "x"})
    assert (await receive_type(ws, "message_failed"))["reason"] == "rate_limited"


async def test_token_expiry_on_send(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets()
    short = jwt.encode(
        {"token_type": "access", "user_id": alice.id, "name": alice.name, "email": alice.email, "jti": "s",
         "exp": int(time.time()) + 2},
        settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256",
    )
    await ws.send_json_to({"type": "auth", "token": short})
    await receive_type(ws, "auth")
    # Demoted unprompted within a few seconds of exp (version 2, clarification 6) ...
    assert await receive_type(ws, "refresh", timeout=5) == {"type": "refresh"}
    # ... and a message after that still answers token_expired, then refresh.
    await ws.send_json_to({"type": "message", "body": "late", "client_id": "late"})
    assert await receive_type(ws, "message_failed") == {"type": "message_failed", "client_id": "late",
                                                         "reason": "token_expired"}
    assert await receive_type(ws, "refresh") == {"type": "refresh"}
    from accounts.tokens import access_token_issue

    await ws.send_json_to({"type": "auth", "token": access_token_issue(user=alice)})
    await receive_type(ws, "auth")
    await ws.send_json_to({"type": "message", "body": "back", "client_id": "late"})
    assert (await receive_type(ws, "message"))["message"]["body"] == "back"


async def test_user_count_tracks_auth_and_disconnect(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    bob = await database_sync_to_async(make_user)()
    a1 = await sockets(token_for=alice)
    await sockets(token_for=alice)
    await sockets(token_for=bob)
    guest = await sockets(drain_count=False)
    assert await guest.receive_json_from() == {"type": "user_count", "authenticated": 2, "anonymous": 1}

    async def settle(ws, want):
        deadline = time.monotonic() + 3
        last = None
        while time.monotonic() < deadline:
            if await ws.receive_nothing(timeout=0.2, interval=0.02):
                continue
            frame = await ws.receive_json_from()
            if frame["type"] == "user_count":
                last = (frame["authenticated"], frame["anonymous"])
                if last == want:
                    return last
        return last

    await a1.disconnect()
    await sockets()
    assert await settle(guest, (2, 2)) == (2, 2)


async def test_deactivation_demotes_sockets(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    await database_sync_to_async(account_services.user_set_active)(user=alice, active=False)
    assert await receive_type(ws, "auth_failed") == {"type": "auth_failed"}
    await ws.send_json_to({"type": "message", "body": "still here?"})
    assert (await receive_type(ws, "message_failed"))["reason"] == "unauthenticated"


async def test_moderator_delete_pushes_message_deleted(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    await ws.send_json_to({"type": "message", "body": "spam"})
    message_id = (await receive_type(ws, "message"))["message"]["id"]
    assert await database_sync_to_async(services.messages_delete)(message_ids=[message_id]) == 1
    assert await receive_type(ws, "message_deleted") == {"type": "message_deleted", "room_id": 1, "seq": ANY,
                                                           "id": message_id}


@pytest.mark.parametrize("origin", [b"https://evil.example", b"null", b"http://localhost.evil.example"])
async def test_foreign_origin_is_refused(live, origin):
    ws = WebsocketCommunicator(application, "/ws/chat", headers=[(b"origin", origin)])
    connected, code = await ws.connect()
    assert not connected  # daphne answers a refused handshake with HTTP 403 (see tests/test_cluster.py)


async def test_missing_origin_is_allowed(sockets):
    await sockets(origin=None)


async def test_oversized_frame_closes_with_1009(sockets):
    ws = await sockets()
    await ws.send_to(text_data="x" * (64 * 1024 + 1))
    closed = await ws.receive_output(timeout=3)
    while closed["type"] != "websocket.close":
        closed = await ws.receive_output(timeout=3)
    assert closed["code"] == 1009


async def test_idle_socket_is_closed(sockets, settings):
    from livechat import hub as hub_module

    settings.CHAT_IDLE_TIMEOUT_S = 0.5
    original = hub_module.SWEEP_S
    hub_module.SWEEP_S = 0.2
    try:
        ws = await sockets()
        await asyncio.sleep(1.2)
        closed = await ws.receive_output(timeout=3)
        while closed["type"] != "websocket.close":
            closed = await ws.receive_output(timeout=3)
        assert closed["code"] == 1000
    finally:
        hub_module.SWEEP_S = original


async def test_sockets_per_ip_and_per_user_are_capped(sockets, make_user, settings):
    settings.CHAT_MAX_SOCKETS_PER_IP = 3
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    alice = await database_sync_to_async(make_user)()
    await sockets(token_for=alice)
    await sockets(token_for=alice)
    third = await sockets()
    from accounts.tokens import access_token_issue

    await third.send_json_to({"type": "auth", "token": access_token_issue(user=alice)})
    assert await receive_type(third, "error") == {"type": "error", "reason": "too_many_sockets"}
    refused = WebsocketCommunicator(application, "/ws/chat", headers=[(b"origin", b"http://localhost:8000")])
    refused.scope["client"] = ("127.0.0.1", 50000)
    connected, _ = await refused.connect()
    assert not connected  # the fourth socket from this address


async def test_rate_limits_off_lift_the_socket_caps(sockets, make_user, settings):
    settings.CHAT_RATE_LIMITS = False
    settings.CHAT_MAX_SOCKETS_PER_IP = 2
    settings.CHAT_MAX_SOCKETS_PER_USER = 1
    alice = await database_sync_to_async(make_user)()
    await sockets(token_for=alice)
    await sockets(token_for=alice)
    ws = WebsocketCommunicator(application, "/ws/chat", headers=[(b"origin", b"http://localhost:8000")])
    ws.scope["client"] = ("127.0.0.1", 50001)
    connected, _ = await ws.connect()
    assert connected
    await ws.disconnect()


async def test_a_lone_surrogate_in_client_id_is_invalid_and_the_socket_survives(sockets, make_user):
    alice = await database_sync_to_async(make_user)()
    for ws in (await sockets(), await sockets(token_for=alice)):
        await ws.send_to(text_data='{"type":"message","body":"x","client_id":"\\ud800"}')
        failed = await receive_type(ws, "message_failed")
        assert failed["reason"] in ("invalid", "unauthenticated")
        await ws.send_json_to({"type": "ping"})
        assert await receive_type(ws, "pong") == {"type": "pong"}
