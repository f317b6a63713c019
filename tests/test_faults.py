"""Faults injected into real processes: lost and delayed publishes, Redis restarted,
PostgreSQL unreachable. Every client that follows the contract ends with every
stored message, in order, and nothing unstored is ever acknowledged."""

import asyncio
import signal
import subprocess
import time
import urllib.request

import psycopg
import pytest

from tests.conftest import fresh_database
from tests.tcpproxy import TcpProxy
from tests.test_cluster import _storm, close_all, replica_ports, ws_url
from tests.wsclient import ChatClient, http_json, register_and_login, stored_ids_after

pytestmark = pytest.mark.timeout(300)


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_lost_and_reordered_publishes_still_give_ordered_gap_free_streams(cluster_factory):
    """A third of all PUBLISHes are dropped and the rest delayed at random: without the
    hubs' prev_id repair, sockets would miss messages or see them out of order."""
    cluster = cluster_factory(port=8300, redis_db=13, database="chat_fault_order",
                              CHAT_FAULT_PUBLISH_DROP="0.33", CHAT_FAULT_PUBLISH_DELAY_MS="150")
    await _storm(cluster, senders_n=3, per_sender=100)
    text = urllib.request.urlopen(f"http://127.0.0.1:{replica_ports(cluster)[0]}/metrics").read().decode()
    repaired = [line for line in text.splitlines() if line.startswith("chat_gap_repairs_total")]
    assert float(repaired[0].split()[-1]) > 0  # the repair path really ran
    cluster.stop()


@pytest.fixture
def own_redis():
    """A Redis server of the test's own, so that it can be stopped and restarted."""
    port = 6391

    def start():
        subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--daemonize", "yes", "--logfile", "/tmp/chat-test-redis.log"], check=True)
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)

    def stop():
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)

    start()
    yield port, start, stop
    stop()


async def test_redis_restart_fan_out_resumes_and_nothing_is_lost(cluster_factory, own_redis):
    port, start, stop = own_redis
    cluster = cluster_factory(port=8400, database="chat_fault_redis", redis_url=f"redis://127.0.0.1:{port}/0")
    ports = replica_ports(cluster)
    token, _ = register_and_login(cluster.url, "redis@example.com")
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    watcher = await ChatClient(ws_url(ports[1])).connect()

    async def send(n, tag):
        for i in range(n):
            await sender.send({"type": "message", "body": f"{tag}{i}", "client_id": f"{tag}{i}"})
            await asyncio.sleep(0.02)

    await send(20, "before")
    stop()
    await asyncio.sleep(1)
    assert status_of(f"http://127.0.0.1:{ports[1]}/readyz") == 503
    await send(20, "during")  # stored, and delivered on the sender's replica at once
    assert sum(1 for f in sender.frames if f["type"] == "message_failed") == 0
    start()
    await asyncio.sleep(2)
    assert status_of(f"http://127.0.0.1:{ports[1]}/readyz") == 200
    await send(20, "after")
    want = {f"{t}{i}" for t in ("before", "during", "after") for i in range(20)}
    for client in (sender, watcher):
        assert await client.wait(lambda c=client: want <= {m["body"] for m in c.messages}, 20), cluster.logs()
        client.assert_ordered_gap_free()
    await close_all([sender, watcher])
    cluster.stop()


