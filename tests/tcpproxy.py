"""A small TCP proxy that a test can cut: `down()` refuses new connections and
resets the open ones, `up()` lets traffic through again. Runs in its own thread."""

import asyncio
import threading


class TcpProxy:
    def __init__(self, listen_port: int, target_port: int, target_host: str = "127.0.0.1"):
        self.listen_port = listen_port
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.links: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.links |= {client_writer, upstream_writer}
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        self.links -= {client_writer, upstream_writer}

    async def _up(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port, reuse_address=True)

    async def _down(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    def up(self):
        self._call(self._up())
        return self

    def down(self):
        self._call(self._down())

    def close(self):
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
