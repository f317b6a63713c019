"""The one place that talks to the channel layer. Events leave only after commit.

Each event goes two ways: straight into this process's hub (its own sockets never
wait for the broker, and keep working while Redis is down) and, with Redis, as one
PUBLISH to the group every replica's hub subscribes to. A hub drops what it already
delivered, so the echo of its own publish costs nothing; a lost publish is repaired
from storage by the receiving hubs (prev_id and the tail poll, see hub.py).
"""

import asyncio
import logging
import random

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from chatapp import metrics

logger = logging.getLogger(__name__)

GROUP = "chat"
PUBLISH_TIMEOUT_S = 2.0


def messages_created_on_commit(payloads: list[dict]) -> None:
    """payloads: Message objects of the contract (user with email), in id order, stored
    by one transaction. They travel as one event: one PUBLISH for the batch."""
    if payloads:
        transaction.on_commit(lambda: _publish({"type": "chat.messages", "messages": payloads}))


def message_deleted_on_commit(message_ids: list[int]) -> None:
    if message_ids:
        transaction.on_commit(lambda: _publish({"type": "chat.deleted", "ids": list(message_ids)}))


def user_deactivated(user_id: int) -> None:
    """Called after commit by accounts.services.user_set_active."""
    _publish({"type": "chat.deactivated", "user_id": user_id})


def _publish(event: dict) -> None:
    from .hub import Hub

    hub = Hub.current()
    if hub is not None:
        hub.loop.call_soon_threadsafe(hub.inbox.put_nowait, event)
    if not settings.REDIS_URL:
        return
    if hub is not None:
        # Fire and forget on the hub's loop: the sender's answer does not wait for Redis.
        asyncio.run_coroutine_threadsafe(_publish_remote(event), hub.loop)
    else:  # a management command or the admin in a process without sockets
        async_to_sync(_publish_remote)(event)


async def _publish_remote(event: dict) -> None:
    if settings.CHAT_FAULT_PUBLISH_DELAY_MS:
        await asyncio.sleep(random.uniform(0, settings.CHAT_FAULT_PUBLISH_DELAY_MS) / 1000)
    if settings.CHAT_FAULT_PUBLISH_DROP and random.random() < settings.CHAT_FAULT_PUBLISH_DROP:
        return
    try:
        await asyncio.wait_for(get_channel_layer().group_send(GROUP, event), PUBLISH_TIMEOUT_S)
        metrics.PUBLISHES.inc()
    except Exception as exc:  # noqa: BLE001 - the broker is best effort by design
        metrics.FAILURES.labels(reason="publish").inc()
        logger.warning("publish to the channel layer failed (%s); peers will repair from storage", type(exc).__name__)
