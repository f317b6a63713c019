"""GET /api/messages exactly as the contract: cursors, limits, has_more, viewers."""

import pytest

from livechat import services

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def stored(user, settings):
    settings.CHAT_RATE_LIMITS = False
    return [services.message_send(user_id=user.id, subject="", body=f"m{i}").payload for i in range(120)]


def ids(r):
    return [m["id"] for m in r.json()["messages"]]


def test_newest_page_oldest_first(api, stored):
    r = api.get("/api/messages")
    assert r.status_code == 200 and r.json()["has_more"] is True
    assert ids(r) == [m["id"] for m in stored[-50:]]


def test_before_pages_back_to_the_start(api, stored):
    seen, cursor = [], None
    while True:
        r = api.get("/api/messages", {"limit": 50, **({"before": cursor} if cursor else {})})
        seen = ids(r) + seen
        if not r.json()["has_more"]:
            break
        cursor = ids(r)[0]
    assert seen == [m["id"] for m in stored]


def test_last_timestamp_pages_by_ts(api, stored):
    r = api.get("/api/messages", {"lastTimestamp": stored[60]["ts"], "limit": 10})
    assert ids(r) == [m["id"] for m in stored[50:60]] and r.json()["has_more"] is True
    r = api.get("/api/messages", {"lastTimestamp": stored[5]["ts"], "limit": 10})
    assert ids(r) == [m["id"] for m in stored[:5]] and r.json()["has_more"] is False


def test_after_returns_every_message_exactly_once(api, stored):
    seen, cursor = [], 0
    while True:
        r = api.get("/api/messages", {"after": cursor, "limit": 100})
        seen += ids(r)
        if not r.json()["has_more"]:
            break
        cursor = seen[-1]
    assert seen == [m["id"] for m in stored]
    assert api.get("/api/messages", {"after": stored[-1]["id"]}).json() == {"messages": [], "has_more": False}


def test_prev_id_chains_and_ts_increases(api, stored):
    chain = [m["prev_id"] for m in stored]
    assert chain == [None] + [m["id"] for m in stored[:-1]]
    assert all(a["ts"] < b["ts"] for a, b in zip(stored, stored[1:]))


def test_email_only_for_signed_in_viewers(api, stored, login):
    assert "email" not in api.get("/api/messages").json()["messages"][0]["user"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login().json()['access']}")
    assert api.get("/api/messages").json()["messages"][0]["user"]["email"] == "alice@example.com"


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before": -1}, {"after": "1.5"}, {"lastTimestamp": "abc"},
     {"before": 5, "after": 3}, {"after": 2**70}, {"limit": ""}],
)
def test_bad_parameters_are_400(api, query):
    r = api.get("/api/messages", query)
    assert r.status_code == 400 and isinstance(r.json(), dict)


def test_message_shape(api, stored):
    message = api.get("/api/messages", {"limit": 1}).json()["messages"][0]
    assert set(message) == {"id", "ts", "subject", "body", "client_id", "prev_id", "user",
                            "room_id", "edited_at", "reply_to", "mentions", "reactions"}
