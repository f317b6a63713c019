"""chat_bench --rooms: what rooms cost one replica (`daphne chatapp.asgi:application`),
as ratios measured in the same run:

- open: signed-in sockets whose users are each a member of 20 rooms (out of --rooms)
  against as many signed-in sockets of users in the default room only: time until every
  socket has its `auth` answer and every `room_joined`;
- cost per delivery: server CPU per delivered frame in a 10-member room, with 100 sockets
  open and again with the room sockets above open (the replica following thousands of rooms);
- a big room: deliveries/s in a room of 1,000 member sockets against the default room with
  1,000 sockets (the version-1 path).

Users, rooms and memberships are written with SQL; tokens are minted with the replica's key.
"""

import asyncio
import json
import time
import uuid

import jwt

from chatapp.bench import _replicas, cpu_seconds

PREFIX = "rb"


def _token(secret: str, user_id: int) -> str:
    now = int(time.time())
    claims = {"token_type": "access", "user_id": user_id, "name": f"{PREFIX} {user_id}", "email": f"{PREFIX}{user_id}@example.com",
              "exp": now + 3600, "iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


def _seed(url: str, *, rooms: int, users: int, per_user: int) -> dict:
    """Idempotent: users rb-a-* (rooms), rb-b-* (default room only), rb-c-* (the 10-member
    room), rb-d-* (the big room); public rooms rb-room-*."""
    import psycopg

    groups = {"a": users, "b": users, "c": 10, "d": 50}
    with psycopg.connect(url, autocommit=True) as conn:
        ids = {}
        for group, n in groups.items():
            conn.execute(
                "INSERT INTO accounts_user (password, email, name, is_active, is_staff, is_superuser, date_joined) "
                "SELECT '!', %s || g || '@example.com', %s || g, true, false, false, now() "
                "FROM generate_series(1, %s::int) g ON CONFLICT DO NOTHING",
                [f"{PREFIX}-{group}-", f"{PREFIX} {group} ", n])
            ids[group] = [r[0] for r in conn.execute(
                "SELECT id FROM accounts_user WHERE email LIKE %s ORDER BY id", [f"{PREFIX}-{group}-%"])][:n]
        have = conn.execute("SELECT count(*) FROM livechat_room WHERE name LIKE %s", [f"{PREFIX}-room-%"]).fetchone()[0]
        if have < rooms + 2:
            conn.execute(
                "INSERT INTO livechat_room (kind, name, topic, last_seq, last_ts, created_at) "
                "SELECT 'public', %s || g, '', 0, 0, now() FROM generate_series(%s::int, %s::int) g",
                [f"{PREFIX}-room-", have + 1, rooms + 2])
        room_ids = [r[0] for r in conn.execute(
            "SELECT id FROM livechat_room WHERE name LIKE %s ORDER BY id", [f"{PREFIX}-room-%"])][: rooms + 2]
        ten, big, spread = room_ids[0], room_ids[1], room_ids[2:]
        rows = [(spread[(i * per_user + k) % len(spread)], u) for i, u in enumerate(ids["a"]) for k in range(per_user)]
        rows += [(ten, u) for u in ids["c"]] + [(big, u) for u in ids["d"]]
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO livechat_membership (room_id, user_id, role, joined_seq) VALUES (%s, %s, 'member', 0) "
                "ON CONFLICT DO NOTHING", rows)
        conn.execute("ANALYZE")
    return {"ids": ids, "ten": ten, "big": big}


class Socket:
    def __init__(self, ws):
        self.ws = ws
        self.joined = 0
        self.authed = asyncio.Event()
        self.messages = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        import websockets

        try:
            async for raw in self.ws:
                kind = raw[9:raw.index('"', 9)] if raw.startswith('{"type":"') else ""
                if kind == "message":
                    self.messages += raw.count('{"type":"message"')
                elif kind == "room_joined":
                    self.joined += 1
                elif kind in ("auth", "auth_failed"):
                    self.authed.set()
        except websockets.ConnectionClosed:
            pass

    async def close(self):
        self.reader.cancel()
        self.ws.transport.abort()


async def _open(url: str, tokens: list, want_rooms: int, concurrency: int = 100) -> tuple[list, float]:
    """Opens one socket per token (None: a guest), signs it in, and waits for its rooms."""
    import websockets

    started = time.monotonic()
    out: list[Socket] = []

    async def one(token):
        ws = await websockets.connect(url, max_queue=None, ping_interval=None, open_timeout=60)
        s = Socket(ws)
        out.append(s)
        if token:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await asyncio.wait_for(s.authed.wait(), 60)
            deadline = time.monotonic() + 60
            while s.joined < want_rooms + 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

    for i in range(0, len(tokens), concurrency):
        await asyncio.gather(*(one(t) for t in tokens[i:i + concurrency]))
    return out, time.monotonic() - started


