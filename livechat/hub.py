"""One hub per process: every event is received once, encoded once per viewer kind,
and written to the local sockets that receive its room, in seq order without gaps.

- Rooms: the hub follows a room (a RoomView: its cursor, the last seq written, and
  the local sockets that receive it) while it has a local viewer, and subscribes to
  the room's broker group for exactly that time (subscribed before the starting
  `last_seq` is read). The default room is always followed and every socket receives it.
- Events reach the inbox from this process's services and from the broker. One task
  handles the inbox in order. A frame at or below the cursor is a duplicate (the echo
  of our own publish, a repair that got there first) and is dropped; one past
  cursor + 1 makes the hub read the gap from storage first (once, for all its
  sockets). A tail poll reads every followed room's last_seq in one query and repairs
  rooms whose last publish was lost (a replica killed between commit and PUBLISH).
- Membership is applied at its seq: member_joined adds the user's local sockets
  before the frame is written (room_joined first), member_left removes them after it.
  Per-user events (user.room) make a replica with a socket of the user follow the
  room and catch up to that seq from storage, even with no other viewer of it.
- Presence is kept exact for this process and combined with the other replicas'
  entries (presence.py); user_count goes to a socket at most once a second.
"""

import asyncio
import collections
import functools
import heapq
import itertools
import json
import logging
import time
import uuid
from collections import Counter

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.selectors import users_active, users_inactive_among

from chatapp import metrics

from . import broker, selectors, services, stream
from .batching import Batcher
from .models import DEFAULT_ROOM_ID
from .presence import LocalState, RemoteView, presence_store, totals
from .sinks import Frame, sink_for

logger = logging.getLogger(__name__)

PRESENCE_TICK_S = 0.5
COUNT_MIN_INTERVAL_S = 1.0
EXPIRY_CHECK_S = 1.0
SWEEP_S = 5.0
GAP_PAGE = 500
SEEN_EIDS = 4096
MEMBERSHIP_MARGIN = 200  # memberships re-read behind the newest seen (commits out of id order)


def _encode_text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode(obj) -> Frame:
    try:
        return Frame(_encode_text(obj))
    except UnicodeEncodeError:  # a lone surrogate echoed back (a client_id): escape it, still valid JSON
        return Frame(json.dumps(obj, separators=(",", ":")))


@functools.lru_cache(maxsize=4)
def _count_frame(figures: tuple[int, int]) -> Frame:
    """Encoded once per distinct count, whatever the number of sockets it goes to."""
    return encode({"type": "user_count", "authenticated": figures[0], "anonymous": figures[1]})


class Connection:
    __slots__ = ("id", "sink", "ip", "user", "auth_exp", "last_seen", "count_sent", "count_at", "rooms", "watches")

    def __init__(self, sink, ip=None):
        self.id = uuid.uuid4().hex[:12]
        self.sink = sink
        self.ip = ip
        self.user: dict | None = None  # the contract's User, email included
        self.auth_exp = 0
        self.last_seen = time.monotonic()
        self.count_sent: tuple[int, int] | None = None
        self.count_at = 0.0
        self.rooms: set[int] = set()  # the rooms this socket receives
        self.watches: set[int] = set()  # public rooms it watches without being a member

    @property
    def user_id(self) -> int | None:
        return self.user["id"] if self.user else None

    def send(self, obj) -> None:
        self.sink.write(encode(obj))


