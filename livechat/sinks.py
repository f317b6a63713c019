"""How the hub writes one encoded frame to one socket.

Under daphne the ASGI `send` is `partial(server.handle_reply, protocol)`; the hub
writes the already-encoded UTF-8 bytes straight into that autobahn protocol: no
per-socket coroutine, dispatch, thread hop or encode. It also reads the Twisted
transport's unsent bytes, so a client that stops reading is cut off once its
backlog passes the bound and never slows anyone else. Any other ASGI server gets a
bounded per-socket queue drained by one writer task.
"""

import asyncio
import functools
import logging

from chatapp import metrics

logger = logging.getLogger(__name__)


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame, as a server sends it."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class Frame:
    """Frames encoded once: their texts for ASGI, and the websocket frames on the wire,
    back to back, so that several messages reach a socket with one send()."""

    __slots__ = ("texts", "wire")

    def __init__(self, *texts: str):
        self.texts = texts
        self.wire = b"".join(ws_text_frame(text.encode("utf-8")) for text in texts)

    @classmethod
    def join(cls, frames: list["Frame"]) -> "Frame":
        """Frames already encoded, back to back, for one write."""
        joined = cls.__new__(cls)
        joined.texts = tuple(t for f in frames for t in f.texts)
        joined.wire = b"".join(f.wire for f in frames)
        return joined


class DaphneSink:
    """Writes the prepared frame with one send() on the socket when nothing is queued in
    Twisted's buffer (the common case), else appends it to that buffer, which keeps the
    order. Twisted's own write path would register and unregister the socket with epoll
    for every frame: two extra system calls per socket per message.
    Compression is never negotiated by daphne, so frames need no per-socket work."""

    __slots__ = ("protocol", "transport", "sock", "limit", "closed")

    def __init__(self, protocol, limit: int):
        self.protocol = protocol
        self.transport = protocol.transport
        tcp = getattr(self.transport, "socket", None)
        plain = not getattr(self.transport, "TLS", False) and hasattr(self.transport, "_tempDataLen")
        self.sock = tcp if (tcp is not None and plain) else None
        self.limit = limit
        self.closed = False

    def backlog(self) -> int:
        transport = self.transport
        try:
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except AttributeError:
            return 0

    def write(self, frame: Frame) -> None:
        if self.closed:
            return
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return
        backlog = self.backlog()
        if backlog > self.limit:
            self.closed = True
            metrics.SLOW_READERS.inc()
            logger.info("cutting off a socket that does not read", extra={"backlog": backlog})
            protocol.dropConnection(abort=True)
            return
        wire = frame.wire
        if backlog or self.sock is None:
            self.transport.write(wire)
            return
        try:
            sent = self.sock.send(wire)
        except BlockingIOError:
            sent = 0
        except OSError:  # the peer is gone; Twisted notices on its next read
            self.closed = True
            return
        if sent < len(wire):
            self.transport.write(wire[sent:])

    def close(self, code: int) -> None:
        if not self.closed and self.protocol.state == self.protocol.STATE_OPEN:
            self.closed = True
            # sendClose() only takes 1000 and 3000-4999; 1001 (going away) and 1009 are the server's to send.
            self.protocol.sendCloseFrame(code=code, isReply=False)


class QueueSink:
    """Generic ASGI: a bounded queue per socket, drained in order by one task."""

    MAX_FRAMES = 256

    def __init__(self, send):
        self.send = send
        self.queue: asyncio.Queue = asyncio.Queue(self.MAX_FRAMES)
        self.closed = False
        self.task = asyncio.ensure_future(self._drain())

    async def _drain(self):
        try:
            while True:
                message = await self.queue.get()
                await self.send(message)
                if message["type"] == "websocket.close":
                    return
        except Exception:  # noqa: BLE001 - the socket is gone; the consumer's disconnect cleans up
            self.closed = True

    def write(self, frame: Frame) -> None:
        if self.closed:
            return
        try:
            for text in frame.texts:
                self.queue.put_nowait({"type": "websocket.send", "text": text})
        except asyncio.QueueFull:
            metrics.SLOW_READERS.inc()
            self.close(1008)

    def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait({"type": "websocket.close", "code": code})


def sink_for(send, limit: int):
    if isinstance(send, functools.partial) and send.args and hasattr(send.args[0], "sendMessage"):
        return DaphneSink(send.args[0], limit)
    return QueueSink(send)
