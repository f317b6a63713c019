"""A canary for the library internals chatapp/serve.py and livechat/sinks.py rely on:
it fails loudly, naming what changed, when an upgrade moves them. Pinned versions are
in requirements.txt; docs/architecture.md says what each trim does."""

import hashlib
import inspect
from importlib import metadata

import pytest

pytestmark = [pytest.mark.sqlite]

PINNED = {"daphne": "4.2.3", "Twisted": "26.10.0", "autobahn": "26.11.1", "txaio": "26.6.1", "asgiref": "3.13.0",
          "channels": "4.3.2", "channels-redis": "4.3.0"}


@pytest.mark.parametrize("package,version", sorted(PINNED.items()))
def test_the_pinned_versions_are_installed(package, version):
    assert metadata.version(package) == version, f"{package} changed: re-check chatapp/serve.py and livechat/sinks.py"


def _digest(fn) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]


def test_daphne_create_application_is_the_one_copied():
    """chatapp.serve._ChatServer.create_application copies daphne's, with a lighter queue."""
    import daphne.server

    source = inspect.getsource(daphne.server.Server.create_application)
    for line in ("input_queue = asyncio.Queue()", "receive=input_queue.get",
                 "send=partial(self.handle_reply, protocol)", 'self.connections[protocol]["application_instance"]'):
        assert line in source, f"daphne's create_application changed: {line!r} is gone"


def test_the_classes_we_subclass_or_patch_still_look_the_same():
    import autobahn.websocket.protocol as protocol
    import daphne.cli
    import daphne.server
    import daphne.ws_protocol

    assert daphne.cli.CommandLineInterface.server_class is daphne.server.Server or \
        daphne.cli.CommandLineInterface.server_class.__name__ == "_ChatServer"
    assert "WebSocketFactory" in vars(daphne.server), "daphne.server no longer imports WebSocketFactory by name"
    assert "ws_factory.setProtocolOptions" in inspect.getsource(daphne.server.Server.run)
    assert "self.request" in inspect.getsource(daphne.ws_protocol.WebSocketProtocol.onConnect)
    assert hasattr(protocol, "pformat") and hasattr(protocol, "Timings")
    assert "return pformat(self._timings)" in inspect.getsource(protocol.Timings.__str__) or \
        protocol.Timings.__str__.__name__ == "<lambda>"
    assert "failByDrop" in inspect.getsource(protocol.WebSocketServerFactory.setProtocolOptions)


def test_twisted_transport_buffer_attributes_the_sink_reads():
    from twisted.internet.abstract import FileDescriptor

    fd = FileDescriptor.__new__(FileDescriptor)
    FileDescriptor.__init__(fd)
    for name in ("dataBuffer", "offset", "_tempDataLen"):
        assert hasattr(fd, name), f"Twisted's FileDescriptor no longer has {name}: livechat/sinks.DaphneSink.backlog"


def test_the_sink_picked_under_daphne_is_the_direct_one():
    """The hub writes straight into autobahn's protocol when `send` is daphne's
    partial(handle_reply, protocol)."""
    import functools

    from livechat.sinks import DaphneSink, sink_for

    class Transport:
        socket = None
        dataBuffer, offset, _tempDataLen = b"", 0, 0

    class Protocol:
        transport = Transport()
        STATE_OPEN = 1
        state = 1

        def sendMessage(self, payload, isBinary=False):
            pass

    def handle_reply(protocol, message):
        pass

    assert isinstance(sink_for(functools.partial(handle_reply, Protocol()), 1024), DaphneSink)


async def test_any_other_send_gets_the_queue_sink():
    from livechat.sinks import QueueSink, sink_for

    async def send(message):
        pass

    sink = sink_for(send, 1024)
    assert isinstance(sink, QueueSink)
    sink.close(1000)


def test_the_timings_string_is_a_string_after_install():
    import autobahn.websocket.protocol as protocol

    from chatapp import serve

    serve.install()
    timings = protocol.Timings()
    timings.track("x")
    assert isinstance(str(timings), str)
    assert isinstance(f"{protocol.pformat({'a': 1})}", str)
