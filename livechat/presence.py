"""Who is online, cluster-wide (CONTRACT user_count).

Each replica keeps the exact state of its own sockets in memory and writes it to
Redis as a whole: a hash `chat:presence:r:<replica>` (`a` = anonymous sockets, one
field per signed-in user id = that user's sockets here) and its member in the
sorted set `chat:presence:replicas`, scored with an expiry taken from Redis's own
clock (no replica clock is trusted). A replica re-writes its entry every few
seconds; one that stops (SIGTERM) deletes it; one that dies (SIGKILL) drops out when
its score passes, CHAT_PRESENCE_TTL seconds later. No INCR/DECR a crash could leave wrong.

Totals = this replica's live state combined with the other replicas' entries as
last read. Without Redis (embedded default) there are no other replicas.
"""

import uuid
from collections import Counter

from django.conf import settings

REPLICAS_KEY = "chat:presence:replicas"
REPLICA_PREFIX = "chat:presence:r:"

_WRITE = """
local now = tonumber(redis.call('TIME')[1])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]) * 2)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
return now
"""

_READ = """
local now = tonumber(redis.call('TIME')[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, r in ipairs(gone) do redis.call('DEL', ARGV[2] .. r) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, r in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if r ~= ARGV[1] then
    table.insert(out, r)
    table.insert(out, redis.call('HGETALL', ARGV[2] .. r))
  end
end
return out
"""


class LocalState:
    """This process's sockets: anonymous count and sockets per signed-in user."""

    def __init__(self):
        self.anonymous = 0
        self.users: Counter[int] = Counter()

    def add(self, user_id: int | None):
        if user_id is None:
            self.anonymous += 1
        else:
            self.users[user_id] += 1

    def remove(self, user_id: int | None):
        if user_id is None:
            self.anonymous -= 1
        else:
            self.users[user_id] -= 1
            if self.users[user_id] <= 0:
                del self.users[user_id]


class RemoteView:
    def __init__(self, anonymous: int = 0, users: frozenset = frozenset(), replicas: dict | None = None):
        self.anonymous = anonymous
        self.users = users
        self.replicas = replicas or {}


def totals(local: LocalState, remote: RemoteView) -> tuple[int, int]:
    """(authenticated distinct users, anonymous sockets) across the cluster."""
    if remote.users:
        authenticated = len(remote.users | local.users.keys())
    else:
        authenticated = len(local.users)
    return authenticated, local.anonymous + remote.anonymous


class RedisPresence:
    def __init__(self, url: str):
        from redis import asyncio as aioredis

        self.replica = uuid.uuid4().hex[:16]
        self.ttl = settings.CHAT_PRESENCE_TTL_S
        self.redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._write = self.redis.register_script(_WRITE)
        self._read = self.redis.register_script(_READ)

    async def write(self, local: LocalState) -> None:
        args = [self.ttl, self.replica, "a", local.anonymous]
        for user_id, sockets in local.users.items():
            args += [user_id, sockets]
        await self._write(keys=[REPLICAS_KEY, REPLICA_PREFIX + self.replica], args=args)

    async def read_others(self) -> RemoteView:
        raw = await self._read(keys=[REPLICAS_KEY], args=[self.replica, REPLICA_PREFIX])
        anonymous, users, replicas = 0, set(), {}
        for i in range(0, len(raw), 2):
            name = raw[i].decode()
            fields = raw[i + 1]
            state = {"anonymous": 0, "users": 0}
            for j in range(0, len(fields), 2):
                key, value = fields[j].decode(), int(fields[j + 1])
                if key == "a":
                    state["anonymous"] = value
                    anonymous += value
                else:
                    users.add(int(key))
                    state["users"] += 1
            replicas[name] = state
        return RemoteView(anonymous, frozenset(users), replicas)

    async def remove(self) -> None:
        await self.redis.zrem(REPLICAS_KEY, self.replica)
        await self.redis.delete(REPLICA_PREFIX + self.replica)


class NoPresenceStore:
    """Embedded default: one process, nothing to share."""

    replica = "local"

    async def write(self, local: LocalState) -> None:
        return None

    async def read_others(self) -> RemoteView:
        return RemoteView()

    async def remove(self) -> None:
        return None


def presence_store():
    return RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else NoPresenceStore()


async def presence_snapshot() -> dict:
    """For `manage.py presence`: every live replica's figures and the totals."""
    store = presence_store()
    if isinstance(store, NoPresenceStore):
        return {"replicas": {}, "authenticated": None, "anonymous": None}
    store.replica = "-"  # read every replica, this command is none of them
    view = await store.read_others()
    return {"replicas": view.replicas, "authenticated": len(view.users), "anonymous": view.anonymous}
