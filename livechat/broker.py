"""The one door to the channel layer: publish, subscribe, and this process's inbox.

Every event goes two ways: straight into this process's hub (its own sockets never
wait for the broker, and keep working while Redis is down) and, with Redis, as one
PUBLISH to a group. Room events go to the room's group, which a replica subscribes
to only while it has a local viewer of the room; per-user events (read state,
membership changes, deactivation) go to one group every replica subscribes to.
Redis pub/sub is at most once: a hub repairs a lost room event from storage (seq
gaps and the tail poll, see hub.py), and drops what it already delivered.
"""

import asyncio
import logging
import random
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from chatapp import metrics

logger = logging.getLogger(__name__)

USERS_GROUP = "users"
PUBLISH_TIMEOUT_S = 2.0
SUBSCRIBE_TIMEOUT_S = 2.0


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def publish(group: str, event: dict) -> None:
    """From any thread, after commit: into the local hub now, and to the other replicas."""
    from .hub import Hub

    hub = Hub.current()
    if hub is not None:
        hub.loop.call_soon_threadsafe(hub.inbox.put_nowait, event)
    if not settings.REDIS_URL:
        return
    if hub is not None:
        # Fire and forget on the hub's loop: the sender's answer does not wait for Redis.
        asyncio.run_coroutine_threadsafe(_publish_remote(group, event), hub.loop)
    else:  # a management command or the admin in a process without sockets
        async_to_sync(_publish_remote)(group, event)


async def _publish_remote(group: str, event: dict) -> None:
    if settings.CHAT_FAULT_PUBLISH_DELAY_MS:
        await asyncio.sleep(random.uniform(0, settings.CHAT_FAULT_PUBLISH_DELAY_MS) / 1000)
    if settings.CHAT_FAULT_PUBLISH_DROP and random.random() < settings.CHAT_FAULT_PUBLISH_DROP:
        return
    try:
        await asyncio.wait_for(get_channel_layer().group_send(group, event), PUBLISH_TIMEOUT_S)
        metrics.PUBLISHES.inc()
    except Exception as exc:  # noqa: BLE001 - the broker is best effort by design
        metrics.FAILURES.labels(reason="publish").inc()
        logger.warning("publish to the channel layer failed (%s); peers will repair from storage", type(exc).__name__)


class Subscriptions:
    """This process's one channel on the layer and the groups it listens to. `want`
    and `drop` are serialised, so a room dropped and wanted again at once ends up
    subscribed. Without Redis there is nothing to subscribe to."""

    def __init__(self, deliver: Callable[[dict], None]):
        self.deliver = deliver
        self.wanted: set[str] = {USERS_GROUP}
        self.channel: str | None = None
        self.lock = asyncio.Lock()
        self.enabled = bool(settings.REDIS_URL)

    async def want(self, group: str) -> None:
        self.wanted.add(group)
        await self._apply(group)

    async def drop(self, group: str) -> None:
        self.wanted.discard(group)
        await self._apply(group)

    async def _apply(self, group: str) -> None:
        if not self.enabled or self.channel is None:
            return  # run() subscribes every wanted group once the channel exists
        async with self.lock:
            layer = get_channel_layer()
            try:
                if group in self.wanted:
                    await asyncio.wait_for(layer.group_add(group, self.channel), SUBSCRIBE_TIMEOUT_S)
                else:
                    await asyncio.wait_for(layer.group_discard(group, self.channel), SUBSCRIBE_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the tail poll covers a room while Redis is away
                logger.warning("channel layer (un)subscribe failed (%s)", type(exc).__name__)

    async def run(self) -> None:
        if not self.enabled:
            return
        layer = get_channel_layer()
        while True:
            try:
                async with self.lock:
                    self.channel = await layer.new_channel("hub.")
                    for group in list(self.wanted):
                        await layer.group_add(group, self.channel)
                while True:
                    self.deliver(await layer.receive(self.channel))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: retry; the tail poll covers the gap
                self.channel = None
                logger.warning("channel layer subscription failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1)
