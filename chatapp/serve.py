"""The daphne integration: what `daphne chatapp.asgi:application` (the contract's
command line) and `python -m chatapp.serve [daphne options]` (the launcher, which
adds a deep listen backlog and daphne options) both get. chatapp.asgi calls
install() when it is loaded by daphne, so both entry points behave the same:

- incoming frames over 64 KiB are refused by autobahn before they are buffered, and
  with failByDrop off the client is told so with close code 1009;
- on SIGTERM the hub closes every socket with 1001 and leaves the presence set
  before the reactor stops (a graceful drain);
- an open socket costs less: a two-slot input queue, no handshake leftovers, lazy
  autobahn debug formatting, gc.freeze() after start-up (docs/architecture.md,
  "What an open socket costs"). These subclass daphne's pinned internals
  (requirements.txt); the cluster and browser tests run every socket through them.
The Dockerfile, the cluster launcher and the tests start `daphne chatapp.asgi:application`.
"""

import asyncio
import collections
import gc
import os
import pprint
import sys
from functools import partial

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import daphne.server  # noqa: E402  (installs the asyncio reactor)
import daphne.ws_protocol  # noqa: E402
import autobahn.twisted.websocket  # noqa: E402
import autobahn.websocket.protocol  # noqa: E402
from daphne.cli import CommandLineInterface  # noqa: E402
from twisted.internet import defer, reactor  # noqa: E402
from twisted.web.http import HTTPChannel  # noqa: E402

MAX_FRAME = 64 * 1024
BACKLOG = 2048


class _HandshakeDone:
    """What daphne still reads of the handshake request once the socket is open."""

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


class _ChatWebSocketProtocol(daphne.ws_protocol.WebSocketProtocol):
    def onOpen(self):
        super().onOpen()
        # An open socket no longer needs its handshake: the request, its raw bytes and
        # parsed headers (about 2 KB per socket for as long as it stays open).
        self.request = _HandshakeDone(self.request.path)
        self.http_request_data = self.http_headers = self.http_request_params = self.clean_headers = None
        # The HTTP channel that took the upgrade stays registered as the TCP transport's
        # producer, keeping itself and the upgrade request alive as long as the socket.
        channel = getattr(self.transport, "producer", None)
        if isinstance(channel, HTTPChannel):
            self.transport.unregisterProducer()
            channel.requests.clear()  # the channel and its request then go by refcount, not the collector


class _ChatWebSocketFactory(daphne.server.WebSocketFactory):
    protocol = _ChatWebSocketProtocol

    def setProtocolOptions(self, **options):
        options["failByDrop"] = False
        # 64 KiB whatever daphne's own options say (its default is 1 MiB)
        for key in ("maxMessagePayloadSize", "maxFramePayloadSize"):
            if key in options and not 0 < options[key] <= MAX_FRAME:
                options[key] = MAX_FRAME
        super().setProtocolOptions(**options)




class _InputQueue:
    """What daphne needs of the asyncio.Queue it makes for every connection (put_nowait
    from the protocol, get from the one application instance), in a tenth of the
    memory: asyncio.Queue holds three deques and an Event (about 2 KB) per socket."""

    __slots__ = ("items", "waiter")

    def __init__(self):
        self.items: collections.deque | None = None
        self.waiter: asyncio.Future | None = None

    def put_nowait(self, item):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(item)
            return
        if self.items is None:
            self.items = collections.deque()
        self.items.append(item)

    async def get(self):
        if self.items:
            item = self.items.popleft()
            if not self.items:
                self.items = None
            return item
        self.waiter = asyncio.get_running_loop().create_future()
        return await self.waiter


class _ChatServer(daphne.server.Server):
    def __init__(self, *args, endpoints=None, **kwargs):
        """A deep listen backlog (Twisted's default is 50: a burst of clients would
        wait for SYN retransmits) on every TCP endpoint that does not name one."""
        endpoints = [e + f":backlog={BACKLOG}" if e.startswith("tcp:") and "backlog=" not in e else e
                     for e in (endpoints or [])]
        super().__init__(*args, endpoints=endpoints, **kwargs)

    def create_application(self, protocol, scope):
        """daphne's, with the lighter input queue."""
        assert "application_instance" not in self.connections[protocol]
        input_queue = _InputQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return input_queue




class _Lazy:
    """autobahn formats debug log lines on every connection even when nothing logs at
    debug: its whole configuration pretty-printed (10 % of the CPU of a connection
    burst), and class names styled with click. This defers the formatting to the
    moment (if ever) the line is written."""

    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __str__(self):
        return str(self.fn(*self.args, **self.kwargs))

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731


def _lazily(fn):
    return lambda *args, **kwargs: _Lazy(fn, args, kwargs)


def _drain():
    from livechat.hub import Hub

    hub = Hub.current()
    if hub is None:
        return None

    async def goodbye():
        await hub.shutdown()
        await asyncio.sleep(0.2)  # let the close frames leave

    return defer.Deferred.fromFuture(asyncio.ensure_future(goodbye()))




def _gc_threshold() -> int:
    raw = os.environ.get("CHAT_GC_THRESHOLD", "5000")
    if not raw.isdigit() or int(raw) < 1:
        sys.exit(f"error: CHAT_GC_THRESHOLD must be a positive integer (got {raw!r}); unset it for the default, 5000")
    return int(raw)


_installed = False


def install() -> None:
    """The trims, the 64 KiB frame limit, the SIGTERM drain and a frozen heap, for the
    daphne server about to start in this process. Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    daphne.server.WebSocketFactory = _ChatWebSocketFactory
    CommandLineInterface.server_class = _ChatServer
    autobahn.websocket.protocol.pformat = _lazily(pprint.pformat)
    for module in (autobahn.websocket.protocol, autobahn.twisted.websocket):
        for name in ("hltype", "hlval"):
            if hasattr(module, name):
                setattr(module, name, _lazily(getattr(module, name)))
    # Timings.__str__ returns pformat(...) itself: it must stay a str.
    autobahn.websocket.protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)
    reactor.addSystemEventTrigger("before", "shutdown", _drain)
    threshold = _gc_threshold()
    # Everything loaded so far lives as long as the process: keep it out of the
    # collector's passes. A burst of connections otherwise spends about a fifth of its
    # CPU in the garbage collector, going through Django's modules again and again.
    gc.freeze()
    gc.set_threshold(threshold, 10, 10)


def main(argv: list[str]) -> None:
    """`python -m chatapp.serve`: daphne's command line with the chat's defaults."""
    args = list(argv)
    if not any(not a.startswith("-") and ":" in a for a in args):
        args.append("chatapp.asgi:application")
    if not any(a.startswith("--application-close-timeout") for a in args):
        args[:0] = ["--application-close-timeout", "3"]
    CommandLineInterface().run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
