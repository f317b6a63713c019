"""`python -m chatapp.serve [daphne options]`: daphne with the chat's settings.

- incoming frames over 64 KiB are refused by autobahn before they are buffered, and
  with failByDrop off the client is told so with close code 1009;
- on SIGTERM the hub closes every socket with 1001 and leaves the presence set
  before the reactor stops (a graceful drain).
The Dockerfile, the cluster launcher and the tests all start the app this way.
"""

import asyncio
import os
import pprint
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import daphne.server  # noqa: E402  (installs the asyncio reactor)
import autobahn.websocket.protocol  # noqa: E402
from daphne.cli import CommandLineInterface  # noqa: E402
from twisted.internet import defer, reactor  # noqa: E402

MAX_FRAME = 64 * 1024


class _ChatWebSocketFactory(daphne.server.WebSocketFactory):
    def setProtocolOptions(self, **options):
        options["failByDrop"] = False
        super().setProtocolOptions(**options)


daphne.server.WebSocketFactory = _ChatWebSocketFactory


class _LazyPformat:
    """autobahn pretty-prints its whole configuration for a debug log line on every
    connection, even when nothing logs at debug: 10 % of the CPU of a connection burst.
    This defers the formatting to the moment (if ever) the line is written."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __str__(self):
        return pprint.pformat(self.obj)

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731


autobahn.websocket.protocol.pformat = _LazyPformat


def _drain():
    from livechat.hub import Hub

    hub = Hub.current()
    if hub is None:
        return None

    async def goodbye():
        await hub.shutdown()
        await asyncio.sleep(0.2)  # let the close frames leave

    return defer.Deferred.fromFuture(asyncio.ensure_future(goodbye()))


BACKLOG = 2048


def _with_backlog(args: list[str]) -> list[str]:
    """daphne's -b/-p listen with Twisted's default backlog of 50: a burst of clients
    (a restart, a reconnect storm) then waits for SYN retransmits, a second or more
    each. Rewrite them as an endpoint with a deep backlog."""
    if any(a in ("-e", "--endpoint", "-u", "--unix-socket", "--fd") for a in args):
        return args
    host, port, rest, i = "127.0.0.1", None, [], 0
    while i < len(args):
        a = args[i]
        if a in ("-b", "--bind") and i + 1 < len(args):
            host, i = args[i + 1], i + 2
        elif a in ("-p", "--port") and i + 1 < len(args):
            port, i = args[i + 1], i + 2
        else:
            rest.append(a)
            i += 1
    if port is None:
        return args
    interface = host.replace(":", r"\:")
    return ["-e", f"tcp:port={port}:interface={interface}:backlog={BACKLOG}", *rest]


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(not a.startswith("-") and ":" in a for a in args):
        args.append("chatapp.asgi:application")
    args = _with_backlog(args)
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        args[:0] = ["--websocket-max-message-size", str(MAX_FRAME), "--websocket-max-frame-size", str(MAX_FRAME)]
    if not any(a.startswith("--application-close-timeout") for a in args):
        args[:0] = ["--application-close-timeout", "3"]
    reactor.addSystemEventTrigger("before", "shutdown", _drain)
    CommandLineInterface().run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
