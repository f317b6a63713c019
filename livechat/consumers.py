"""/ws/chat: parse a frame, call one service, answer. The hub owns the socket's writes."""

import asyncio
import functools
import json
import logging
import time

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError, InterfaceError

from accounts.selectors import user_public
from accounts.tokens import AccessTokenExpired, AccessTokenInvalid, access_token_verify

from chatapp import metrics

from . import services
from .hub import Hub

logger = logging.getLogger(__name__)

FRAME_TYPES = {"ping", "auth", "message"}
MAX_IN_FLIGHT = 32  # messages of one socket being stored at once


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
        kind = frame["type"]
        if kind == "ping":
            conn.send({"type": "pong"})
        elif kind == "auth":
            await self.on_auth(frame)
        else:
            await self.on_message(frame)

    async def on_auth(self, frame):
        conn = self.conn
        try:
            claims = access_token_verify(frame.get("token"))
        except AccessTokenExpired:
            conn.send({"type": "refresh"})
            return
        except AccessTokenInvalid:
            conn.send({"type": "auth_failed"})
            return
        try:
            user = await self.hub.sign_ins.submit(claims.user_id)
        except (DatabaseError, InterfaceError):
            conn.send({"type": "error", "reason": "unavailable"})
            return
        if user is None:
            if conn.user is not None:
                self.hub.demote(conn)
            conn.send({"type": "auth_failed"})
            return
        if conn.user_id != user.id and self.hub.user_full(user.id):
            conn.send({"type": "error", "reason": "too_many_sockets"})
            return
        public = user_public(user=user, with_email=True)
        self.hub.authenticate(conn, public, claims.exp)
        conn.send({"type": "auth", "user": public})

    async def on_message(self, frame):
        conn = self.conn
        client_id = frame.get("client_id")
        echo = client_id if isinstance(client_id, (str, int, float, bool)) or client_id is None else None
        failed = functools.partial(self.after_earlier_sends, _failed, conn, echo)
        if conn.user is None:
            return failed("unauthenticated")
        if conn.auth_exp <= time.time():
            self.hub.demote(conn)
            failed("token_expired")
            self.after_earlier_sends(conn.send, {"type": "refresh"})
            return
        request = services.SendRequest(user_id=conn.user_id, subject=frame.get("subject"), body=frame.get("body"),
                                       client_id=client_id)
        # The store runs in the background so this socket's next frames are read meanwhile
        # (and stored in the same batch); outcomes come back in the order sent.
        pending = self.hub.writer.submit(request)
        pending.add_done_callback(functools.partial(self.on_stored, echo=echo, started=time.perf_counter()))
        self.last_send = pending
        self.in_flight.add(pending)
        pending.add_done_callback(self.in_flight.discard)
        if len(self.in_flight) >= MAX_IN_FLIGHT:  # stop reading this socket until one is stored
            await asyncio.wait(set(self.in_flight), return_when=asyncio.FIRST_COMPLETED)

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
                conn.send({"type": "message", "message": result.payload})
        elif isinstance(exc, services.MessageInvalid):
            failed("invalid")
        elif isinstance(exc, services.MessageRateLimited):
            failed("rate_limited")
        elif isinstance(exc, services.SenderInactive):
            self.hub.demote(conn)
            conn.send({"type": "auth_failed"})
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
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str) or frame["type"] not in FRAME_TYPES:
        return None
    return frame
