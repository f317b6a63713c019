"""/ws/chat: parse a frame, call one service, answer. The hub owns the socket's writes."""

import asyncio
import functools
import json
import math
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError

from accounts.selectors import user_public
from accounts.tokens import AccessTokenExpired, AccessTokenInvalid, access_token_verify

from chatapp import metrics

from . import events, rooms, selectors, services
from .hub import Hub
from .models import DEFAULT_ROOM_ID

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32  # messages of one socket being stored at once
MAX_WATCHES = 20
TYPING_PACE_S = 2


class ChatConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        """Channels' loop without a channel-layer channel per socket (with Redis that
        would be one SUBSCRIBE and one queue per socket; the process's hub holds the one
        subscription and writes to sockets) and without the helper task that would
        wait on it: one coroutine per socket, reading its frames in order."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        # Channels runs aclose_old_connections (a thread hop) before every handler;
        # handlers here touch the database only through the hub's batchers (database_sync_to_async),
        # which closes stale connections itself, so frames skip that hop.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.in_flight: set[asyncio.Future] = set()
        self.last_send: asyncio.Future | None = None
        self.hub = await Hub.get()
        client = self.scope.get("client")
        ip = client[0] if client else None
        if self.hub.ip_full(ip):
            await self.close()  # before accept: the handshake is refused with 403
            return
        await self.accept()
        self.conn = self.hub.attach(self.base_send, ip)
        # Nothing reads the handshake's headers from here on; an open socket need not keep them.
        self.scope = {"type": "websocket", "path": self.scope.get("path"), "client": client}

    async def websocket_disconnect(self, message):
        # Channels' own also runs aclose_old_connections (a thread hop) for every closing
        # socket; nothing here used the database in this thread. A reconnect storm is
        # thousands of these.
        await self.disconnect(message.get("code"))
        raise StopConsumer()

    async def disconnect(self, code):
        if hasattr(self, "conn"):
            self.hub.detach(self.conn)

    async def receive(self, text_data=None, bytes_data=None):
        conn = getattr(self, "conn", None)
        if conn is None:  # refused at connect
            return
        conn.last_seen = time.monotonic()
        raw = text_data if text_data is not None else bytes_data
        if raw is not None and len(raw) > settings.CHAT_MAX_FRAME_BYTES:
            conn.sink.close(1009)  # the server in front normally refuses it first
            return
        frame = parse_frame(text_data)
        if frame is None:
            conn.send({"type": "error", "reason": "bad_request"})
            return
        await self.HANDLERS[frame["type"]](self, frame)

    async def on_ping(self, frame):
        self.conn.send({"type": "pong"})

    async def on_auth(self, frame):
        conn = self.conn
        try:
            claims = access_token_verify(frame.get("token"))
        except AccessTokenExpired:
            self.hub.demote(conn, {"type": "refresh"})
            return
        except AccessTokenInvalid:
            self.hub.demote(conn, {"type": "auth_failed"})
            return
        try:
            user = await self.hub.sign_ins.submit(claims.user_id)
        except (DatabaseError, InterfaceError):
            conn.send({"type": "error", "reason": "unavailable"})
            return
        if user is None:
            self.hub.demote(conn, {"type": "auth_failed"})
            return
        if conn.user_id != user.id and self.hub.user_full(user.id):
            conn.send({"type": "error", "reason": "too_many_sockets"})
            return
        public = user_public(user=user, with_email=True)
        self.hub.authenticate(conn, public, claims.exp)
        conn.send({"type": "auth", "user": public})
        try:
            memberships = await self.hub.memberships.submit(user.id)
            await self.hub.start_member_rooms(conn, memberships)
        except (DatabaseError, InterfaceError):
            conn.send({"type": "error", "reason": "unavailable"})

    async def on_message(self, frame):
        conn = self.conn
        client_id = frame.get("client_id")
        echo = client_id if isinstance(client_id, (str, int, bool)) or client_id is None else None
        if isinstance(client_id, float) and math.isfinite(client_id):  # NaN, Infinity, 1e400: no valid JSON
            echo = client_id
        failed = functools.partial(self.after_earlier_sends, _failed, conn, echo)
        if conn.user is None and conn.auth_exp != -1:
            return failed("unauthenticated")
        if conn.auth_exp <= time.time():  # expired: demoted now, or already by the hub's sweep
            failed("token_expired")
            self.after_earlier_sends(self.hub.demote, conn, {"type": "refresh"})
            return
        request = services.SendRequest(user_id=conn.user_id, subject=frame.get("subject"), body=frame.get("body"),
                                       client_id=client_id, room_id=frame.get("room_id", DEFAULT_ROOM_ID),
                                       reply_to=frame.get("reply_to"))
        # The store runs in the background so this socket's next frames are read meanwhile
        # (and stored in the same batch); outcomes come back in the order sent.
        pending = self.hub.writer.submit(request)
        pending.add_done_callback(functools.partial(self.on_stored, echo=echo, started=time.perf_counter()))
        self.last_send = pending
        self.in_flight.add(pending)
        pending.add_done_callback(self.in_flight.discard)
        if len(self.in_flight) >= MAX_IN_FLIGHT:  # stop reading this socket until one is stored
            await asyncio.wait(set(self.in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def on_watch(self, frame):
        room_id = frame.get("room_id")
        conn = self.conn
        if not selectors.valid_id(room_id):
            return conn.send({"type": "error", "reason": "not_found"})
        if room_id in conn.rooms:
            await self.hub.watch(conn, room_id)
            return
        if len(conn.watches) >= MAX_WATCHES:
            return conn.send({"type": "error", "reason": "too_many_watches"})
        try:
            public = await database_sync_to_async(selectors.room_is_public)(room_id=room_id)
        except (DatabaseError, InterfaceError):
            return conn.send({"type": "error", "reason": "unavailable"})
        if not public or not await self.hub.watch(conn, room_id):
            conn.send({"type": "error", "reason": "not_found"})

    async def on_unwatch(self, frame):
        room_id = frame.get("room_id")
        if not selectors.valid_id(room_id) or not self.hub.unwatch(self.conn, room_id):
            self.conn.send({"type": "error", "reason": "not_found"})

    async def on_typing(self, frame):
        """Never answered: typing beyond its pace, or where the socket may not write, is dropped."""
        conn, room_id = self.conn, frame.get("room_id", DEFAULT_ROOM_ID)
        if conn.user is None or not selectors.valid_id(room_id) or not self.hub.member_of(conn, room_id):
            return
        view = self.hub.rooms.get(room_id)
        if view is None or len(view.conns) > settings.CHAT_TYPING_MAX_VIEWERS:
            return
        try:
            first = await cache.aadd(f"typing:{conn.user_id}:{room_id}", 1, TYPING_PACE_S)
        except Exception:  # noqa: BLE001 - the cache away: typing is not worth an error
            return
        if first:
            events.typing(room_id=room_id, user=conn.user)

    async def on_read(self, frame):
        conn = self.conn
        if conn.user is None:
            return conn.send({"type": "error", "reason": "unauthenticated"})
        try:
            await database_sync_to_async(_read)(conn.user_id, frame.get("room_id"), frame.get("message_id"))
        except services.NotFound:
            conn.send({"type": "error", "reason": "not_found"})
        except rooms.RoomInvalid:
            conn.send({"type": "error", "reason": "invalid"})
        except (DatabaseError, InterfaceError):
            conn.send({"type": "error", "reason": "unavailable"})

    HANDLERS = {
        "ping": on_ping,
        "auth": on_auth,
        "message": on_message,
        "watch": on_watch,
        "unwatch": on_unwatch,
        "typing": on_typing,
        "read": on_read,
    }

    def after_earlier_sends(self, fn, *args):
        """Runs fn(*args) once the outcome of this socket's previous message has been
        answered, so that a refusal never overtakes an earlier message's outcome."""
        last = self.last_send
        if last is None:
            fn(*args)
        else:  # a done future's callbacks run in the order they were added
            last.add_done_callback(lambda _: fn(*args))

    def on_stored(self, pending, *, echo, started):
        conn = self.conn
        failed = functools.partial(_failed, conn, echo)
        if pending.cancelled():
            return
        exc = pending.exception()
        if exc is None:
            metrics.SEND_LATENCY.observe(time.perf_counter() - started)
            result = pending.result()
            if not result.created:  # a repeated client_id: the sender alone gets the stored message
                conn.send({"type": "message", "room_id": result.payload["room_id"], "seq": result.seq,
                           "message": result.payload})
        elif isinstance(exc, services.MessageInvalid):
            failed("invalid")
        elif isinstance(exc, services.MessageRateLimited):
            failed("rate_limited")
        elif isinstance(exc, services.Forbidden):
            failed("forbidden")
        elif isinstance(exc, services.SenderInactive):
            self.hub.demote(conn, {"type": "auth_failed"})
            failed("unauthenticated")
        else:
            if isinstance(exc, (DatabaseError, InterfaceError)):
                logger.warning("message not stored: %s", type(exc).__name__, extra={"conn": conn.id})
            else:
                logger.error("message not stored", exc_info=exc, extra={"conn": conn.id})
            failed("unavailable")


def _failed(conn, echo, reason: str) -> None:
    """message_failed to the sender alone, echoing its client_id as sent."""
    metrics.FAILURES.labels(reason=reason).inc()
    conn.send({"type": "message_failed", "client_id": echo, "reason": reason})


def parse_frame(text: str | None) -> dict | None:
    """A JSON object with a known type, or None."""
    if text is None:
        return None
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str) or frame["type"] not in HANDLED:
        return None
    return frame


HANDLED = frozenset(ChatConsumer.HANDLERS)


def _read(user_id, room_id, message_id):
    from accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise services.NotFound()
    rooms.room_read(user=user, room_id=room_id, message_id=message_id)