class RoomView:
    """A followed room: where its stream is (cursor), its payload as last known, and
    the local sockets that receive it."""

    __slots__ = ("id", "info", "cursor", "conns", "left", "joined")

    def __init__(self, info: dict, cursor: int):
        self.left: dict[int, int] = {}  # user id -> seq of their last member_left seen here
        self.joined: tuple | None = None  # (cursor, info version, encoded room_joined): one encode for a burst
        self.id = info["id"]
        self.info = {k: v for k, v in info.items() if k != "last_seq"}
        self.cursor = cursor
        self.conns: set[Connection] = set()

    def joined_frame(self, cursor: int | None = None) -> dict:
        return {"type": "room_joined", "room": {**self.info, "last_seq": self.cursor if cursor is None else cursor}}

    def joined_encoded(self) -> Frame:
        """room_joined at the current cursor, encoded once while nothing changes (a
        reconnect storm starts the same room on thousands of sockets)."""
        key = (self.cursor, id(self.info), self.info.get("member_count"), self.info.get("name"), self.info.get("topic"))
        if self.joined is None or self.joined[0] != key:
            self.joined = (key, encode(self.joined_frame()))
        return self.joined[1]


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
        if DEFAULT_ROOM_ID not in hub.rooms:
            await hub.ready()
        return hub

    async def ready(self):
        """Follows the default room before the first socket is attached: every event
        stored after the starting point reaches that socket."""
        try:
            await database_sync_to_async(stream.default_room_ensure)()
            await asyncio.wait_for(self.follow(DEFAULT_ROOM_ID), 3)
        except Exception:  # noqa: BLE001 - storage down: start from the first event that arrives
            if DEFAULT_ROOM_ID not in self.rooms:
                self.rooms[DEFAULT_ROOM_ID] = RoomView(
                    {"id": DEFAULT_ROOM_ID, "kind": "public", "name": "general", "topic": "", "member_count": 0}, None)

    def __init__(self, loop):
        self.loop = loop
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.conns: set[Connection] = set()
        self.rooms: dict[int, RoomView] = {}
        self.following: dict[int, asyncio.Future] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.seen = collections.OrderedDict()  # eids of per-user and typing events already handled
        self.local = LocalState()
        self.per_ip: Counter[str] = Counter()
        self.remote = RemoteView()
        self.store = presence_store()
        self.subscriptions = broker.Subscriptions(self.inbox.put_nowait)
        self.presence_dirty = True
        self.figures: tuple[int, int] | None = None  # the user_count last pushed
        self.count_stale: set[Connection] = set()  # sockets still owed the current figures
        self.expiries: list = []  # heap of (exp, seq, conn): tokens to demote when they expire
        self.membership_mark: int | None = None  # the newest membership id seen by the poll
        self._order = itertools.count()
        self.tasks: list[asyncio.Task] = []
        self.stopping = False
        self.writer = Batcher(services.messages_send)
        self.sign_ins = Batcher(users_active)  # the `auth` frames' user lookups
        self.memberships = Batcher(selectors.member_rooms_of_users)  # and their rooms

    # ---- lifecycle --------------------------------------------------------------
    def start(self):
        spawn = self.loop.create_task
        self.tasks = [spawn(self._process()), spawn(self._tail_poll()), spawn(self._presence()), spawn(self._sweep()),
                      spawn(self.subscriptions.run())]

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

    # ---- rooms followed ----------------------------------------------------------------
    async def follow(self, room_id: int, *, cursor: int | None = None, info: dict | None = None) -> RoomView | None:
        """The room's view, following it first if needed: subscribe to its group, then
        read where its stream is (or start at `cursor`). None if the room is gone."""
        view = self.rooms.get(room_id)
        if view is not None:
            return view
        pending = self.following.get(room_id)
        if pending is None:
            pending = self.following[room_id] = asyncio.ensure_future(self._follow(room_id, cursor, info))
            pending.add_done_callback(lambda _: self.following.pop(room_id, None))
        return await asyncio.shield(pending)

    async def _follow(self, room_id, cursor, info) -> RoomView | None:
        await self.subscriptions.want(broker.room_group(room_id))
        if info is None or cursor is None:
            found = await database_sync_to_async(selectors.rooms_by_id)([room_id])
            if not found:
                await self.subscriptions.drop(broker.room_group(room_id))
                return None
            info = found[0]
            if cursor is None:
                cursor = info["last_seq"]
        view = self.rooms.get(room_id)
        if view is None:
            view = self.rooms[room_id] = RoomView(info, cursor)
        return view

    def _unfollow_if_idle(self, view: RoomView) -> None:
        if view.conns or view.id == DEFAULT_ROOM_ID or self.rooms.get(view.id) is not view:
            return
        del self.rooms[view.id]
        self.loop.create_task(self.subscriptions.drop(broker.room_group(view.id)))

    def _start_room(self, conn: Connection, view: RoomView, cursor: int | None = None, write: bool = True) -> Frame | None:
        """The socket receives the room from `cursor` (default: where the hub is); its
        room_joined is written now, or returned for the caller to write with others."""
        if conn in view.conns:
            return None
        view.conns.add(conn)
        conn.rooms.add(view.id)
        frame = view.joined_encoded() if cursor is None else encode(view.joined_frame(cursor))
        if write:
            conn.sink.write(frame)
        return frame

    def _stop_room(self, conn: Connection, view: RoomView) -> None:
        if conn not in view.conns:
            return
        view.conns.discard(conn)
        conn.rooms.discard(view.id)
        conn.watches.discard(view.id)
        conn.send({"type": "room_left", "room_id": view.id})
        self._unfollow_if_idle(view)

    async def start_member_rooms(self, conn: Connection, memberships: list[tuple[int, int]]) -> None:
        """After `auth` (the socket already in by_user, memberships read after that): the
        socket receives each room the user is a member of, from the hub's cursor. A room
        whose stream the hub has not reached the joining seq of yet is started by its
        member_joined frame instead; one the user left since (seen here) is not started."""
        user_id = conn.user_id
        joined = dict(memberships)
        missing = [room_id for room_id in joined if room_id not in self.rooms]
        if missing:
            await asyncio.gather(*(self.subscriptions.want(broker.room_group(r)) for r in missing))
            # Membership and last_seq from one statement: a removal committed since the
            # memberships were read is seen here, or comes as an event after last_seq.
            infos = await database_sync_to_async(selectors.member_rooms_info)(user_id=user_id, room_ids=missing)
            for room_id in missing:
                joined.pop(room_id, None)
            for info in infos:
                joined[info["id"]] = info.pop("joined_seq")
                await self.follow(info["id"], cursor=info["last_seq"], info=info)
        frames = []
        for room_id, joined_seq in joined.items():
            view = self.rooms.get(room_id)
            if view is None or conn.user_id != user_id or conn not in self.conns:
                continue
            if view.cursor is not None and view.cursor >= joined_seq and view.left.get(user_id, -1) < joined_seq:
                frame = self._start_room(conn, view, write=False)
                if frame is not None:
                    frames.append(frame)
        if frames:
            conn.sink.write(Frame.join(frames))  # every room_joined of the sign-in in one write

    async def watch(self, conn: Connection, room_id: int) -> bool:
        view = await self.follow(room_id)
        if view is None or conn not in self.conns:
            return False
        if room_id not in conn.rooms:
            conn.watches.add(room_id)
            self._start_room(conn, view)
        else:
            conn.sink.write(view.joined_encoded())
        return True

    def unwatch(self, conn: Connection, room_id: int) -> bool:
        if room_id not in conn.watches:
            return False
        view = self.rooms.get(room_id)
        conn.watches.discard(room_id)
        if view is not None:
            self._stop_room(conn, view)
        return True

    def member_of(self, conn: Connection, room_id: int) -> bool:
        return room_id in conn.rooms and room_id not in conn.watches

    # ---- sockets ------------------------------------------------------------------
    def ip_full(self, ip: str | None) -> bool:
        """Per-IP socket cap; CHAT_RATE_LIMITS=off lifts it like every other limit."""
        return settings.CHAT_RATE_LIMITS and ip is not None and self.per_ip[ip] >= settings.CHAT_MAX_SOCKETS_PER_IP

    def user_full(self, user_id: int) -> bool:
        return settings.CHAT_RATE_LIMITS and self.local.users.get(user_id, 0) >= settings.CHAT_MAX_SOCKETS_PER_USER

    def attach(self, send, ip: str | None = None) -> Connection:
        conn = Connection(sink_for(send, settings.CHAT_SOCKET_BACKLOG_BYTES), ip)
        self.conns.add(conn)
        if ip is not None:
            self.per_ip[ip] += 1
        self.local.add(None)
        self._presence_changed()
        metrics.SOCKETS.labels(kind="anonymous").inc()
        self._send_count(conn, totals(self.local, self.remote))
        self._start_room(conn, self.rooms[DEFAULT_ROOM_ID])
        return conn

    def detach(self, conn: Connection) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        if conn.ip is not None:
            self.per_ip[conn.ip] -= 1
            if self.per_ip[conn.ip] <= 0:
                del self.per_ip[conn.ip]
        self._forget_user(conn)
        for room_id in conn.rooms:
            view = self.rooms.get(room_id)
            if view is not None:
                view.conns.discard(conn)
                self._unfollow_if_idle(view)
        conn.rooms.clear()
        self.local.remove(conn.user_id)
        metrics.SOCKETS.labels(kind="authenticated" if conn.user else "anonymous").dec()
        self._presence_changed()

    def authenticate(self, conn: Connection, user: dict, exp: int) -> None:
        if conn not in self.conns:
            return
        if conn.user is not None and conn.user_id != user["id"]:
            self.demote(conn)
        self._set_user(conn, user)
        conn.auth_exp = exp
        self.by_user.setdefault(user["id"], set()).add(conn)
        heapq.heappush(self.expiries, (exp, next(self._order), conn))

    def demote(self, conn: Connection, notice: dict | None = None) -> None:
        """Back to a guest: the notice (auth_failed, refresh) first, then room_left for
        every room it stops receiving (all but the default one and watched public
        ones), at once."""
        rooms = sorted(conn.rooms - conn.watches - {DEFAULT_ROOM_ID}) if conn.user is not None else []
        if conn.user is not None:
            self._forget_user(conn)
            self._set_user(conn, None)
        # -1: demoted because the token expired (a message now answers token_expired).
        conn.auth_exp = -1 if notice == {"type": "refresh"} else 0
        if notice is not None:
            conn.send(notice)
        for room_id in rooms:
            view = self.rooms.get(room_id)
            if view is not None:
                self._stop_room(conn, view)

    def _forget_user(self, conn: Connection) -> None:
        if conn.user is not None:
            mine = self.by_user.get(conn.user_id)
            if mine is not None:
                mine.discard(conn)
                if not mine:
                    del self.by_user[conn.user_id]

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
    def _seen(self, event: dict) -> bool:
        eid = event.get("eid")
        if eid is None:
            return False
        if eid in self.seen:
            return True
        self.seen[eid] = None
        if len(self.seen) > SEEN_EIDS:
            self.seen.popitem(last=False)
        return False

    async def _process(self):
        while True:
            event = await self.inbox.get()
            try:
                kind = event.get("type")
                if kind == "room.events":
                    view = self.rooms.get(event["room_id"])
                    if view is not None:
                        await self._on_events(view, event["events"])
                elif kind == "room.tail":
                    view = self.rooms.get(event["room_id"])
                    if view is not None:
                        await self._catch_up(view, event["last_seq"])
                elif self._seen(event):
                    continue
                elif kind == "room.typing":
                    self._on_typing(event)
                elif kind == "user.room":
                    await self._on_membership(event)
                elif kind == "user.read":
                    frame = encode(event["frame"])
                    for conn in list(self.by_user.get(event["user_id"], ())):
                        conn.sink.write(frame)
                elif kind == "user.deactivated":
                    self._demote_user(event["user_id"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub failed to handle an event")

    async def _on_events(self, view: RoomView, frames: list[dict]):
        """Frames of one room in seq order: drop what was delivered, repair a gap from
        storage, and write the rest."""
        ready = []
        for frame in frames:
            if view.cursor is None:  # started while storage was down: nothing delivered before this
                view.cursor = frame["seq"] - 1
            if frame["seq"] <= view.cursor:
                continue
            if frame["seq"] != view.cursor + 1 + len(ready):
                self._deliver(view, ready)
                ready = []
                await self._fill(view, upto=frame["seq"] - 1)
                if frame["seq"] <= view.cursor:
                    continue
            ready.append(frame)
        self._deliver(view, ready)

    async def _catch_up(self, view: RoomView, last_seq: int):
        if view.cursor is not None and last_seq > view.cursor:
            await self._fill(view, upto=last_seq)

    async def _fill(self, view: RoomView, *, upto: int):
        """Delivers every stored event with cursor < seq <= upto, oldest first."""
        while view.cursor < upto:
            try:
                page = await database_sync_to_async(stream.events_between)(
                    room_id=view.id, after=view.cursor, upto=upto, limit=GAP_PAGE)
            except Exception as exc:  # noqa: BLE001 - storage down: the next event or tail poll repairs
                metrics.FAILURES.labels(reason="gap_repair").inc()
                logger.warning("gap repair failed: %s", type(exc).__name__)
                return
            if not page or page[0]["seq"] != view.cursor + 1:
                logger.warning("events of room %s after seq %s are no longer kept", view.id, view.cursor)
                view.cursor = page[0]["seq"] - 1 if page else upto
            metrics.GAP_REPAIRS.inc(len(page))
            self._deliver(view, page)
            if len(page) < GAP_PAGE:
                return

    def _deliver(self, view: RoomView, frames: list[dict]):
        """Writes consecutive frames of a room to its sockets, each encoded once per
        viewer kind, with one write per socket per run of frames. Membership frames
        change who receives the room at their own seq."""
        run: list[dict] = []
        for frame in frames:
            kind = frame["type"]
            if kind == "member_joined":
                self._write(view, run)
                run = []
                self._on_joined(view, frame)
                self._write(view, [frame])
            elif kind == "member_left":
                self._write(view, run)
                run = []
                self._write(view, [frame])
                self._on_left(view, frame)
            else:
                if kind == "room_updated":
                    view.info.update({k: v for k, v in frame["room"].items() if k != "last_seq"})
                run.append(frame)
            view.cursor = frame["seq"]
        self._write(view, run)

    def _write(self, view: RoomView, frames: list[dict]):
        if not frames or not view.conns:
            return
        full = Frame(*(_encode_text(f) for f in frames))
        guest = None
        for conn in view.conns:
            if conn.user is not None:
                conn.sink.write(full)
            else:
                if guest is None:
                    guest = Frame(*(_encode_text(stream.frame_for_guest(f)) for f in frames))
                conn.sink.write(guest)
        metrics.DELIVERIES.inc(len(view.conns) * len(frames))

    def _on_joined(self, view: RoomView, frame: dict):
        if view.id != DEFAULT_ROOM_ID:
            view.info["member_count"] = view.info.get("member_count", 0) + 1
            if "members" in view.info and all(u["id"] != frame["user"]["id"] for u in view.info["members"]):
                view.info["members"] = sorted([*view.info["members"], frame["user"]], key=lambda u: u["id"])
        for conn in list(self.by_user.get(frame["user"]["id"], ())):
            if conn in view.conns:
                conn.watches.discard(view.id)  # a watcher who joins is now a member
            else:
                self._start_room(conn, view, cursor=frame["seq"] - 1)

    def _on_left(self, view: RoomView, frame: dict):
        view.left[frame["user_id"]] = frame["seq"]
        if view.id != DEFAULT_ROOM_ID:
            view.info["member_count"] = max(0, view.info.get("member_count", 0) - 1)
        for conn in list(self.by_user.get(frame["user_id"], ())):
            if conn in view.conns:
                self._stop_room(conn, view)

    async def _on_membership(self, event: dict):
        """The user's membership of a room changed at seq: a replica with a socket of
        theirs follows the room and catches up to that seq (the member frame itself
        starts or stops the room on those sockets)."""
        room_id, seq = event["room_id"], event["seq"]
        view = self.rooms.get(room_id)
        if view is None:
            if not self.by_user.get(event["user_id"]):
                return
            view = await self.follow(room_id, cursor=seq - 1)
            if view is None:
                return
        await self._catch_up(view, seq)
        late = [c for c in self.by_user.get(event["user_id"], ()) if c not in view.conns]
        if late and view.cursor is not None and view.cursor >= seq and view.left.get(event["user_id"], -1) < seq:
            await self._start_late(view, late, event["user_id"], seq)
        self._unfollow_if_idle(view)

    async def _start_late(self, view: RoomView, conns: list, user_id: int, seq: int):
        """The hub passed the joining seq without these sockets (it started following the
        room for another viewer after the join, and the per-user event came late): they
        get room_joined at seq - 1 and the stored events from seq on, as if on time.
        Only while the membership still stands; a removal after this is a later event."""
        still = await database_sync_to_async(selectors.is_member_since)(room_id=view.id, user_id=user_id, seq=seq)
        if not still:
            return
        frames = await database_sync_to_async(stream.events_between)(
            room_id=view.id, after=seq - 1, upto=view.cursor, limit=GAP_PAGE)
        if len(frames) != view.cursor - seq + 1:
            return  # too far behind (or pruned): the client replays by itself after a reconnect
        events = Frame(*(_encode_text(f) for f in frames))
        for conn in conns:
            if conn in self.conns and conn.user_id == user_id:
                joined = self._start_room(conn, view, cursor=seq - 1, write=False)
                if joined is not None:
                    conn.sink.write(Frame.join([joined, events]))

    def _on_typing(self, event: dict):
        view = self.rooms.get(event["room_id"])
        if view is None or len(view.conns) > settings.CHAT_TYPING_MAX_VIEWERS:
            return
        typist = event["user"]["id"]
        frame = None
        for conn in view.conns:
            if conn.user_id != typist:
                if frame is None:
                    frame = encode({"type": "typing", "room_id": view.id, "user": event["user"]})
                conn.sink.write(frame)

    def _demote_user(self, user_id: int):
        for conn in list(self.by_user.get(user_id, ())):
            self.demote(conn, {"type": "auth_failed"})

    # ---- the tail poll ------------------------------------------------------------------
    async def _tail_poll(self):
        """Finds events whose publish never arrived and that nothing followed yet: one
        query for every followed room."""
        while True:
            await asyncio.sleep(settings.CHAT_TAIL_POLL_S)
            rooms = [view.id for view in self.rooms.values() if view.cursor is not None]
            try:
                last = await database_sync_to_async(selectors.rooms_last_seq)(rooms) if rooms else {}
            except Exception:  # noqa: BLE001 - storage away: try again next round
                continue
            for room_id, last_seq in last.items():
                view = self.rooms.get(room_id)
                if view is not None and view.cursor is not None and last_seq > view.cursor:
                    self.inbox.put_nowait({"type": "room.tail", "room_id": room_id, "last_seq": last_seq})
            await self._new_memberships()

    async def _new_memberships(self):
        """The per-user group is at most once too: memberships of local users made since
        the last poll (by id, re-reading a margin for transactions that committed out of
        id order) go through the same path as a `user.room` event. A repeat changes nothing."""
        try:
            if self.membership_mark is None:
                self.membership_mark = await database_sync_to_async(selectors.membership_last_id)()
                return
            if not self.by_user:
                return
            rows = await database_sync_to_async(selectors.memberships_after)(
                after_id=self.membership_mark - MEMBERSHIP_MARGIN, user_ids=list(self.by_user))
        except Exception:  # noqa: BLE001 - storage away: next round
            return
        for membership_id, user_id, room_id, joined_seq in rows:
            self.membership_mark = max(self.membership_mark, membership_id)
            view = self.rooms.get(room_id)
            if view is None or not any(c in view.conns for c in self.by_user.get(user_id, ())):
                self.inbox.put_nowait({"type": "user.room", "user_id": user_id, "room_id": room_id, "seq": joined_seq})

    # ---- presence ---------------------------------------------------------------------
    def _presence_changed(self):
        self.presence_dirty = True

    def _send_count(self, conn: Connection, figures: tuple[int, int]):
        if figures != self.figures:
            self.count_stale.add(conn)  # will get the current figures on the next tick
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
            if figures != self.figures:  # every socket is behind; otherwise only those still waiting
                self.figures = figures
                self.count_stale = set(self.conns)
            for conn in list(self.count_stale):
                if conn not in self.conns or conn.count_sent == figures:
                    self.count_stale.discard(conn)
                elif now - conn.count_at >= COUNT_MIN_INTERVAL_S:
                    self._send_count(conn, figures)
                    self.count_stale.discard(conn)
            await asyncio.sleep(PRESENCE_TICK_S)

    def store_ttl_third(self) -> float:
        return settings.CHAT_PRESENCE_TTL_S / 3

    # ---- housekeeping -------------------------------------------------------------------
    async def _sweep(self):
        """Expired tokens are demoted within a second of exp; idle sockets are closed and
        bans whose event was lost are applied every few seconds."""
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(EXPIRY_CHECK_S)
            now_mono, now = time.monotonic(), time.time()
            while self.expiries and self.expiries[0][0] <= now:  # a heap: no pass over every socket
                exp, _, conn = heapq.heappop(self.expiries)
                if conn in self.conns and conn.user is not None and conn.auth_exp == exp:
                    self.demote(conn, {"type": "refresh"})
            if now_mono - last_full < SWEEP_S:
                continue
            last_full = now_mono
            for conn in list(self.conns):
                if now_mono - conn.last_seen > settings.CHAT_IDLE_TIMEOUT_S:
                    conn.sink.close(1000)
            if self.by_user:
                try:
                    inactive = await database_sync_to_async(users_inactive_among)(set(self.by_user))
                except Exception:  # noqa: BLE001
                    continue
                for user_id in inactive:
                    self._demote_user(user_id)
