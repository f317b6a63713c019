"""Gathers the database work of this process's sockets into batches.

Requests that arrive while a batch is in the database wait and go together in the
next one. A lone request goes at once (no timer, no added latency); under load
batches grow by themselves. Two kinds:

- sends, for services.messages_send: one transaction, one room lock and one commit
  (one WAL flush) for many messages;
- sign-ins of sockets (`auth` frames), for selectors.users_active: one query for
  many users, so a reconnect storm costs a few queries rather than one per socket.

Database work runs through database_sync_to_async, which closes stale connections
around it. Futures resolve in the order their requests were submitted.
"""

import asyncio
from collections.abc import Callable

from channels.db import database_sync_to_async

MAX_BATCH = 200


class Batcher:
    def __init__(self, handle: Callable[[list], list]):
        """handle: takes a list of requests, returns one outcome per request (a result,
        or an exception instance to raise to that request's caller)."""
        self.handle = handle
        self.pending: list[tuple[object, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    def submit(self, request) -> asyncio.Future:
        """A future of the request's outcome (or of the database error that failed its batch)."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((request, future))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._drain())
        return future

    async def _drain(self):
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            try:
                outcomes = await database_sync_to_async(self.handle)([request for request, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: every caller hears why
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes):
                if future.done():  # the caller's socket went away meanwhile
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
