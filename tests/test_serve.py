"""The pieces of chatapp.serve that stand in for daphne's per-connection objects."""

import asyncio
from pathlib import Path

import pytest

from chatapp.serve import _InputQueue

pytestmark = [pytest.mark.sqlite]


async def test_input_queue_hands_over_in_order_whoever_comes_first():
    queue = _InputQueue()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await queue.get() == 1
    waiting = asyncio.ensure_future(queue.get())
    assert await waiting == 2
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)  # the reader waits first
    queue.put_nowait(3)
    queue.put_nowait(4)
    assert await waiting == 3
    assert await queue.get() == 4
    assert queue.items is None and (queue.waiter is None or queue.waiter.done())


async def test_input_queue_keeps_items_put_after_its_reader_was_cancelled():
    queue = _InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)
    queue.put_nowait("websocket.disconnect")
    assert await queue.get() == "websocket.disconnect"


def test_a_bad_gc_threshold_is_refused_with_a_clear_message(tmp_path):
    import os
    import subprocess
    import sys

    from chatapp.cluster import BASE_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(CHAT_GC_THRESHOLD="lots", SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    daphne = str(Path(sys.executable).with_name("daphne"))
    result = subprocess.run([daphne, "-p", "8998", "chatapp.asgi:application"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "CHAT_GC_THRESHOLD must be a positive integer" in result.stderr
