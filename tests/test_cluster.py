"""Three real daphne replicas behind a real nginx, sharing PostgreSQL and Redis."""

import asyncio
import signal
import socket
import time
from pathlib import Path

import pytest
import websockets

from tests.wsclient import ChatClient, register_and_login, stored_ids_after

pytestmark = pytest.mark.timeout(240)


def ws_url(port, path="/ws/chat"):
    return f"ws://127.0.0.1:{port}{path}"


async def open_clients(ports, token=None, per_port=1):
    clients = []
    for port in ports:
        for _ in range(per_port):
            clients.append(await ChatClient(ws_url(port)).connect(token))
    return clients


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def replica_ports(cluster):
    return [m.port for m in cluster.members]


async def test_message_on_one_replica_arrives_once_on_every_other(cluster):
    token, user = register_and_login(cluster.url, "once@example.com", "Once")
    ports = replica_ports(cluster)
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    others = await open_clients(ports[1:] + [cluster.nginx_port])
    await sender.send({"type": "message", "subject": "", "body": "hello cluster", "client_id": "once-1"})
    for client in [sender, *others]:
        assert await client.wait(lambda c=client: any(m["body"] == "hello cluster" for m in c.messages), 10)
    await asyncio.sleep(1.0)  # time for a duplicate to show up, if there were one
    for client in [sender, *others]:
        assert [m["body"] for m in client.messages].count("hello cluster") == 1
    assert "email" not in others[0].messages[-1]["user"]  # guests: no email
    assert sender.messages[-1]["user"]["email"] == "once@example.com"
    await close_all([sender, *others])


async def _storm(cluster, senders_n=3, per_sender=200):
    ports = replica_ports(cluster)
    tokens = [register_and_login(cluster.url, f"storm{i}-{time.time_ns()}@example.com", f"S{i}")[0] for i in range(senders_n)]
    watchers = await open_clients(ports + [cluster.nginx_port], per_port=2)
    senders = [await ChatClient(ws_url(ports[i % len(ports)])).connect(tokens[i]) for i in range(senders_n)]
    start_id = None

    async def send_all(i, client):
        for n in range(per_sender):
            await client.send({"type": "message", "body": f"s{i}-{n}", "client_id": f"s{i}-{n}"})
            if n % 20 == 0:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(send_all(i, c) for i, c in enumerate(senders)))
    total = senders_n * per_sender
    everyone = watchers + senders

    def complete(c):
        return sum(1 for m in c.messages if m["body"].startswith("s")) >= total

    for client in everyone:
        assert await client.wait(lambda c=client: complete(c), 60), (len(client.messages), cluster.logs())
    await asyncio.sleep(0.5)
    bodies = None
    for client in everyone:
        client.assert_ordered_gap_free()
        mine = [m for m in client.messages if m["body"].startswith("s")]
        assert len(mine) == total
        if bodies is None:
            bodies = [m["id"] for m in mine]
            start_id = mine[0]["prev_id"] or 0
        assert [m["id"] for m in mine] == bodies
    assert stored_ids_after(cluster.url, start_id) == bodies  # the after= pages return the same set, same order
    await close_all(everyone)


async def test_three_senders_on_three_replicas_every_socket_complete_and_ordered(cluster):
    await _storm(cluster)


async def test_counts_agree_everywhere(cluster):
    await asyncio.sleep(1.5)  # sockets of earlier tests have gone
    ports = replica_ports(cluster)
    t1, _ = register_and_login(cluster.url, "count1@example.com")
    t2, _ = register_and_login(cluster.url, "count2@example.com")
    authed = [
        await ChatClient(ws_url(ports[0])).connect(t1),
        await ChatClient(ws_url(ports[1])).connect(t1),
        await ChatClient(ws_url(ports[2])).connect(t2),
    ]
    guests = await open_clients([ports[0], ports[1], ports[2], cluster.nginx_port])
    everyone = authed + guests
    for client in everyone:
        assert await client.wait(lambda c=client: c.counts and c.counts[-1] == (2, 4), 5), client.counts
    await close_all(everyone)


async def _settle_counts(clients, want, timeout):
    started = time.monotonic()
    ok = await asyncio.gather(*(c.wait(lambda c=c: c.counts and c.counts[-1] == want, timeout) for c in clients))
    return all(ok), time.monotonic() - started


async def test_sigterm_closes_with_1001_and_counts_heal_within_2s(cluster):
    await asyncio.sleep(1.5)
    ports = replica_ports(cluster)
    observers = await open_clients(ports[:2])
    doomed = await open_clients([ports[2]], per_port=3)
    assert (await _settle_counts(observers, (0, 5), 5))[0]
    started = time.monotonic()
    code = await asyncio.to_thread(cluster.signal_replica, 2, signal.SIGTERM)
    exit_s = time.monotonic() - started
    ok, took = await _settle_counts(observers, (0, 2), 2.5)
    assert ok, ([o.counts for o in observers], took)
    assert all(c.closed_code == 1001 for c in doomed), [c.closed_code for c in doomed]
    assert code == 0 and exit_s < 5, (code, exit_s)
    cluster.start_replica(2)
    await close_all(observers + doomed)


async def test_sigkill_counts_heal_within_30s(cluster):
    await asyncio.sleep(1.5)
    ports = replica_ports(cluster)
    observers = await open_clients(ports[:2])
    doomed = await open_clients([ports[2]], per_port=2)
    assert (await _settle_counts(observers, (0, 4), 5))[0]
    await asyncio.to_thread(cluster.signal_replica, 2, signal.SIGKILL)
    ok, took = await _settle_counts(observers, (0, 2), 30)
    assert ok and took < 30, took
    cluster.start_replica(2)
    await close_all(observers + doomed)


