"""Stock Django Channels, for `chat_bench --servers stock-redis,stock-memory`: what the
issue's table measured before the hub existed. A plain AsyncJsonWebsocketConsumer per
socket, every socket in one group, every message a group_send through the channel
layer (RedisPubSubChannelLayer or InMemoryChannelLayer), served by daphne. No storage
and no auth: the cost of the library's fan-out path alone.

    BENCH_LAYER=redis|memory REDIS_URL=... daphne chatapp.bench_stock:application
"""

import os

import django
from django.conf import settings

if not settings.configured:
    layer = os.environ.get("BENCH_LAYER", "memory")
    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                    "CONFIG": {"hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")],
                                               "prefix": "bench-stock"}}}
        if layer == "redis" else {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402

GROUP = "bench"
counter = {"id": 0}


class StockConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "message":
            counter["id"] += 1
            message = {"id": counter["id"], "prev_id": counter["id"] - 1, "body": content.get("body", "")}
            await self.channel_layer.group_send(GROUP, {"type": "chat.message", "message": message})
        elif content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def chat_message(self, event):
        await self.send_json({"type": "message", "message": event["message"]})


application = StockConsumer.as_asgi()
