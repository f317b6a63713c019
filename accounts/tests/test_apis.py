"""Every account row of the contract's HTTP table."""

import time

import jwt
import pytest
from django.conf import settings

from accounts.models import RefreshToken, User
from accounts.tests.fixtures import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def decode(token):
    return jwt.decode(token, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])


# ---- register -----------------------------------------------------------------
def test_register_returns_user_with_email(api):
    r = api.post("/api/register", {"email": "Bob@Example.com", "name": "Bob", "password": PASSWORD}, format="json")
    assert r.status_code == 201
    assert r.json() == {"id": r.json()["id"], "name": "Bob", "email": "Bob@example.com"}  # domain normalised
    assert User.objects.get(pk=r.json()["id"]).password.startswith("md5$")  # hashed (fast hasher in tests)


def test_production_hasher_is_argon2():
    from chatapp import settings as prod

    assert prod.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "ALICE@example.com", "name": "A", "password": PASSWORD}, "email"),
        ({"email": "not-an-email", "name": "A", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "name": "", "password": PASSWORD}, "name"),
        ({"email": "x@example.com", "name": "n" * 51, "password": PASSWORD}, "name"),
        ({"email": "x@example.com", "name": "X", "password": "123"}, "password"),
        ({"email": "x@example.com", "name": "X", "password": "password"}, "password"),
        ({"email": "x@example.com", "name": "X", "password": "p" * 5000}, "password"),
        ({"email": ["x"], "name": "X", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "name": {"a": 1}, "password": PASSWORD}, "name"),
        ({"email": "x@example.com", "name": "X\x00", "password": PASSWORD}, "name"),
    ],
)
def test_register_field_errors(api, user, body, field):
    r = api.post("/api/register", body, format="json")
    assert r.status_code == 400
    assert isinstance(r.json()[field], list) and r.json()[field]


def test_register_accepts_64_char_password_and_50_char_name(api, login):
    password = "Ab1!" * 16
    r = api.post("/api/register", {"email": "long@example.com", "name": "n" * 50, "password": password}, format="json")
    assert r.status_code == 201
    assert login("long@example.com", password).status_code == 200


