"""`python -m chatapp.serve [daphne options]`: daphne with the chat's settings.

- incoming frames over 64 KiB are refused by autobahn before they are buffered, and
  with failByDrop off the client is told so with close code 1009;
- on SIGTERM the hub closes every socket with 1001 and leaves the presence set
  before the reactor stops (a graceful drain).
The Dockerfile, the cluster launcher and the tests all start the app this way.
"""

import asyncio
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import daphne.server  # noqa: E402  (installs the asyncio reactor)
from daphne.cli import CommandLineInterface  # noqa: E402
from twisted.internet import defer, reactor  # noqa: E402

MAX_FRAME = 64 * 1024


class _ChatWebSocketFactory(daphne.server.WebSocketFactory):
    def setProtocolOptions(self, **options):
        options["failByDrop"] = False
        super().setProtocolOptions(**options)


daphne.server.WebSocketFactory = _ChatWebSocketFactory


def _drain():
    from livechat.hub import Hub

    hub = Hub.current()
    if hub is None:
        return None

    async def goodbye():
        await hub.shutdown()
        await asyncio.sleep(0.2)  # let the close frames leave

    return defer.Deferred.fromFuture(asyncio.ensure_future(goodbye()))


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        args[:0] = ["--websocket-max-message-size", str(MAX_FRAME), "--websocket-max-frame-size", str(MAX_FRAME)]
    if not any(a.startswith("--application-close-timeout") for a in args):
        args[:0] = ["--application-close-timeout", "3"]
    if not any(not a.startswith("-") and ":" in a for a in args):
        args.append("chatapp.asgi:application")
    reactor.addSystemEventTrigger("before", "shutdown", _drain)
    CommandLineInterface().run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
