"""Hostile input and resource limits, in process against the real ASGI application."""

import asyncio
import concurrent.futures
import json

import jwt
import pytest
from channels.testing import HttpCommunicator
from django.conf import settings
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import User
from chatapp.asgi import application

PASSWORD = "correct horse battery staple"


@pytest.mark.django_db(transaction=True)
def test_look_alike_emails_make_one_account(api):
    assert api.post("/api/register", {"email": "alice@example.com", "name": "A", "password": PASSWORD},
                    format="json").status_code == 201
    for look_alike in ("ＡＬＩＣＥ@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"):
        r = api.post("/api/register", {"email": look_alike, "name": "B", "password": PASSWORD}, format="json")
        assert r.status_code == 400 and "email" in r.json(), look_alike
    assert User.objects.count() == 1
    assert api.post("/api/login", {"email": "ＡＬＩＣＥ@example.com", "password": PASSWORD},
                    format="json").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_look_alikes_make_one_account(settings):
    settings.CHAT_RATE_LIMITS = False
    emails = ["strasse@example.com", "STRASSE@example.com", "straße@example.com", "ｓｔｒａｓｓｅ@example.com"] * 3

    def register(email):
        return APIClient().post("/api/register", {"email": email, "name": "S", "password": PASSWORD},
                                format="json").status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(register, emails))
    assert codes.count(201) == 1 and set(codes) == {201, 400}
    assert User.objects.filter(email_key="strasse@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_get_at_most_ten_checks(make_user, settings, monkeypatch):
    settings.CHAT_RATE_LIMITS = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                          "login_ip": "1000/min"}}
    make_user(email="target@example.com")
    checks = []
    real = account_services.authenticate
    monkeypatch.setattr(account_services, "authenticate", lambda **kw: (checks.append(1), real(**kw))[1])

    def attempt(i):
        email = ["target@example.com", "TARGET@example.com", "ｔａｒｇｅｔ@example.com"][i % 3]
        return APIClient().post("/api/login", {"email": email, "password": f"wrong {i}"}, format="json").status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert len(checks) <= 10 and codes.count(401) == len(checks)
    assert codes.count(429) == 40 - len(checks)
    r = APIClient().post("/api/login", {"email": "target@example.com", "password": PASSWORD}, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
def test_the_admin_login_is_throttled_like_the_api(client, make_user, settings):
    settings.CHAT_RATE_LIMITS = True
    make_user(email="boss@example.com", is_staff=True)
    codes = [client.post("/admin/login/", {"username": "boss@example.com", "password": "nope"}).status_code
             for _ in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_an_access_token_whose_exp_is_a_string_is_refused_over_http(api, db):
    user = User.objects.create_user(email="exp@example.com", name="E", password=PASSWORD)
    token = jwt.encode({"token_type": "access", "user_id": user.id, "exp": "9999999999", "jti": "x"},
                       settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/users?q=e").status_code == 401


async def _post(path, body: bytes, headers=()):
    comm = HttpCommunicator(application, "POST", path, body=body,
                            headers=[(b"content-type", b"application/json"), (b"host", b"localhost"), *headers])
    return await comm.get_response(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_an_oversized_body_is_refused_before_it_is_read():
    response = await _post("/api/login", b"{}", headers=[(b"content-length", str(10 * 2**20).encode())])
    assert response["status"] == 413


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_logins_is_answered_503_beyond_the_per_process_bound(settings):
    settings.CHAT_PASSWORD_CHECKS_MAX = 1
    settings.CHAT_RATE_LIMITS = False
    body = json.dumps({"email": "nobody@example.com", "password": "x" * 20}).encode()
    answers = await asyncio.gather(*(_post("/api/login", body, headers=[(b"content-length", str(len(body)).encode())])
                                     for _ in range(6)))
    codes = sorted(a["status"] for a in answers)
    assert 401 in codes and 503 in codes, codes
    busy = next(a for a in answers if a["status"] == 503)
    assert (b"retry-after", b"1") in [(k.lower(), v) for k, v in busy["headers"]]
