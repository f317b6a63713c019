"""One-time refresh tokens under real concurrency on PostgreSQL (threads, one
connection each, all presenting the same cookie at once)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import RefreshToken
from accounts.tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _storm(secret, n):
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def one():
        client = Client()
        client.cookies["refresh"] = secret
        barrier.wait()
        r = client.post("/api/refresh_credentials")
        with lock:
            results.append((r.status_code, r.cookies.get("refresh").value if r.cookies.get("refresh") else None))
        from django.db import connections

        connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("n", [20, 50])
def test_concurrent_refreshes_rotate_once(user, n, settings):
    settings.CHAT_RATE_LIMITS = False
    assert connection.vendor == "postgresql"
    secret = Client().post("/api/login", {"email": user.email, "password": PASSWORD}, content_type="application/json").cookies["refresh"].value
    original = RefreshToken.objects.get()
    results = _storm(secret, n)
    ok = [cookie for code, cookie in results if code == 200]
    # Exactly one request rotates the token; the contract's grace period lets exactly
    # one more presentation through (the second tab); every other one is refused.
    assert len(ok) == 2 and len(set(ok)) == 2
    assert sorted(code for code, _ in results) == [200, 200] + [401] * (n - 2)
    original.refresh_from_db()
    assert original.used_at is not None and original.grace_used and original.revoked_at is None
    successors = RefreshToken.objects.exclude(pk=original.pk)
    assert successors.count() == 2 and all(t.family == original.family for t in successors)
    assert not RefreshToken.objects.filter(revoked_at__isnull=False).exists()  # nobody signed out


def test_reuse_after_grace_revokes_the_family(user):
    client = Client()
    first = client.post("/api/login", {"email": user.email, "password": PASSWORD}, content_type="application/json").cookies["refresh"].value
    second = client.post("/api/refresh_credentials").cookies["refresh"].value
    RefreshToken.objects.filter(used_at__isnull=False).update(used_at=timezone.now() - timedelta(seconds=31))
    client.cookies["refresh"] = first
    assert client.post("/api/refresh_credentials").status_code == 401
    client.cookies["refresh"] = second
    assert client.post("/api/refresh_credentials").status_code == 401
    assert RefreshToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_refresh_answers_503_and_consumes_nothing_when_database_is_down(user, monkeypatch):
    client = Client()
    secret = client.post("/api/login", {"email": user.email, "password": PASSWORD}, content_type="application/json").cookies["refresh"].value
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django.db import OperationalError

    def refuse(self, *a, **k):
        raise OperationalError("connection refused (simulated: server down)")

    connection.close()
    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refuse)
    r = client.post("/api/refresh_credentials")
    assert r.status_code == 503 and "detail" in r.json()
    assert "refresh" not in r.cookies  # the cookie is left as it is
    monkeypatch.undo()
    connection.close()
    assert RefreshToken.objects.get().used_at is None
    client.cookies["refresh"] = secret
    assert client.post("/api/refresh_credentials").status_code == 200