@pytest.mark.parametrize(
    "raw,ctype",
    [
        (b"{not json", "application/json"),
        (b"[1,2,3]", "application/json"),
        (b"", "application/json"),
        (b'"string"', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_malformed_bodies_are_400(api, raw, ctype):
    for path in ("/api/register", "/api/login", "/api/change_password"):
        r = api.generic("POST", path, raw, content_type=ctype)
        assert r.status_code in (400, 401), (path, r.status_code)
        assert r.status_code < 500


def test_other_content_type_is_415(api):
    r = api.generic("POST", "/api/login", b"email=a", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


# ---- login --------------------------------------------------------------------
def test_login_sets_access_token_header_and_cookie(api, user, login):
    r = login("ALICE@example.com")
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"id": user.id, "name": "Alice", "email": "alice@example.com"}
    assert r["Authorization"] == f"Bearer {body['access']}"
    claims = decode(body["access"])
    assert claims["user_id"] == user.id and claims["name"] == "Alice" and claims["email"] == "alice@example.com"
    assert claims["jti"] and abs(claims["exp"] - time.time() - 15 * 60) < 5
    cookie = r.cookies["refresh"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/api/"
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    assert not cookie["secure"]  # plain HTTP here
    assert RefreshToken.objects.get().token_hash != cookie.value


def test_login_ignores_name_key(api, user, login):
    r = api.post("/api/login", {"email": "alice@example.com", "password": PASSWORD, "name": "whatever"}, format="json")
    assert r.status_code == 200


def test_cookie_is_secure_over_https_behind_proxy(api, user, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    r = api.post(
        "/api/login", {"email": "alice@example.com", "password": PASSWORD}, format="json", HTTP_X_FORWARDED_PROTO="https"
    )
    assert r.cookies["refresh"]["secure"]


def test_unknown_email_and_wrong_password_look_the_same(api, user, login):
    unknown = login("nobody@example.com")
    wrong = login("alice@example.com", "wrong password!")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() and set(unknown.json()) == {"detail"}


def test_inactive_user_login_is_refused_like_wrong_password(api, user, login):
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert login().json() == login("nobody@example.com").json()
    assert login().status_code == 401


def test_login_throttled_per_email_after_ten_failures(api, user, login):
    for _ in range(10):
        assert login("Alice@example.com", "wrong password!").status_code == 401
    r = login("alice@example.com")  # right password, still refused
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert login("other@example.com", "x").status_code == 401  # other emails unaffected


def test_login_throttle_off(api, user, login, settings):
    settings.CHAT_RATE_LIMITS = False
    for _ in range(12):
        login("alice@example.com", "wrong password!")
    assert login().status_code == 200


def test_login_throttled_per_ip(api, user, login, settings):
    from accounts.throttles import LoginIpThrottle

    LoginIpThrottle.THROTTLE_RATES = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_ip": "3/min"}
    try:
        for i in range(3):
            assert login(f"n{i}@example.com", "x").status_code == 401
        r = login()
        assert r.status_code == 429 and "Retry-After" in r
        # a forged X-Forwarded-For does not make a new client when no proxy is configured
        r = api.post("/api/login", {"email": "a@b.c", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR="1.2.3.4")
        assert r.status_code == 429
    finally:
        del LoginIpThrottle.THROTTLE_RATES


# ---- refresh, logout ------------------------------------------------------------
def test_refresh_rotates_and_old_token_is_single_use_after_grace(api, user, login):
    first = login().cookies["refresh"].value
    r = api.post("/api/refresh_credentials")
    assert r.status_code == 200 and r.json()["user"]["email"] == "alice@example.com"
    second = r.cookies["refresh"].value
    assert second != first
    # move the rotation 31 s into the past: the grace period is over
    from django.utils import timezone
    from datetime import timedelta

    RefreshToken.objects.filter(token_hash=_hash(first)).update(
        used_at=timezone.now() - timedelta(seconds=31)
    )
    api.cookies["refresh"] = first
    r = api.post("/api/refresh_credentials")
    assert r.status_code == 401 and set(r.json()) == {"detail"}
    assert r.cookies["refresh"].value == ""  # cleared
    api.cookies["refresh"] = second
    assert api.post("/api/refresh_credentials").status_code == 401  # reuse revoked the successor too


def _hash(secret):
    from accounts.tokens import refresh_secret_hash

    return refresh_secret_hash(secret)


def test_refresh_by_get_works_too(api, user, login):
    login()
    assert api.get("/api/refresh_credentials").status_code == 200


def test_refresh_grace_allows_exactly_one_more(api, user, login):
    first = login().cookies["refresh"].value
    assert api.post("/api/refresh_credentials").status_code == 200
    api.cookies["refresh"] = first
    r = api.post("/api/refresh_credentials")  # the second tab, within the grace period
    assert r.status_code == 200
    sibling = r.cookies["refresh"].value
    api.cookies["refresh"] = first
    assert api.post("/api/refresh_credentials").status_code == 401  # a third: refused...
    api.cookies["refresh"] = sibling
    assert api.post("/api/refresh_credentials").status_code == 200  # ...but nothing revoked


@pytest.mark.parametrize("cookie", [None, "", "garbage", "x" * 5000, "\u00e9\u00e9"])
def test_refresh_rejects_missing_or_garbage(api, cookie):
    if cookie is not None:
        api.cookies["refresh"] = cookie
    r = api.post("/api/refresh_credentials")
    assert r.status_code == 401 and set(r.json()) == {"detail"}


def test_refresh_rejects_expired(api, user, login):
    from datetime import timedelta

    from django.utils import timezone

    login()
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.post("/api/refresh_credentials").status_code == 401


def test_refresh_rejects_inactive_user(api, user, login):
    login()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api.post("/api/refresh_credentials").status_code == 401


def test_refresh_from_foreign_origin_is_403(api, user, login):
    login()
    assert api.post("/api/refresh_credentials", HTTP_ORIGIN="https://evil.example").status_code == 403
    assert api.post("/api/logout", HTTP_ORIGIN="null").status_code == 403
    assert api.post("/api/refresh_credentials", HTTP_ORIGIN="http://localhost:8000").status_code == 200


def test_logout_revokes_and_clears(api, user, login):
    login()
    token = api.cookies["refresh"].value
    r = api.post("/api/logout")
    assert r.status_code == 204 and r.cookies["refresh"].value == ""
    api.cookies["refresh"] = token
    assert api.post("/api/refresh_credentials").status_code == 401


def test_logout_without_cookie_is_204(api):
    assert api.post("/api/logout").status_code == 204


def test_database_holds_only_hashes(api, user, login):
    secret = login().cookies["refresh"].value
    row = RefreshToken.objects.get()
    assert secret not in str(row.__dict__) and len(row.token_hash) == 64


# ---- change_password ------------------------------------------------------------
def test_change_password(api, user, login, make_user):
    other_client = type(api)()
    login(client=other_client)  # a second session of the same user
    access = login().json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    r = api.post("/api/change_password", {"old_password": PASSWORD, "new_password": "a new long passphrase"}, format="json")
    assert r.status_code == 200 and r.json()["access"] and r.cookies["refresh"].value
    assert other_client.post("/api/refresh_credentials").status_code == 401  # every other token revoked
    assert api.post("/api/refresh_credentials").status_code == 200  # the new one works
    api.credentials()
    assert login(password=PASSWORD).status_code == 401
    assert login(password="a new long passphrase").status_code == 200


def test_change_password_errors(api, user, login):
    assert api.post("/api/change_password", {"old_password": "x", "new_password": "y"}, format="json").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login().json()['access']}")
    r = api.post("/api/change_password", {"old_password": "wrong", "new_password": "a new long passphrase"}, format="json")
    assert r.status_code == 400 and "old_password" in r.json()
    r = api.post("/api/change_password", {"old_password": PASSWORD, "new_password": "123"}, format="json")
    assert r.status_code == 400 and "new_password" in r.json()


# ---- forged access tokens -------------------------------------------------------------
def _claims(user, **over):
    now = int(time.time())
    return {"token_type": "access", "user_id": user.id, "name": user.name, "email": user.email,
            "jti": "j", "iat": now, "exp": now + 600, **over}


def _forged(user):
    key = settings.SIMPLE_JWT["SIGNING_KEY"]
    good = jwt.encode(_claims(user), key, algorithm="HS256")
    head, payload, sig = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps(_claims(user, user_id=user.id + 1)).encode()
    ).decode()
    return {
        "alg none": jwt.encode(_claims(user), None, algorithm="none"),
        "HS512": jwt.encode(_claims(user), key, algorithm="HS512"),
        "wrong key": jwt.encode(_claims(user), "another key of sufficient length 0123456789abcdef", algorithm="HS256"),
        "tampered": f"{head}.{tampered_payload}.{sig}",
        "expired": jwt.encode(_claims(user, exp=int(time.time()) - 1), key, algorithm="HS256"),
        "nbf future": jwt.encode(_claims(user, nbf=int(time.time()) + 600), key, algorithm="HS256"),
        "refresh type": jwt.encode(_claims(user, token_type="refresh"), key, algorithm="HS256"),
        "jku header": jwt.encode(_claims(user), "another key of sufficient length 0123456789abcdef",
                                 algorithm="HS256", headers={"jku": "http://evil/", "kid": "x"}),
    }


def test_forged_access_tokens_are_refused(api, user):
    for name, token in _forged(user).items():
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        r = api.post("/api/change_password", {"old_password": PASSWORD, "new_password": "whatever long"}, format="json")
        assert r.status_code == 401, name


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 16384])
def test_malformed_authorization_headers_are_401(api, header):
    r = api.post("/api/change_password", {}, format="json", HTTP_AUTHORIZATION=header)
    assert r.status_code == 401


def test_refresh_secret_is_not_an_access_token(api, user, login):
    secret = login().cookies["refresh"].value
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.post("/api/change_password", {}, format="json").status_code == 401


def test_openapi_schema_lists_the_api(api):
    r = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    import json

    schema = json.loads(r.content)
    for path in ("/api/register", "/api/login", "/api/refresh_credentials", "/api/logout", "/api/change_password", "/api/messages"):
        assert path in schema["paths"], path


def test_register_throttled_per_email(api, settings):
    from accounts.throttles import RegisterEmailThrottle

    RegisterEmailThrottle.THROTTLE_RATES = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "register_email": "2/hour"}
    try:
        for _ in range(2):
            api.post("/api/register", {"email": "Same@example.com", "name": "x", "password": "1"}, format="json")
        r = api.post("/api/register", {"email": "same@EXAMPLE.com", "name": "x", "password": PASSWORD}, format="json")
        assert r.status_code == 429 and "Retry-After" in r
        r = api.post("/api/register", {"email": "other@example.com", "name": "x", "password": PASSWORD}, format="json")
        assert r.status_code == 201
    finally:
        del RegisterEmailThrottle.THROTTLE_RATES


def test_logs_are_json_lines_with_request_id_and_no_secrets(api, user, caplog):
    import json as _json
    import logging

    from chatapp.logs import JsonFormatter

    with caplog.at_level(logging.INFO):
        r = api.post("/api/login", {"email": "alice@example.com", "password": "wrong password!"}, format="json",
                     HTTP_X_REQUEST_ID="req-123")
    assert r["X-Request-ID"] == "req-123"
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert lines and all(_json.loads(line)["msg"] for line in lines)
    assert any(_json.loads(line).get("request_id") == "req-123" for line in lines)
    assert not any("wrong password!" in line for line in lines)


def test_public_key_as_hmac_secret_trick_is_refused(api, user):
    """An attacker who signs HS256 with a public key as the 'secret' gets nowhere: only
    HS256 with the server's own secret verifies."""
    public_pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXLFAKEKEYFORTESTONLYXLFAKEKEYFO\n"
        "RTESTONLYXLFAKEKEYFORTESTONLYXLFAKEKEYFORTESTONLYXLFAKEKEYFORTESTON==\n-----END PUBLIC KEY-----\n"
    )
    import hashlib
    import hmac
    import json as _json

    def b64(data):
        return jwt.utils.base64url_encode(data).decode()

    header = b64(_json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(_json.dumps(_claims(user)).encode())
    signature = b64(hmac.new(public_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{signature}")
    assert api.post("/api/change_password", {}, format="json").status_code == 401