async def _deliver(url: str, sender_token: str, room_id: int, receivers: list, messages: int, pid: int) -> dict:
    """Sends `messages` into the room (20 in flight) and waits until every receiver has them all."""
    import websockets

    base = [s.messages for s in receivers]
    ws = await websockets.connect(url, max_queue=None, ping_interval=None)
    sender = Socket(ws)
    await ws.send(json.dumps({"type": "auth", "token": sender_token}))
    await sender.authed.wait()
    await asyncio.sleep(0.3)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for n in range(messages):
        await ws.send(json.dumps({"type": "message", "room_id": room_id, "body": f"rb {n}", "client_id": uuid.uuid4().hex}))
        if n % 20 == 19:
            await asyncio.sleep(0.005)
    want = messages
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(s.messages - b < want for s, b in zip(receivers, base)):
        await asyncio.sleep(0.01)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    delivered = sum(min(want, s.messages - b) for s, b in zip(receivers, base))
    await sender.close()
    return {"deliveries": delivered, "seconds": round(elapsed, 2), "deliveries_per_s": round(delivered / elapsed),
            "cpu_us_per_delivery": round(cpu * 1e6 / max(1, delivered), 1)}


def rooms_bench(port: int, env: dict, *, rooms: int, sockets: int, messages: int = 200) -> dict:
    import subprocess
    import sys

    from chatapp.cluster import BASE_DIR

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    users = max(1, sockets // 20)
    seeded = _seed(env["DATABASE_URL"], rooms=rooms, users=users, per_user=20)
    secret = env["DJANGO_SECRET_KEY"]
    tokens = {g: [_token(secret, u) for u in ids] for g, ids in seeded["ids"].items()}
    url = f"ws://127.0.0.1:{port}/ws/chat"

    async def run(pid):
        out = {"rooms": rooms, "sockets": sockets}
        # the 10-member room with 100 sockets open
        ten, _ = await _open(url, tokens["c"], 1)
        guests, _ = await _open(url, [None] * 90, 0)
        await asyncio.sleep(3)
        out["ten_member_room_100_sockets"] = await _deliver(url, tokens["c"][0], seeded["ten"], ten, messages, pid)
        # open: default room only, then 20 rooms each
        plain, out["open_default_only_s"] = await _open(url, [tokens["b"][i % users] for i in range(sockets)], 0)
        await asyncio.gather(*(s.close() for s in plain))
        await asyncio.sleep(1)
        loaded, out["open_20_rooms_each_s"] = await _open(url, [tokens["a"][i % users] for i in range(sockets)], 20)
        out["open_ratio"] = round(out["open_20_rooms_each_s"] / out["open_default_only_s"], 2)
        out["rooms_joined"] = sum(s.joined for s in loaded)
        await asyncio.sleep(3)  # steady state: the burst's user_count pushes are over
        out["ten_member_room_loaded"] = await _deliver(url, tokens["c"][0], seeded["ten"], ten, messages, pid)
        out["cost_ratio"] = round(out["ten_member_room_loaded"]["cpu_us_per_delivery"]
                                  / out["ten_member_room_100_sockets"]["cpu_us_per_delivery"], 2)
        await asyncio.gather(*(s.close() for s in [*loaded, *ten, *guests]))
        await asyncio.sleep(1)
        # a big room against the default room, 1,000 sockets each
        big_n = min(1000, sockets)
        big, _ = await _open(url, [tokens["d"][i % 50] for i in range(big_n)], 1)
        out["big_room"] = await _deliver(url, tokens["d"][0], seeded["big"], big, messages, pid)
        await asyncio.gather(*(s.close() for s in big))
        await asyncio.sleep(1)
        crowd, _ = await _open(url, [None] * big_n, 0)
        out["default_room"] = await _deliver(url, tokens["d"][0], 1, crowd, messages, pid)
        out["big_room_ratio"] = round(out["big_room"]["deliveries_per_s"] / out["default_room"]["deliveries_per_s"], 2)
        await asyncio.gather(*(s.close() for s in crowd))
        return out

    with _replicas(env, port) as processes:
        return asyncio.run(run(processes[0].pid))