async def test_foreign_origin_gets_403_from_daphne(cluster):
    for origin in ("https://evil.example", "null"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(ws_url(cluster.nginx_port), additional_headers={"Origin": origin})
        assert refused.value.response.status_code == 403
    ok = await websockets.connect(ws_url(cluster.nginx_port), additional_headers={"Origin": cluster.url})
    await ok.close()


async def test_oversized_frame_is_closed_with_1009(cluster):
    client = await ChatClient(ws_url(replica_ports(cluster)[0])).connect()
    await client.ws.send("x" * (65 * 1024))
    assert await client.wait(lambda: client.closed_code is not None, 5)
    assert client.closed_code == 1009
    other = await ChatClient(ws_url(replica_ports(cluster)[0])).connect()  # the replica is fine
    await other.send({"type": "ping"})
    assert await other.wait(lambda: any(f["type"] == "pong" for f in other.frames), 3)
    await other.close()


async def test_largest_valid_message_is_delivered(cluster):
    token, _ = register_and_login(cluster.url, "big@example.com")
    ports = replica_ports(cluster)
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    receiver = await ChatClient(ws_url(ports[1])).connect()
    body = "\U0001f600" * 4000
    await sender.send({"type": "message", "subject": "\u00e9" * 200, "body": body})
    assert await receiver.wait(lambda: any(m["body"] == body for m in receiver.messages), 10)
    await close_all([sender, receiver])


async def test_reader_that_never_reads_is_cut_off_and_others_keep_their_pace(cluster):
    token, _ = register_and_login(cluster.url, "flood@example.com")
    port = replica_ports(cluster)[0]
    # A client that never reads: a tiny receive buffer and nobody calling recv().
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper = await websockets.connect(ws_url(port), sock=raw, max_queue=1, max_size=2**22)
    healthy = await ChatClient(ws_url(port)).connect()
    sender = await ChatClient(ws_url(replica_ports(cluster)[1])).connect(token)
    body = "z" * 3900
    for n in range(1500):
        await sender.send({"type": "message", "body": f"{n} {body}"})
        if n % 50 == 0:
            await asyncio.sleep(0)
    assert await healthy.wait(lambda: sum(1 for m in healthy.messages if m["body"].endswith(body)) >= 1500, 90)
    # frames reached the healthy reader as they were sent (no stall behind the sleeper)
    arrivals = [f["_at"] for f in healthy.frames if f["type"] == "message"]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert max(gaps) < 2.0, max(gaps)
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    cut = [line for line in text.splitlines() if line.startswith("chat_slow_readers_total")]
    assert cut and float(cut[0].split()[-1]) >= 1, cut
    sleeper.transport.abort()
    await close_all([healthy, sender])


async def test_every_frame_through_daphne(cluster):
    token, user = register_and_login(cluster.url, "frames@example.com", "Frames")
    client = await ChatClient(ws_url(cluster.nginx_port)).connect()
    await client.send({"type": "ping"})
    await client.send({"type": "auth", "token": "not a token"})
    await client.send({"type": "nonsense"})
    await client.send({"type": "message", "body": "x", "client_id": "anon"})
    await client.ws.send(b"\x00binary")
    await client.send({"type": "auth", "token": token})
    kinds = ["pong", "auth_failed", "error", "message_failed", "error", "auth"]
    assert await client.wait(lambda: [f["type"] for f in client.frames if f["type"] not in ("user_count", "room_joined")]
                             == kinds, 5), client.frames
    assert [f for f in client.frames if f["type"] == "auth"][0]["user"] == user
    await client.close()


def test_a_replica_starts_while_postgres_and_redis_are_unreachable(tmp_path):
    import subprocess
    import sys
    import urllib.request

    from chatapp.cluster import BASE_DIR, wait_http

    env = {
        "PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0", "DJANGO_SECRET_KEY": "k" * 60,
    }
    daphne = str(Path(sys.executable).with_name("daphne"))
    process = subprocess.Popen([daphne, "-b", "127.0.0.1", "-p", "8299", "chatapp.asgi:application"], cwd=BASE_DIR,
                               env=env, stderr=subprocess.DEVNULL)
    try:
        wait_http("http://127.0.0.1:8299/healthz", 20)
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen("http://127.0.0.1:8299/readyz", timeout=10)
        assert not_ready.value.code == 503
    finally:
        process.terminate()
        process.wait(10)


async def test_a_connection_burst_does_not_storm_user_counts(cluster):
    """300 sockets connect at once: each receives its connect frame and then at most
    one user_count a second, not one per arrival (that would be 300 × 300 frames)."""
    await asyncio.sleep(1.5)
    port = replica_ports(cluster)[0]
    clients = [ChatClient(ws_url(port)) for _ in range(300)]
    started = time.monotonic()
    await asyncio.gather(*(c.connect() for c in clients))
    await asyncio.sleep(3)
    elapsed = time.monotonic() - started
    per_socket = [len(c.counts) for c in clients]
    assert max(per_socket) <= 2 + elapsed, max(per_socket)  # connect frame + ≤ 1/s
    assert all(c.counts[-1][1] >= 300 for c in clients)  # and they converge on the truth
    await close_all(clients)
