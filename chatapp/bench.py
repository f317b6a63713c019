"""The fan-out benchmark behind `manage.py chat_bench`.

For each server under test (the product: one daphne process with PostgreSQL and
Redis; the ceiling: a plain `websockets` broadcast server started here) it opens N
sockets from W load processes (half of them signed in, on the product), has S
senders send R messages/s in total for D seconds through the real protocol, and
measures what reached every socket: deliveries/s, end-to-end latency (send → receipt,
one clock), undelivered and duplicated deliveries, server CPU and RSS per socket, and
the time to open the sockets. Figures of both servers come from the same run, so they
can be compared as ratios on a noisy machine.
"""

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench password 1234"


# ---- the ceiling: a plain websockets broadcast server --------------------------------

def _daphne() -> str:
    """The contract's command line: daphne chatapp.asgi:application."""
    return str(Path(sys.executable).with_name("daphne"))

def baseline_server(port: int) -> None:
    import websockets
    from websockets.asyncio.server import broadcast, serve

    clients = set()
    counter = {"id": 0}

    async def handler(ws):
        clients.add(ws)
        await ws.send(json.dumps({"type": "user_count", "authenticated": 0, "anonymous": len(clients)}))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "message":
                    counter["id"] += 1
                    message = {"id": counter["id"], "prev_id": counter["id"] - 1, "body": frame["body"]}
                    broadcast(clients, json.dumps({"type": "message", "message": message}))
                elif frame.get("type") == "ping":
                    await ws.send('{"type":"pong"}')
        except websockets.ConnectionClosed:
            pass
        finally:
            clients.discard(ws)

    async def main():
        async with serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


# ---- process helpers -------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http(method, url, body=None, cookie=None):
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null"), response.headers


def bench_token(base: str, n: int) -> str:
    """An access token for bench user n; the users are kept between runs, so only the
    first run registers them (Argon2 makes registration the slow part)."""
    email = f"bench-{n}@example.com"
    try:
        return http("POST", f"{base}/api/login", {"email": email, "password": PASSWORD})[1]["access"]
    except urllib.error.HTTPError:
        http("POST", f"{base}/api/register", {"email": email, "name": f"Bench {n}", "password": PASSWORD})
        return http("POST", f"{base}/api/login", {"email": email, "password": PASSWORD})[1]["access"]


# ---- load workers ---------------------------------------------------------------------
def load_worker(url, count, tokens, ready, start, stop, results, seed):
    try:
        asyncio.run(_load_worker(url, count, tokens, ready, start, stop, results, seed))
    except BaseException as exc:  # noqa: BLE001 - tell the parent instead of leaving it waiting
        ready.put(f"load worker failed: {exc!r}")


async def _load_worker(url, count, tokens, ready, start, stop, results, seed):
    import websockets

    rng = random.Random(seed)
    seen: list[dict] = []
    latencies: list[int] = []
    state = {"deliveries": 0, "duplicates": 0, "last_at": 0.0}

    async def reader(ws, ids):
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] != "message":
                    continue
                message = frame["message"]
                body = message["body"]
                if not body.startswith("bench "):
                    continue
                state["deliveries"] += 1
                if message["id"] in ids:
                    state["duplicates"] += 1
                ids.add(message["id"])
                latencies.append(time.time_ns() - int(body.split()[1]))
                state["last_at"] = time.monotonic()
        except websockets.ConnectionClosed:
            pass

    opened = time.monotonic()
    sockets, tasks = [], []

    async def open_one(i):
        for attempt in range(20):
            try:
                ws = await websockets.connect(url, max_queue=None, ping_interval=None, max_size=2**20,
                                              open_timeout=60)
                break
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.1 * (attempt + 1))
        else:
            raise RuntimeError("could not open a socket")
        if tokens and i % 2 == 0:
            await ws.send(json.dumps({"type": "auth", "token": rng.choice(tokens)}))
        ids: set = set()
        seen.append(ids)
        sockets.append(ws)
        tasks.append(asyncio.create_task(reader(ws, ids)))

    for batch in range(0, count, 100):  # 100 handshakes in flight per load process
        await asyncio.gather(*(open_one(i) for i in range(batch, min(count, batch + 100))))
    connect_s = time.monotonic() - opened
    ready.put(connect_s)
    while not start.is_set():
        await asyncio.sleep(0.05)
    while not stop.is_set():
        await asyncio.sleep(0.05)
    unique = [len(ids) for ids in seen]
    results.put({"deliveries": state["deliveries"], "duplicates": state["duplicates"], "unique": unique,
                 "latencies": latencies, "connect_s": connect_s, "last_at": state["last_at"]})
    for ws in sockets:
        ws.transport.abort()


