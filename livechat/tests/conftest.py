import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts.tokens import access_token_issue
from chatapp.asgi import application
from livechat.hub import Hub


@pytest.fixture
def live(transactional_db):
    """Fresh presence state in Redis (when used) and the process hub shut down after."""
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    yield
    Hub._instance = None


@pytest.fixture
async def sockets(live):
    """Opens websocket clients on the real ASGI application; closes them after."""
    opened = []

    async def open_socket(origin=b"http://localhost:8000", token_for=None, drain_count=True):
        headers = [(b"origin", origin)] if origin else []
        ws = WebsocketCommunicator(application, "/ws/chat", headers=headers)
        ws.scope["client"] = ("127.0.0.1", 40000 + len(opened))
        connected, _ = await ws.connect()
        assert connected
        opened.append(ws)
        if drain_count:
            first = await ws.receive_json_from(timeout=3)
            assert first["type"] == "user_count"
            joined = await ws.receive_json_from(timeout=3)  # version 2: the default room starts
            assert joined["type"] == "room_joined" and joined["room"]["id"] == 1, joined
        if token_for is not None:
            await ws.send_json_to({"type": "auth", "token": access_token_issue(user=token_for)})
            answer = await receive_type(ws, "auth")
            assert answer["user"]["id"] == token_for.id
        return ws

    yield open_socket
    for ws in opened:
        if not ws.future.done():
            await ws.disconnect()
    hub = Hub.current()
    if hub is not None:
        await hub.shutdown()


async def receive_type(ws, kind, timeout=3):
    """The next frame of a type, skipping user_count pushes."""
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame
        assert frame["type"] == "user_count", frame


async def frames_until_quiet(ws, quiet=0.3):
    """(receive_nothing, unlike a timed-out receive, leaves the application running.)"""
    out = []
    while not await ws.receive_nothing(timeout=quiet, interval=0.02):
        out.append(await ws.receive_json_from())
    return out
