"""Gathers the sends of this process's sockets into batches for services.messages_send.

Sends that arrive while a batch is being stored wait and go together in the next one:
one transaction, one room lock and one commit for all of them. A lone message goes at
once (no timer, no added latency); under load batches grow by themselves, so the
commit's WAL flush and the room lock's hold are shared by many messages. Database work
runs through database_sync_to_async, which closes stale connections around it.
"""

import asyncio

from channels.db import database_sync_to_async

from . import services

MAX_BATCH = 200


class MessageWriter:
    def __init__(self):
        self.pending: list[tuple[services.SendRequest, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    def submit(self, request: services.SendRequest) -> asyncio.Future:
        """A future of the SendResult, or of what services.message_send raises (and
        database errors). Futures of one process resolve in the order submitted."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((request, future))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._drain())
        return future

    async def _drain(self):
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            try:
                outcomes = await database_sync_to_async(services.messages_send)([request for request, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: every sender hears why
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes):
                if future.done():  # the sender's socket went away meanwhile
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