NODE_CLIENT = os.path.join(BASE_DIR, "bench", "loadclient.js")


def node_client_missing() -> str | None:
    """Why `--client node` cannot run here, or None."""
    import shutil

    if shutil.which("node") is None:
        return "node is not installed (Debian: apt-get install nodejs npm)"
    if not os.path.isdir(os.path.join(BASE_DIR, "bench", "node_modules", "ws")):
        return "the Node client's packages are missing: run (cd bench && npm ci)"
    return None


def node_worker(url, count, tokens, ready, start, stop, results, seed):
    """load_worker's contract, with the sockets held by Node (bench/loadclient.js): a
    client several times cheaper per delivery than Python's, so it does not limit what
    is measured. This process only relays; Node's CPU counts as the load client's."""
    process = subprocess.Popen(["node", NODE_CLIENT, url, str(count), str(seed)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env={**os.environ, "BENCH_TOKENS": json.dumps(tokens)})
    try:
        first = json.loads(process.stdout.readline() or b'{"error": "node exited"}')
        if "error" in first:
            ready.put(f"node load client failed: {first['error']}")
            return
        ready.put(first["connect_s"])
        stop.wait()
        process.stdin.write(b"stop\n")
        process.stdin.flush()
        results.put(json.loads(process.stdout.readline()))
    finally:
        process.kill()
        process.wait()


# ---- one server under test ------------------------------------------------------------
@dataclass
class Result:
    server: str
    sockets: int
    senders: int
    rate: float
    duration: float
    sent: int = 0
    deliveries_offered_per_s: float = 0
    deliveries_per_s: float = 0
    undelivered: int = 0
    duplicated: int = 0
    p50_ms: float = 0
    p95_ms: float = 0
    p99_ms: float = 0
    max_ms: float = 0
    server_cpu_s: float = 0
    cpu_us_per_delivery: float = 0
    rss_kb_per_socket: float = 0
    open_s: float = 0
    client_cpu_s: float = 0
    extra: dict = field(default_factory=dict)


SERVER_COMMANDS = {
    "daphne": lambda port: [_daphne(), "-b", "127.0.0.1", "-p", str(port), "chatapp.asgi:application"],
    # uvicorn for comparison only: the hub then writes through a per-socket queue and task
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "chatapp.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port), "--ws", "websockets", "--ws-max-size", "65536", "--no-access-log",
                             "--log-level", "warning", "--backlog", "2048"],
}


class ServerUnderTest:
    def __init__(self, kind: str, port: int, env: dict, asgi_server: str = "daphne"):
        self.kind, self.port, self.env, self.asgi_server = kind, port, env, asgi_server
        self.process = None
        self.tokens: list[str] = []
        self.sender_tokens: list[str] = []

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws/chat" if self.kind == "product" else f"ws://127.0.0.1:{self.port}/"

    def start(self, senders: int, users: int):
        if self.kind == "product":
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=self.env, check=True)
            self.process = subprocess.Popen(
                SERVER_COMMANDS[self.asgi_server](self.port),
                cwd=BASE_DIR, env=self.env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            from chatapp.cluster import wait_http

            wait_http(f"http://127.0.0.1:{self.port}/healthz")
            base = f"http://127.0.0.1:{self.port}"
            for n in range(users + senders):
                (self.sender_tokens if n < senders else self.tokens).append(bench_token(base, n))
        elif self.kind.startswith("stock-"):
            env = {**self.env, "BENCH_LAYER": self.kind.split("-", 1)[1]}
            env.pop("DJANGO_SETTINGS_MODULE", None)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "chatapp.bench_stock:application"],
                cwd=BASE_DIR, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            _wait_port(self.port)
            self.sender_tokens = [None] * senders
        else:
            self.process = subprocess.Popen([sys.executable, "-c", f"from chatapp.bench import baseline_server; baseline_server({self.port})"],
                                            cwd=BASE_DIR, stderr=subprocess.DEVNULL)
            _wait_port(self.port)
            self.sender_tokens = [None] * senders

    def stop(self):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {timeout}s") from None
            time.sleep(0.1)


