"""One hub per process: every message is received once, encoded once per viewer kind,
and written to each local socket in id order without gaps.

- Events reach the inbox from this process's services (events.py) and, with Redis,
  from the one channel-layer subscription of this process. One task handles the
  inbox in order, so each socket sees frames in the order the hub emits them.
- `last_id` is the last message id written to the sockets. A message whose
  `prev_id` is not `last_id` makes the hub fetch the gap from storage first; one
  at or below `last_id` is a duplicate (the echo of our own publish, a repair that
  got there first) and is dropped. A tail poll notices a message whose publish was
  lost with nothing after it (a replica killed between commit and PUBLISH).
- Presence is kept exact for this process and combined with the other replicas'
  entries (presence.py); user_count goes to a socket at most once a second.
"""

import asyncio
import functools
import json
import logging
import time
import uuid
from collections import Counter

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.models import User
from accounts.selectors import users_active

from chatapp import metrics

from . import selectors, services
from .events import GROUP
from .presence import LocalState, RemoteView, presence_store, totals
from .sinks import Frame, sink_for
from .batching import Batcher

logger = logging.getLogger(__name__)

PRESENCE_TICK_S = 0.5
COUNT_MIN_INTERVAL_S = 1.0
SWEEP_S = 5.0
GAP_PAGE = 500


def _encode_text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode(obj) -> Frame:
    return Frame(_encode_text(obj))


@functools.lru_cache(maxsize=4)
def _count_frame(figures: tuple[int, int]) -> Frame:
    """Encoded once per distinct count, whatever the number of sockets it goes to."""
    return encode({"type": "user_count", "authenticated": figures[0], "anonymous": figures[1]})


def _without_email(message: dict) -> dict:
    return dict(message, user={k: v for k, v in message["user"].items() if k != "email"})


class Connection:
    __slots__ = ("id", "sink", "ip", "user", "auth_exp", "last_seen", "count_sent", "count_at")

    def __init__(self, sink, ip=None):
        self.id = uuid.uuid4().hex[:12]
        self.sink = sink
        self.ip = ip
        self.user: dict | None = None  # the contract's User, email included
        self.auth_exp = 0
        self.last_seen = time.monotonic()
        self.count_sent: tuple[int, int] | None = None
        self.count_at = 0.0

    @property
    def user_id(self) -> int | None:
        return self.user["id"] if self.user else None

    def send(self, obj) -> None:
        self.sink.write(encode(obj))


