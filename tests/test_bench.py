"""The benchmark itself runs (small), and what it measures of the fast path holds:
every socket got every message once."""

import json
import subprocess
import sys

import pytest

from chatapp.cluster import BASE_DIR

pytestmark = pytest.mark.timeout(300)


def test_chat_bench_small_run():
    result = subprocess.run(
        [sys.executable, "manage.py", "chat_bench", "--sockets", "60", "--senders", "2", "--rate", "10",
         "--duration", "2", "--workers", "1", "--port", "8980", "--redis-url", "redis://127.0.0.1:6379/8",
         "--history", "2000", "--store", "2", "--auth",
         "--database-url", "postgres://postgres@127.0.0.1:5432/chat_bench_test", "--json"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=280,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "k" * 60},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    by = {r["server"]: r for r in report["fanout"]}
    assert set(by) == {"product/daphne", "baseline"}
    for r in by.values():
        assert r["sent"] > 0 and r["undelivered"] == 0 and r["duplicated"] == 0, r
        assert r["p99_ms"] > 0 and r["rss_kb_per_socket"] > 0
    assert report["history"]["stored"] >= 2000 and report["history"]["p99_ms"] > 0
    store = report["store"]
    assert store["stored"] > 0 and store["failed"] == 0 and store["stored"] == store["acknowledged"], store
    for kind in ("login", "refresh"):
        assert report["auth"][kind]["ok"] > 0 and report["auth"][kind]["failed"] == 0, report["auth"]


def test_chat_bench_refuses_bad_arguments():
    result = subprocess.run([sys.executable, "manage.py", "chat_bench", "--sockets", "0"], cwd=BASE_DIR,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "--sockets" in result.stderr


def test_chat_bench_with_the_node_load_client_and_stock_channels():
    result = subprocess.run(
        [sys.executable, "manage.py", "chat_bench", "--sockets", "60", "--senders", "2", "--rate", "10",
         "--duration", "2", "--workers", "2", "--port", "8985", "--redis-url", "redis://127.0.0.1:6379/8",
         "--database-url", "postgres://postgres@127.0.0.1:5432/chat_bench_test", "--client", "node", "--json",
         "--servers", "product,baseline,stock-redis"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=280,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "DJANGO_SECRET_KEY": "k" * 60},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    by = {r["server"]: r for r in json.loads(result.stdout)["fanout"]}
    assert set(by) == {"product/daphne", "baseline", "stock-redis/daphne"}
    for r in by.values():
        assert r["sent"] > 0 and r["undelivered"] == 0 and r["duplicated"] == 0, r
        assert r["p99_ms"] > 0 and r["client_cpu_s"] > 0 and r["open_s"] > 0


def test_chat_bench_rooms_and_search_small_run():
    result = subprocess.run(
        [sys.executable, "manage.py", "chat_bench", "--servers", "none", "--rooms", "60", "--room-sockets", "60",
         "--search", "20000", "--port", "8940", "--redis-url", "redis://127.0.0.1:6379/8",
         "--database-url", "postgres://postgres@127.0.0.1:5432/chat_bench_rooms_test", "--json"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=280,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "k" * 60},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    rooms = report["rooms"]
    assert rooms["rooms_joined"] == 60 * 21  # every socket: the default room and its 20 rooms
    for key in ("ten_member_room_100_sockets", "ten_member_room_loaded"):
        assert rooms[key]["deliveries"] == 10 * 200, rooms[key]
    assert rooms["big_room"]["deliveries"] == 60 * 200 and rooms["default_room"]["deliveries"] == 60 * 200
    assert rooms["open_ratio"] > 0 and rooms["cost_ratio"] > 0 and rooms["big_room_ratio"] > 0
    search = report["search"]
    assert search["stored"] == 20000 and search["rare"]["results"] == 2 and search["common"]["results"] == 20