async def _senders(url, tokens, rate, duration):
    import websockets

    per_sender = rate / len(tokens)
    sockets = []
    for token in tokens:
        ws = await websockets.connect(url, max_queue=None, ping_interval=None)
        if token:
            await ws.send(json.dumps({"type": "auth", "token": token}))
        sockets.append(ws)
        asyncio.create_task(_drain(ws))
    await asyncio.sleep(0.5)
    sent = 0

    async def run(ws, offset):
        nonlocal sent
        interval = 1 / per_sender
        start = time.monotonic() + offset * interval / len(sockets)
        n = 0
        while True:
            due = start + n * interval
            if due - start >= duration:
                return
            await asyncio.sleep(max(0, due - time.monotonic()))
            body = f"bench {time.time_ns()} " + "x" * 4
            await ws.send(json.dumps({"type": "message", "body": body}))
            sent += 1
            n += 1

    await asyncio.gather(*(run(ws, i) for i, ws in enumerate(sockets)))
    return sent, sockets


async def _drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:  # noqa: BLE001
        pass


def run_one(server: ServerUnderTest, *, sockets: int, senders: int, rate: float, duration: float, workers: int,
            progress=None, client: str = "python") -> Result:
    name = server.kind if server.kind == "baseline" else f"{server.kind}/{server.asgi_server}"
    result = Result(name, sockets, senders, rate, duration)
    try:
        server.start(senders, users=min(50, max(1, sockets // 2)))
        ctx = mp.get_context("fork")
        ready, results = ctx.Queue(), ctx.Queue()
        start, stop = ctx.Event(), ctx.Event()
        rss_before = rss_kb(server.process.pid)
        per = [sockets // workers + (1 if i < sockets % workers else 0) for i in range(workers)]
        worker = node_worker if client == "node" else load_worker
        procs = [ctx.Process(target=worker, args=(server.ws_url, n, server.tokens if server.kind == "product" else [],
                                                        ready, start, stop, results, i)) for i, n in enumerate(per)]
        opened = time.monotonic()
        sys.stderr.write(f"opening {sockets} sockets…\n")
        for p in procs:
            p.start()
        connect_times = [ready.get(timeout=300) for _ in procs]
        failures = [c for c in connect_times if isinstance(c, str)]
        if failures:
            raise RuntimeError(failures[0])
        result.open_s = round(time.monotonic() - opened, 2)
        time.sleep(1.5)  # let presence pushes of the connection burst settle
        result.rss_kb_per_socket = round((rss_kb(server.process.pid) - rss_before) / sockets, 1)
        cpu0 = cpu_seconds(server.process.pid)
        children0 = _children_cpu()
        start.set()
        started = time.monotonic()
        sent, sender_sockets = asyncio.run(_send_and_wait(server, senders, rate, duration, progress))
        elapsed = time.monotonic() - started
        result.server_cpu_s = round(cpu_seconds(server.process.pid) - cpu0, 2)
        stop.set()
        stats = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        result.client_cpu_s = round(_children_cpu() - children0, 2)
        deliveries = sum(s["deliveries"] for s in stats)
        unique = sum(sum(s["unique"]) for s in stats)
        latencies = sorted(x for s in stats for x in s["latencies"])
        result.sent = sent
        result.deliveries_offered_per_s = round(sent * sockets / duration)
        last = max(s["last_at"] for s in stats) or started + elapsed
        result.deliveries_per_s = round(deliveries / max(duration, last - started))
        result.undelivered = sent * sockets - unique
        result.duplicated = deliveries - unique
        if latencies:
            result.p50_ms, result.p95_ms, result.p99_ms = (round(_quantile(latencies, q) / 1e6, 1) for q in (0.5, 0.95, 0.99))
            result.max_ms = round(latencies[-1] / 1e6, 1)
        result.cpu_us_per_delivery = round(result.server_cpu_s * 1e6 / max(1, deliveries), 2)
        result.extra["slowest_worker_open_s"] = round(max(connect_times), 2)
        return result
    finally:
        server.stop()


def _quantile(ordered: list, p: float):
    """The p-quantile of an ascending list (0 when empty)."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0


def _children_cpu() -> float:
    """CPU of this process's finished children (the load workers), in seconds."""
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


async def _send_and_wait(server, senders, rate, duration, progress):
    task = asyncio.create_task(_senders(server.ws_url, server.sender_tokens, rate, duration))
    if progress:
        for _ in range(int(duration)):
            await asyncio.sleep(1)
            progress(1)
    sent, sockets = await task
    await asyncio.sleep(min(10, 2 + duration / 5))  # let the tail of the fan-out arrive
    for ws in sockets:
        ws.transport.abort()
    return sent, sockets


@contextlib.contextmanager
def _replicas(env: dict, *ports: int):
    """Product processes (`daphne chatapp.asgi:application`) on the ports, answering /healthz;
    stopped on the way out."""
    from chatapp.cluster import wait_http

    processes = [subprocess.Popen([_daphne(), "-b", "127.0.0.1", "-p", str(port), "chatapp.asgi:application"],
                                  cwd=BASE_DIR, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                 for port in ports]
    try:
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz")
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def history_bench(port: int, env: dict, messages: int, requests: int = 500) -> dict:
    """p50/p99 of GET /api/messages pages with `messages` rows stored (PostgreSQL)."""
    import psycopg

    url = env["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM livechat_message").fetchone()[0]
        if count < messages:
            user = conn.execute("SELECT min(id) FROM accounts_user").fetchone()[0]
            conn.execute(
                "INSERT INTO livechat_message (room_id, user_id, ts, subject, body, client_id, prev_id, mentions) "
                "SELECT 1, %s, 1700000000000000000 + g::bigint * 1000, '', 'history ' || g, NULL, NULL, '[]' "
                "FROM generate_series(1, %s) g", [user, messages - count])
            conn.execute("ANALYZE livechat_message")
        top = conn.execute("SELECT max(id) FROM livechat_message").fetchone()[0]
    import http.client

    with _replicas(env, port):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        rng = random.Random(1)
        times = []
        for i in range(requests):
            cursor = rng.randint(1, top)
            path = f"/api/messages?before={cursor}&limit=50" if i % 2 else f"/api/messages?after={cursor}&limit=50"
            t = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            times.append(time.perf_counter() - t)
        times.sort()
        return {"stored": max(count, messages), "requests": requests,
                "p50_ms": round(_quantile(times, 0.5) * 1000, 2), "p99_ms": round(_quantile(times, 0.99) * 1000, 2)}


def auth_bench(port: int, env: dict, seconds: float = 5.0, clients: int = 8) -> dict:
    """POST /api/login and POST /api/refresh_credentials per second against one daphne process, from
    `clients` threads on keep-alive connections. Each refresh presents the cookie the
    previous one returned (rotation, one-time tokens), as browsers do."""
    import http.client
    import threading

    with _replicas(env, port) as (process,):
        for n in range(clients):
            bench_token(f"http://127.0.0.1:{port}", n)  # registers the bench users once

        def post(conn, path, body=None, cookie=None):
            headers = {"Content-Type": "application/json"}
            if cookie:
                headers["Cookie"] = cookie
            conn.request("POST", path, body=json.dumps(body) if body is not None else b"", headers=headers)
            response = conn.getresponse()
            response.read()
            refresh = next((c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or ()
                            if c.startswith("refresh=")), None)
            return response.status, refresh

        def measure(kind):
            counts = {"ok": 0, "failed": 0}
            latencies: list[float] = []
            lock = threading.Lock()
            deadline = time.monotonic() + seconds

            def client(n):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                credentials = {"email": f"bench-{n}@example.com", "password": PASSWORD}
                cookie = post(conn, "/api/login", credentials)[1] if kind == "refresh" else None
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    if kind == "login":
                        status, _ = post(conn, "/api/login", credentials)
                    else:
                        status, cookie = post(conn, "/api/refresh_credentials", cookie=cookie)
                    with lock:
                        latencies.append(time.perf_counter() - started)
                        counts["ok" if status == 200 else "failed"] += 1
                    if status != 200:
                        return
                conn.close()

            cpu0 = cpu_seconds(process.pid)
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
            latencies.sort()
            q = lambda p: round(_quantile(latencies, p) * 1000, 1)  # noqa: E731
            return {"per_s": round(counts["ok"] / elapsed, 1), "ok": counts["ok"], "failed": counts["failed"],
                    "p50_ms": q(0.5), "p99_ms": q(0.99),
                    "server_cpu_ms_each": round((cpu_seconds(process.pid) - cpu0) * 1000 / max(1, counts["ok"]), 2)}

        return {"clients": clients, "seconds": seconds, "login": measure("login"), "refresh": measure("refresh")}


def store_bench(env: dict, port: int, replicas: int = 2, senders: int = 8, duration: float = 5.0,
                window: int = 16) -> dict:
    """Message store + broadcast rate across replicas: senders spread over the replicas
    keep `window` messages in flight each (a message counts once its sender sees it come
    back through the fan-out)."""
    import psycopg

    with _replicas(env, *(port + i for i in range(replicas))):
        tokens = [bench_token(f"http://127.0.0.1:{port}", n) for n in range(senders)]
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            before = conn.execute("SELECT count(*) FROM livechat_message").fetchone()[0]
        acked, failed, elapsed = asyncio.run(_store_load(port, replicas, tokens, duration, window))
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) FROM livechat_message").fetchone()[0] - before
        return {"replicas": replicas, "senders": senders, "seconds": round(elapsed, 2), "stored": stored,
                "acknowledged": acked, "failed": failed, "stored_per_s": round(stored / elapsed)}


async def _store_load(port, replicas, tokens, duration, window):
    import websockets

    counts = {"acked": 0, "failed": 0}
    deadline = time.monotonic() + duration
    started = time.monotonic()

    async def sender(i, token):
        ws = await websockets.connect(f"ws://127.0.0.1:{port + i % replicas}/ws/chat", max_queue=None, ping_interval=None)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        inflight = asyncio.Semaphore(window)
        mine = f"s{i}-"

        async def read():
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "message" and (frame["message"]["client_id"] or "").startswith(mine):
                    counts["acked"] += 1
                    inflight.release()
                elif frame["type"] == "message_failed":
                    counts["failed"] += 1
                    inflight.release()

        reader = asyncio.create_task(read())
        n = 0
        while time.monotonic() < deadline:
            await inflight.acquire()
            await ws.send(json.dumps({"type": "message", "body": f"store {n}", "client_id": f"{mine}{n}-{time.time_ns()}"}))
            n += 1
        for _ in range(window):  # wait for the tail
            try:
                await asyncio.wait_for(inflight.acquire(), 5)
            except asyncio.TimeoutError:
                break
        reader.cancel()
        ws.transport.abort()

    await asyncio.gather(*(sender(i, t) for i, t in enumerate(tokens)))
    return counts["acked"], counts["failed"], time.monotonic() - started


SEARCH_VOCABULARY = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
                     "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]


def search_bench(port: int, env: dict, messages: int, rooms: int = 1000, requests: int = 300) -> dict:
    """p50/p99 of GET /api/search with `messages` stored over `rooms` public rooms
    (PostgreSQL): a rare word (one message in 10,000), a common one (every message),
    and two words together. Rows are inserted with SQL (the stored tsvector and its
    GIN index are kept by PostgreSQL itself, as for sends)."""
    import http.client
    import urllib.parse

    import psycopg

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM livechat_room WHERE name LIKE %s", ["search-bench-%"]).fetchone()[0]
        if have < rooms:
            conn.execute(
                "INSERT INTO livechat_room (kind, name, topic, last_seq, last_ts, created_at) "
                "SELECT 'public', 'search-bench-' || g, '', 0, 0, now() FROM generate_series(%s::int, %s::int) g",
                [have + 1, rooms])
        room_ids = [r[0] for r in conn.execute(
            "SELECT id FROM livechat_room WHERE name LIKE %s ORDER BY id LIMIT %s", ["search-bench-%", rooms])]
        count = conn.execute("SELECT count(*) FROM livechat_message WHERE room_id = ANY(%s)", [room_ids]).fetchone()[0]
        if count < messages:
            user = conn.execute("SELECT min(id) FROM accounts_user").fetchone()[0]
            if user is None:
                user = conn.execute(
                    "INSERT INTO accounts_user (password, email, name, is_active, is_staff, is_superuser, date_joined) "
                    "VALUES ('!', 'search-bench@example.com', 'Search Bench', true, false, false, now()) RETURNING id"
                ).fetchone()[0]
            words = "ARRAY[" + ",".join(f"'{w}'" for w in SEARCH_VOCABULARY) + "]"
            conn.execute(
                "INSERT INTO livechat_message (room_id, user_id, ts, subject, body, client_id, prev_id, mentions) "
                f"SELECT (%s::bigint[])[1 + g %% %s], %s, 1700000000000000000 + g::bigint * 1000, '', "
                f"'hello ' || ({words})[1 + g %% 20] || ' ' || ({words})[1 + (g / 20) %% 20] || "
                "CASE WHEN g %% 10000 = 0 THEN ' quasar' ELSE ' note' END, NULL, NULL, '[]' "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                [room_ids, len(room_ids), user, count + 1, messages])
            conn.execute("VACUUM ANALYZE livechat_message")
    queries = {"rare": "quasar", "common": "hello", "two words": "alpha bravo"}
    out = {"stored": max(count, messages), "rooms": len(room_ids), "requests": requests}
    with _replicas(env, port):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for label, q in queries.items():
            times, results = [], 0
            for i in range(requests):
                path = "/api/search?" + urllib.parse.urlencode({"q": q, "limit": 20})
                t = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                body = json.loads(response.read())
                times.append(time.perf_counter() - t)
                assert response.status == 200, body
                results = len(body["results"])
            times.sort()
            out[label] = {"q": q, "results": results, "p50_ms": round(_quantile(times, 0.5) * 1000, 2),
                          "p99_ms": round(_quantile(times, 0.99) * 1000, 2)}
    return out