class Hub:
    _instance: "Hub | None" = None

    @classmethod
    def current(cls) -> "Hub | None":
        hub = cls._instance
        return hub if hub is not None and not hub.loop.is_closed() else None

    @classmethod
    async def get(cls) -> "Hub":
        loop = asyncio.get_running_loop()
        hub = cls._instance
        if hub is None or hub.loop is not loop:
            hub = cls._instance = Hub(loop)
            hub.start()
        if hub.last_id is None:
            await hub.ready()
        return hub

    async def ready(self):
        """The starting point, read before the first socket is attached: every message
        stored after it reaches that socket. (Read later, a message stored in between
        would count as delivered and be skipped.)"""
        if self._started is None or (self._started.done() and self._started.exception() is not None):
            self._started = self.loop.create_task(self._read_start())
        try:
            await asyncio.wait_for(asyncio.shield(self._started), 3)
        except Exception:  # noqa: BLE001 - storage down: the first event's prev_id will do
            pass

    async def _read_start(self):
        last = await database_sync_to_async(selectors.room_last_message_id)()
        if self.last_id is None:
            self.last_id = last

    def __init__(self, loop):
        self.loop = loop
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.conns: set[Connection] = set()
        self.last_id: int | None = None
        self.local = LocalState()
        self.per_ip: Counter[str] = Counter()
        self.remote = RemoteView()
        self.store = presence_store()
        self.presence_dirty = True
        self.tasks: list[asyncio.Task] = []
        self.stopping = False
        self._started: asyncio.Task | None = None
        self.writer = Batcher(services.messages_send)
        self.sign_ins = Batcher(users_active)  # the `auth` frames' user lookups

    # ---- lifecycle --------------------------------------------------------------
    def start(self):
        spawn = self.loop.create_task
        self.tasks = [spawn(self._process()), spawn(self._tail_poll()), spawn(self._presence()), spawn(self._sweep())]
        if settings.REDIS_URL:
            self.tasks.append(spawn(self._receive_remote()))

    async def shutdown(self):
        """SIGTERM: say goodbye (1001) to every socket and leave the presence set."""
        self.stopping = True
        for conn in list(self.conns):
            try:
                conn.sink.close(1001)
            except Exception:  # noqa: BLE001 - one broken socket must not stop the drain
                logger.exception("could not close a socket")
        try:
            await asyncio.wait_for(self.store.remove(), 2)
        except Exception as exc:  # noqa: BLE001 - the TTL removes us anyway
            logger.warning("could not remove presence on shutdown: %s", exc)
        for task in self.tasks:
            task.cancel()
        if Hub._instance is self:
            Hub._instance = None

    # ---- sockets ------------------------------------------------------------------
    def ip_full(self, ip: str | None) -> bool:
        return ip is not None and self.per_ip[ip] >= settings.CHAT_MAX_SOCKETS_PER_IP

    def user_full(self, user_id: int) -> bool:
        return self.local.users.get(user_id, 0) >= settings.CHAT_MAX_SOCKETS_PER_USER

    def attach(self, send, ip: str | None = None) -> Connection:
        conn = Connection(sink_for(send, settings.CHAT_SOCKET_BACKLOG_BYTES), ip)
        self.conns.add(conn)
        if ip is not None:
            self.per_ip[ip] += 1
        self.local.add(None)
        self._presence_changed()
        metrics.SOCKETS.labels(kind="anonymous").inc()
        self._send_count(conn, totals(self.local, self.remote))
        return conn

    def detach(self, conn: Connection) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        if conn.ip is not None:
            self.per_ip[conn.ip] -= 1
            if self.per_ip[conn.ip] <= 0:
                del self.per_ip[conn.ip]
        self.local.remove(conn.user_id)
        metrics.SOCKETS.labels(kind="authenticated" if conn.user else "anonymous").dec()
        self._presence_changed()

    def authenticate(self, conn: Connection, user: dict, exp: int) -> None:
        if conn not in self.conns:
            return
        self._set_user(conn, user)
        conn.auth_exp = exp

    def demote(self, conn: Connection) -> None:
        self._set_user(conn, None)
        conn.auth_exp = 0

    def _set_user(self, conn: Connection, user: dict | None) -> None:
        before = "authenticated" if conn.user else "anonymous"
        self.local.remove(conn.user_id)
        conn.user = user
        self.local.add(conn.user_id)
        after = "authenticated" if conn.user else "anonymous"
        metrics.SOCKETS.labels(kind=before).dec()
        metrics.SOCKETS.labels(kind=after).inc()
        self._presence_changed()

    # ---- the inbox ----------------------------------------------------------------
    async def _process(self):
        while True:
            event = await self.inbox.get()
            try:
                kind = event.get("type")
                if kind == "chat.messages":
                    await self._on_messages(event["messages"])
                elif kind == "chat.message":  # from a replica of the previous release, during a rolling upgrade
                    await self._on_messages([event["message"]])
                elif kind == "chat.tail":
                    await self._catch_up(event["last_id"])
                elif kind == "chat.deleted":
                    ids = event["ids"]
                    self._broadcast(Frame(*(_encode_text({"type": "message_deleted", "id": i}) for i in ids)))
                elif kind == "chat.deactivated":
                    self._demote_user(event["user_id"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub failed to handle an event")

    async def _on_messages(self, messages: list[dict]):
        """Messages in id order (one stored batch): drop what was delivered, repair a
        gap from storage, and write the rest to each socket with one write."""
        ready = []
        for message in messages:
            if self.last_id is None:
                # First message since start: nothing was delivered before it.
                self.last_id = message["prev_id"] or 0
            if message["id"] <= self.last_id:
                continue
            if message["prev_id"] is not None and message["prev_id"] != self.last_id:
                self._deliver(ready)
                ready = []
                await self._fill(before=message["id"])
            ready.append(message)
            self.last_id = message["id"]
        self._deliver(ready)

    async def _catch_up(self, last_id: int):
        if self.last_id is not None and last_id > self.last_id:
            if not self.conns:  # nobody to deliver to
                self.last_id = last_id
                return
            await self._fill(before=last_id + 1)

    async def _fill(self, *, before: int):
        """Deliver every stored message with last_id < id < before, oldest first."""
        while True:
            try:
                page = await database_sync_to_async(selectors.message_list_between)(
                    after=self.last_id, before=before, limit=GAP_PAGE
                )
            except Exception as exc:  # noqa: BLE001 - storage down: the client's prev_id rule repairs
                metrics.FAILURES.labels(reason="gap_repair").inc()
                logger.warning("gap repair failed: %s", type(exc).__name__)
                return
            metrics.GAP_REPAIRS.inc(len(page))
            self._deliver(page)
            if len(page) < GAP_PAGE:
                return

    def _deliver(self, messages: list[dict]):
        """Encodes each message once per viewer kind (signed in: with emails; anonymous:
        without) and writes them to every socket, oldest first, in one write."""
        if not messages:
            return
        full = Frame(*(_encode_text({"type": "message", "message": m}) for m in messages))
        anonymous = Frame(*(_encode_text({"type": "message", "message": _without_email(m)}) for m in messages))
        for conn in self.conns:
            conn.sink.write(full if conn.user is not None else anonymous)
        self.last_id = messages[-1]["id"]
        metrics.DELIVERIES.inc(len(self.conns) * len(messages))

    def _broadcast(self, frame: Frame):
        for conn in self.conns:
            conn.sink.write(frame)

    def _demote_user(self, user_id: int):
        for conn in list(self.conns):
            if conn.user_id == user_id:
                self.demote(conn)
                conn.send({"type": "auth_failed"})

    # ---- the broker -----------------------------------------------------------------
    async def _receive_remote(self):
        layer = get_channel_layer()
        while True:
            try:
                channel = await layer.new_channel("hub.")
                await layer.group_add(GROUP, channel)
                while True:
                    self.inbox.put_nowait(await layer.receive(channel))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: retry; the tail poll covers the gap
                logger.warning("channel layer subscription failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1)

    async def _tail_poll(self):
        """Finds messages whose publish never arrived and that nothing followed yet.
        The starting point is read when the hub starts, before any socket can have missed anything."""
        while True:
            try:
                last = await database_sync_to_async(selectors.room_last_message_id)()
            except Exception:  # noqa: BLE001 - storage away: try again next round
                last = None
            if last is not None:
                if self.last_id is None:
                    self.last_id = last
                elif last > self.last_id:
                    self.inbox.put_nowait({"type": "chat.tail", "last_id": last})
            await asyncio.sleep(settings.CHAT_TAIL_POLL_S)

    # ---- presence ---------------------------------------------------------------------
    def _presence_changed(self):
        self.presence_dirty = True

    def _send_count(self, conn: Connection, figures: tuple[int, int]):
        conn.count_sent = figures
        conn.count_at = time.monotonic()
        conn.sink.write(_count_frame(figures))

    async def _presence(self):
        last_write = 0.0
        while True:
            now = time.monotonic()
            try:
                if self.presence_dirty or now - last_write > self.store_ttl_third():
                    self.presence_dirty = False
                    await self.store.write(self.local)
                    last_write = now
                self.remote = await self.store.read_others()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: keep the last view, retry
                self.presence_dirty = True
                logger.debug("presence store unavailable: %s", exc)
            figures = totals(self.local, self.remote)
            for conn in list(self.conns):
                if conn.count_sent != figures and now - conn.count_at >= COUNT_MIN_INTERVAL_S:
                    self._send_count(conn, figures)
            await asyncio.sleep(PRESENCE_TICK_S)

    def store_ttl_third(self) -> float:
        return settings.CHAT_PRESENCE_TTL_S / 3

    # ---- housekeeping -------------------------------------------------------------------
    async def _sweep(self):
        while True:
            await asyncio.sleep(SWEEP_S)
            now_mono, now = time.monotonic(), time.time()
            for conn in list(self.conns):
                if now_mono - conn.last_seen > settings.CHAT_IDLE_TIMEOUT_S:
                    conn.sink.close(1000)
                elif conn.user is not None and conn.auth_exp <= now:
                    self.demote(conn)
                    conn.send({"type": "refresh"})
            signed_in = {conn.user_id for conn in self.conns if conn.user is not None}
            if signed_in:
                try:
                    inactive = await database_sync_to_async(_inactive_among)(signed_in)
                except Exception:  # noqa: BLE001
                    continue
                for user_id in inactive:
                    self._demote_user(user_id)


def _inactive_among(user_ids: set[int]) -> list[int]:
    """A ban whose event was lost (or came from another process without Redis) still lands."""
    return list(User.objects.filter(pk__in=user_ids, is_active=False).values_list("pk", flat=True))
