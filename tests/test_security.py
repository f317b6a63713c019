"""What an attacker, a bad client and a bad day would try (docs/security.md maps each
case to its test). In-process cases here; cases that need real processes are in
tests/test_cluster.py and tests/test_faults.py."""

import statistics
import time

import pytest
from channels.db import database_sync_to_async

from accounts.tests.fixtures import PASSWORD
from livechat.models import Message
from livechat.tests.conftest import live, receive_type, sockets  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sqlite


@pytest.mark.django_db
def test_security_headers(client):
    r = client.get("/")
    csp = r["Content-Security-Policy"]
    script_src = [d for d in csp.split(";") if d.strip().startswith("script-src")][0]
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    assert "frame-ancestors 'none'" in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in r  # plain HTTP: never


@pytest.mark.django_db
def test_hsts_over_https_outside_the_embedded_default(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    r = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
    assert r["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_bad_host_is_400(client):
    assert client.get("/healthz", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/api/messages", HTTP_HOST="evil.example").status_code == 400


@pytest.mark.django_db
def test_huge_password_is_refused_fast(api):
    started = time.monotonic()
    r = api.post("/api/login", {"email": "a@example.com", "password": "p" * 1_000_000}, format="json")
    assert r.status_code in (400, 413) and time.monotonic() - started < 2
    r = api.post("/api/register", {"email": "b@example.com", "name": "B", "password": "p" * 5000}, format="json")
    assert r.status_code == 400 and "password" in r.json()


@pytest.mark.django_db
def test_unknown_user_and_wrong_password_take_alike_long(api, make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    settings.CHAT_RATE_LIMITS = False
    make_user(email="timing@example.com")  # hashed with the fast test hasher; re-hash with Argon2
    from accounts.models import User

    u = User.objects.get(email="timing@example.com")
    u.set_password(PASSWORD)
    u.save()

    def timed(email, password):
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            assert api.post("/api/login", {"email": email, "password": password}, format="json").status_code == 401
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    unknown, wrong = timed("nobody@example.com", "whatever pass"), timed("timing@example.com", "wrong password")
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)


HOSTILE = [
    "'; DROP TABLE livechat_message; --",
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "{{ settings.SECRET_KEY }} {% debug %}",
    "\u202egnp.exe\u202c right-to-left override",
    "zero\u200bwidth\u200c\u200d\ufeff" * 200,
    "\U0001f600" * 100 + " emoji",
]


@pytest.mark.django_db(transaction=True)
async def test_hostile_text_is_stored_verbatim_and_spoofed_sender_ignored(sockets, make_user, settings):  # noqa: F811
    settings.CHAT_RATE_LIMITS = False
    alice = await database_sync_to_async(make_user)()
    victim = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    for text in HOSTILE:
        await ws.send_json_to({"type": "message", "body": text, "subject": text[:200], "user": {"id": victim.id},
                               "user_id": victim.id, "id": 1, "ts": 0, "prev_id": 99})
        got = (await receive_type(ws, "message"))["message"]
        assert got["body"] == text and got["subject"] == text[:200]
        assert got["user"]["id"] == alice.id
    stored = await database_sync_to_async(lambda: list(Message.objects.order_by("id").values_list("body", "user_id")))()
    assert stored == [(text, alice.id) for text in HOSTILE]


@pytest.mark.django_db
def test_history_api_returns_hostile_text_as_json_data(api, user, settings):
    from livechat import services

    settings.CHAT_RATE_LIMITS = False
    for text in HOSTILE:
        services.message_send(user_id=user.id, subject="", body=text)
    r = api.get("/api/messages")
    assert r["Content-Type"] == "application/json"
    assert [m["body"] for m in r.json()["messages"]] == HOSTILE


@pytest.mark.django_db(transaction=True)
async def test_a_flooding_user_is_rate_limited(sockets, make_user):  # noqa: F811
    alice = await database_sync_to_async(make_user)()
    ws = await sockets(token_for=alice)
    for i in range(30):
        await ws.send_json_to({"type": "message", "body": f"flood {i}"})
    answers = []
    while len(answers) < 30:
        frame = await ws.receive_json_from(timeout=5)
        if frame["type"] != "user_count":
            answers.append(frame)
    kinds = [(f["type"], f.get("reason")) for f in answers]
    assert kinds.count(("message", None)) == 10 and kinds.count(("message_failed", "rate_limited")) == 20
    assert await database_sync_to_async(Message.objects.count)() == 10


def test_csp_connects_only_to_the_pages_own_origin_and_permissions_policy(client):
    r = client.get("/", HTTP_HOST="localhost:8000")
    connect = [d.strip() for d in r["Content-Security-Policy"].split(";") if d.strip().startswith("connect-src")][0]
    assert connect.split() == ["connect-src", "'self'", "ws://localhost:8000", "wss://localhost:8000"]
    assert "camera=()" in r["Permissions-Policy"] and "geolocation=()" in r["Permissions-Policy"]


@pytest.mark.django_db
def test_answers_carrying_tokens_are_not_stored(api, user, login):
    r = login()
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    r = api.post("/api/refresh_credentials")
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['access']}")
    r = api.post("/api/change_password", {"old_password": "correct horse battery staple",
                                          "new_password": "another long passphrase 42"}, format="json")
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/register", "/api/login", "/api/change_password", "/api/rooms"])
def test_deeply_nested_json_is_a_400(api, path, user):
    from accounts.tokens import access_token_issue

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=user)}")
    body = "[" * 100_000 + "]" * 100_000
    r = api.generic("POST", path, body, content_type="application/json")
    assert r.status_code == 400, r.content[:200]


@pytest.mark.django_db
def test_change_password_is_throttled_like_login(api, user, settings):
    from accounts.tokens import access_token_issue

    settings.CHAT_RATE_LIMITS = True
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=user)}")
    codes = [api.post("/api/change_password", {"old_password": "wrong", "new_password": "x"}, format="json").status_code
             for _ in range(65)]
    assert codes[0] == 400 and 429 in codes


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["١٢", "１２", "1_000", " 5", "5.0", "+5"])
def test_query_integers_are_ascii_digits_only(api, value):
    assert api.get("/api/messages", {"after": value}).status_code == 400
    assert api.get("/api/messages", {"limit": value}).status_code == 400
