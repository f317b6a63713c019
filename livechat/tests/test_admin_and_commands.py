"""What moderators and operators use: the admin, the management commands, health and metrics."""

import io
import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import RefreshToken, User
from livechat import services
from livechat.models import Message, Room

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def staff(make_user):
    return make_user(email="mod@example.com", name="Mod", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def messages(user, settings):
    settings.CHAT_RATE_LIMITS = False
    return [services.message_send(user_id=user.id, subject="s", body=f"body {i}").payload for i in range(5)]


def test_admin_message_list_search_and_filter(staff_client, messages):
    r = staff_client.get("/admin/livechat/message/?q=body+3")
    assert r.status_code == 200 and b"body 3" in r.content and b"body 4" not in r.content
    assert staff_client.get("/admin/livechat/message/?q=alice@example.com").status_code == 200
    assert staff_client.get("/admin/livechat/message/?sent=today").status_code == 200


def test_admin_delete_selected_removes_and_announces(staff_client, messages):
    from livechat.models import Event

    def announced():
        return [e.frame["id"] for e in Event.objects.filter(frame__type="message_deleted").order_by("seq")]

    ids = [m["id"] for m in messages[:2]]
    r = staff_client.post("/admin/livechat/message/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert r.status_code == 302
    assert not Message.objects.filter(pk__in=ids).exists() and announced() == sorted(ids)
    r = staff_client.post(f"/admin/livechat/message/{messages[2]['id']}/delete/", {"post": "yes"})
    assert r.status_code == 302 and announced()[-1] == messages[2]["id"]


def test_admin_is_for_staff_only(client, user, messages):
    client.force_login(user)
    assert client.get("/admin/livechat/message/").status_code == 302  # to the login page
    client.post("/admin/livechat/message/", {"action": "delete_selected", "_selected_action": [messages[0]["id"]], "post": "yes"})
    assert Message.objects.filter(pk=messages[0]["id"]).exists()


def test_admin_ban_and_unban_actions(staff_client, user, api, login):
    login()
    r = staff_client.post("/admin/accounts/user/", {"action": "ban", "_selected_action": [user.id]})
    assert r.status_code == 302
    user.refresh_from_db()
    assert not user.is_active and not RefreshToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert login().status_code == 401
    staff_client.post("/admin/accounts/user/", {"action": "unban", "_selected_action": [user.id]})
    assert login().status_code == 200
    assert staff_client.get("/admin/accounts/user/?is_active__exact=1&q=alice").status_code == 200


def test_admin_refresh_tokens_are_read_only_without_secrets(staff_client, user, login):
    login()
    token = RefreshToken.objects.get(user=user)
    page = staff_client.get(f"/admin/accounts/refreshtoken/{token.pk}/change/")
    assert page.status_code == 200 and token.token_hash.encode() not in page.content
    assert staff_client.get("/admin/accounts/refreshtoken/add/").status_code == 403
    staff_client.post("/admin/accounts/refreshtoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_ban_and_unban_commands(user, login):
    out = io.StringIO()
    call_command("ban", "ALICE@example.com", stdout=out)
    assert "banned" in out.getvalue() and login().status_code == 401
    call_command("unban", "alice@example.com", stdout=out)
    assert login().status_code == 200
    with pytest.raises(CommandError, match="no user"):
        call_command("ban", "nobody@example.com")


def test_prune_tokens(user, login, api):
    login()
    api.post("/api/refresh_credentials")  # one used, one live
    login()
    api.post("/api/logout")  # revokes the newest family
    out = io.StringIO()
    call_command("prune_tokens", stdout=out)
    assert "deleted 1 refresh token" in out.getvalue()  # the revoked one; the used one guards a live sign-in


def test_export_import_round_trip_is_ordered_and_idempotent(messages, tmp_path, settings):
    path = tmp_path / "export.jsonl"
    call_command("export_messages", "--output", str(path), stderr=io.StringIO())
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == [m["id"] for m in messages]
    csv_out = io.StringIO()
    call_command("export_messages", "--format", "csv", stdout=csv_out)
    assert csv_out.getvalue().splitlines()[0].startswith("id,ts,subject,body")
    Message.objects.all().delete()
    Room.objects.update(last_ts=0, last_message_id=None)  # as in a fresh database
    call_command("import_messages", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("import_messages", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    stored = list(Message.objects.order_by("id"))
    assert [m.body for m in stored] == [m["body"] for m in messages]
    assert [m.ts for m in stored] == [m["ts"] for m in messages]
    assert [m.prev_id for m in stored[1:]] == [m.id for m in stored[:-1]]


def test_export_since(messages):
    out = io.StringIO()
    call_command("export_messages", "--since", "2999-01-01", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize("content,error", [("{not json\n", "not a JSON object"), ('{"id": 1}\n', "needs id"),
                                           ('{"id":1,"ts":1,"body":"","user_email":"a@b.c"}\n', "out of bounds")])
def test_import_bad_input(tmp_path, content, error):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(CommandError, match=error):
        call_command("import_messages", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_messages", str(tmp_path / "missing"))


def test_purge_messages(messages):
    out = io.StringIO()
    call_command("purge_messages", "--before", "2999-01-01", "--dry-run", stdout=out)
    assert "5 message(s) would be deleted" in out.getvalue() and Message.objects.count() == 5
    call_command("purge_messages", "--before", "2999-01-01T00:00:00", stdout=out, stderr=io.StringIO())
    assert Message.objects.count() == 0
    with pytest.raises(CommandError, match="not a date"):
        call_command("purge_messages", "--before", "yesterday")


def test_seed_demo_is_quick_and_chained(settings):
    started = time.monotonic()
    call_command("seed_demo", "--users", "4", "--messages", "300", stdout=io.StringIO(), stderr=io.StringIO())
    assert User.objects.count() == 4 and Message.objects.count() == 300
    ids = list(Message.objects.order_by("id").values_list("id", "prev_id"))
    assert all(prev == before[0] for before, (_, prev) in zip(ids, ids[1:]))
    assert time.monotonic() - started < 30
    with pytest.raises(CommandError):
        call_command("seed_demo", "--users", "0")


def test_health_ready_metrics(client, messages):
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] and r.json()["channel_layer"]
    text = client.get("/metrics").content.decode()
    for name in ("chat_open_sockets", "chat_messages_stored_total", "chat_deliveries_total", "chat_failures_total",
                 "chat_message_send_seconds", "chat_refreshes_total", "chat_logins_total"):
        assert name in text, name


def test_readyz_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["channel_layer"] is False


def test_presence_command_reads_every_replica_from_redis(settings):
    if not settings.REDIS_URL:  # the embedded default: the command says it has nothing to read
        with pytest.raises(CommandError, match="REDIS_URL"):
            call_command("presence")
        return
    import asyncio

    import redis

    from livechat.presence import LocalState, RedisPresence

    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    async def two_replicas():
        for users, guests in (([1, 2], 3), ([2, 5], 1)):
            state = LocalState()
            for u in users:
                state.add(u)
            for _ in range(guests):
                state.add(None)
            await RedisPresence(settings.REDIS_URL).write(state)

    asyncio.run(two_replicas())
    out = io.StringIO()
    call_command("presence", stdout=out)
    total = [line for line in out.getvalue().splitlines() if line.startswith("total")][0]
    assert total.split()[1:] == ["3", "4"]  # users 1, 2, 5; guests 3 + 1
    assert len(out.getvalue().splitlines()) == 4  # header, two replicas, total