async def test_postgres_unreachable_nothing_acknowledged_then_resend_stored_once(cluster_factory):
    proxy = TcpProxy(55432, 5432).up()
    try:
        database = "chat_fault_pg"
        fresh_database(database)
        cluster = cluster_factory(port=8500, redis_db=12, database=database,
                                  DATABASE_URL=f"postgres://postgres@127.0.0.1:55432/{database}")
        ports = replica_ports(cluster)
        token, _ = register_and_login(cluster.url, "pg@example.com")
        sender = await ChatClient(ws_url(ports[0])).connect(token)
        watcher = await ChatClient(ws_url(ports[1])).connect()
        proxy.down()
        await sender.send({"type": "message", "body": "while down", "client_id": "pg-1"})
        assert await sender.wait(lambda: any(f["type"] == "message_failed" for f in sender.frames), 15)
        failed = [f for f in sender.frames if f["type"] == "message_failed"][0]
        assert failed == {"type": "message_failed", "client_id": "pg-1", "reason": "unavailable", "_at": failed["_at"]}
        assert status_of(f"http://127.0.0.1:{ports[0]}/readyz") == 503
        assert status_of(f"http://127.0.0.1:{ports[0]}/healthz") == 200
        status, body, _ = http_json("POST", f"{cluster.url}/api/login", {"email": "pg@example.com", "password": "x"})
        assert status == 503 and "detail" in body
        await asyncio.sleep(0.5)
        assert not watcher.messages and not sender.messages
        proxy.up()
        await asyncio.sleep(0.5)
        for _ in range(2):
            await sender.send({"type": "message", "body": "while down", "client_id": "pg-1"})
        assert await watcher.wait(lambda: len(watcher.messages) == 1, 15)
        await asyncio.sleep(0.5)
        assert len(watcher.messages) == 1
        with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{database}") as conn:
            assert conn.execute("SELECT count(*) FROM livechat_message WHERE client_id = 'pg-1'").fetchone()[0] == 1
        await close_all([sender, watcher])
        cluster.stop()
    finally:
        proxy.close()


async def test_replica_cut_off_from_redis_is_not_ready_and_its_clients_lose_nothing(cluster_factory):
    """Replica 1 reaches Redis only through a proxy that the test cuts: its readiness
    fails, and its clients still get every message (from storage) and recover."""
    proxy = TcpProxy(56379, 6379).up()
    try:
        cluster = cluster_factory(replicas=2, port=8600, redis_db=11, database="chat_fault_cut")
        # restart replica 1 behind the proxy
        cluster.signal_replica(1, signal.SIGTERM)
        original = cluster.process_env

        def env_for_replica_1():
            env = original()
            env["REDIS_URL"] = "redis://127.0.0.1:56379/11"
            return env

        cluster.process_env = env_for_replica_1
        cluster.start_replica(1)
        cluster.process_env = original
        ports = replica_ports(cluster)
        token, _ = register_and_login(f"http://127.0.0.1:{ports[0]}", "cut@example.com")
        sender = await ChatClient(ws_url(ports[0])).connect(token)
        isolated = await ChatClient(ws_url(ports[1])).connect()
        await sender.send({"type": "message", "body": "before the cut"})
        assert await isolated.wait(lambda: len(isolated.messages) == 1, 10), (isolated.frames, sender.frames, cluster.logs())
        proxy.down()
        await asyncio.sleep(1.5)
        assert status_of(f"http://127.0.0.1:{ports[1]}/readyz") == 503
        assert status_of(f"http://127.0.0.1:{ports[0]}/readyz") == 200
        for i in range(5):
            await sender.send({"type": "message", "body": f"during the cut {i}"})
        assert await isolated.wait(lambda: len(isolated.messages) == 6, 15), isolated.messages
        isolated.assert_ordered_gap_free()
        proxy.up()
        await asyncio.sleep(2)
        assert status_of(f"http://127.0.0.1:{ports[1]}/readyz") == 200
        await sender.send({"type": "message", "body": "after the cut"})
        assert await isolated.wait(lambda: len(isolated.messages) == 7, 10)
        await close_all([sender, isolated])
        cluster.stop()
    finally:
        proxy.close()


async def test_redis_paused_fan_out_resumes_without_loss(cluster_factory, own_redis):
    port, start, stop = own_redis
    cluster = cluster_factory(replicas=2, port=8650, database="chat_fault_pause", redis_url=f"redis://127.0.0.1:{port}/0")
    ports = replica_ports(cluster)
    token, _ = register_and_login(cluster.url, "pause@example.com")
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    watcher = await ChatClient(ws_url(ports[1])).connect()
    subprocess.run(["redis-cli", "-p", str(port), "CLIENT", "PAUSE", "4000", "ALL"], check=True, capture_output=True)
    assert status_of(f"http://127.0.0.1:{ports[1]}/readyz") == 503
    for i in range(10):
        await sender.send({"type": "message", "body": f"paused {i}"})
        await asyncio.sleep(0.05)
    assert await watcher.wait(lambda: len(watcher.messages) == 10, 15), watcher.messages
    watcher.assert_ordered_gap_free()
    await asyncio.sleep(3)
    await sender.send({"type": "message", "body": "after the pause"})
    assert await watcher.wait(lambda: len(watcher.messages) == 11, 10)
    await close_all([sender, watcher])
    cluster.stop()


