"""A contract-following websocket client for tests and the benchmark."""

import asyncio
import json
import time
import urllib.request

import websockets


def http_json(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None, exc.headers


def register_and_login(base, email, name="User", password="correct horse battery staple"):
    http_json("POST", f"{base}/api/register", {"email": email, "name": name, "password": password})
    status, body, _ = http_json("POST", f"{base}/api/login", {"email": email, "password": password})
    assert status == 200, body
    return body["access"], body["user"]


def stored_ids_after(base, after):
    """Every stored message id after `after`, by `after=` paging (oldest first)."""
    ids = []
    while True:
        status, body, _ = http_json("GET", f"{base}/api/messages?after={after}&limit=100")
        assert status == 200, body
        ids += [m["id"] for m in body["messages"]]
        if not body["has_more"]:
            return ids
        after = ids[-1]


class ChatClient:
    def __init__(self, ws_url, origin=None):
        self.ws_url = ws_url
        self.origin = origin
        self.frames: list[dict] = []
        self.messages: list[dict] = []
        self.counts: list[tuple[int, int]] = []
        self.closed_code = None
        self.changed = asyncio.Event()
        self.ws = None
        self.reader = None

    async def connect(self, token=None, **kwargs):
        headers = {"Origin": self.origin} if self.origin else None
        self.ws = await websockets.connect(self.ws_url, additional_headers=headers, max_size=2**22, **kwargs)
        self.reader = asyncio.create_task(self._read())
        await self.wait(lambda: self.counts, 5)
        if token:
            await self.send({"type": "auth", "token": token})
            await self.wait(lambda: any(f["type"] in ("auth", "auth_failed") for f in self.frames), 5)
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                frame["_at"] = time.monotonic()
                self.frames.append(frame)
                if frame["type"] == "message":
                    self.messages.append(frame["message"])
                elif frame["type"] == "user_count":
                    self.counts.append((frame["authenticated"], frame["anonymous"]))
                self.changed.set()
        except websockets.ConnectionClosed as exc:
            self.closed_code = exc.rcvd.code if exc.rcvd else 1006
        finally:
            if self.closed_code is None:
                self.closed_code = self.ws.close_code or 1006
            self.changed.set()

    async def send(self, frame):
        await self.ws.send(json.dumps(frame))

    async def wait(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.25))
            except asyncio.TimeoutError:
                pass
        return True

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            try:
                await asyncio.wait_for(self.reader, 3)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.reader.cancel()

    # --- what the contract asks of a client ------------------------------------
    def ids(self):
        return [m["id"] for m in self.messages]

    def assert_ordered_gap_free(self, allowed_missing=frozenset()):
        """Increasing ids; each message's prev_id is the message before it."""
        ids = self.ids()
        assert ids == sorted(set(ids)), "out of order or duplicated"
        for before, after in zip(self.messages, self.messages[1:]):
            assert after["prev_id"] == before["id"] or after["prev_id"] in allowed_missing, (before["id"], after)

    def backfill(self, base):
        """`after=` paging from the last id held, as the contract tells a client to."""
        last = self.messages[-1]["id"] if self.messages else 0
        while True:
            status, body, _ = http_json("GET", f"{base}/api/messages?after={last}&limit=100")
            assert status == 200
            self.messages.extend(body["messages"])
            if not body["has_more"]:
                return
            last = body["messages"][-1]["id"]