async def test_huge_frames_close_with_1009_and_memory_stays_bounded(cluster):
    pid = cluster.members[0].process.pid
    rss_before = int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0])
    for size in (1024 * 1024, 64 * 1024 * 1024):
        client = await ChatClient(ws_url(replica_ports(cluster)[0])).connect()
        try:
            await client.ws.send("x" * size)
        except Exception:  # noqa: BLE001 - the server may close before the client finishes sending
            pass
        assert await client.wait(lambda: client.closed_code is not None, 10)
        assert client.closed_code == 1009, client.closed_code
    rss_after = int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss_after - rss_before < 20 * 1024, (rss_before, rss_after)  # KB: far less than the 64 MiB sent


async def test_sigkill_loses_no_stored_message_for_a_client_that_follows_the_contract(cluster):
    """A replica dies mid-stream; its client reconnects elsewhere, backfills with
    after=<last id it holds> and ends with every stored message, once, in order."""
    ports = replica_ports(cluster)
    token, _ = register_and_login(cluster.url, f"kill{time.time_ns()}@example.com")
    sender = await ChatClient(ws_url(ports[0])).connect(token)
    victim = await ChatClient(ws_url(ports[2])).connect()
    first_id = None

    async def send(n, tag):
        for i in range(n):
            await sender.send({"type": "message", "body": f"{tag}{i}", "client_id": f"{tag}{i}-{time.time_ns()}"})
            await asyncio.sleep(0.01)

    await send(30, "k-before")
    assert await victim.wait(lambda: len(victim.messages) >= 5, 10)
    first_id = victim.messages[0]["prev_id"] or 0
    await asyncio.to_thread(cluster.signal_replica, 2, signal.SIGKILL)
    await send(30, "k-after")
    assert await sender.wait(lambda: sum(1 for m in sender.messages if m["body"].startswith("k-")) == 60, 15)
    # the contract's client: reconnect to a live replica, then fill the gap with after=
    survivor = await ChatClient(ws_url(ports[1])).connect()
    survivor.messages = list(victim.messages)
    survivor.backfill(cluster.url)
    await send(1, "k-last")
    assert await survivor.wait(lambda: any(m["body"] == "k-last0" for m in survivor.messages), 10)
    survivor.assert_ordered_gap_free()
    assert survivor.ids() == stored_ids_after(cluster.url, first_id)
    cluster.start_replica(2)
    await close_all([sender, victim, survivor])


async def test_replicas_whose_clocks_disagree_still_give_ordered_streams_and_monotonic_ts(cluster_factory):
    """One replica's clock 4 s ahead, another's 4 s behind: ts never goes backwards in a
    room and every socket's stream stays ordered and gap-free (ts and ids come from the
    room's lock, not from the clock of the replica that stored the message)."""
    cluster = cluster_factory(port=8300, redis_db=13, database="chat_fault_clocks",
                              replica_env={0: {"CHAT_FAULT_CLOCK_SKEW_MS": "4000"},
                                           1: {"CHAT_FAULT_CLOCK_SKEW_MS": "-4000"}})
    await _storm(cluster, senders_n=3, per_sender=60)
    messages, after = [], 0
    while True:
        status, page, _ = http_json("GET", f"{cluster.url}/api/messages?after={after}&limit=100")
        messages += page["messages"]
        if not page["has_more"]:
            break
        after = messages[-1]["id"]
    ts = [m["ts"] for m in messages]
    assert len(messages) >= 180 and ts == sorted(ts) and len(set(ts)) == len(ts)
    cluster.stop()
