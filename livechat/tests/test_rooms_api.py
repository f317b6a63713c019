"""Version 2's HTTP API for rooms, membership, direct rooms, the stream, read state,
edits, deletions, reactions, search and users: success and failure statuses,
permissions, and the events each change appends. Runs on PostgreSQL and SQLite."""

import pytest
from rest_framework.test import APIClient

from accounts.tokens import access_token_issue
from livechat import services
from livechat.models import Event, Room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture(autouse=True)
def _limits_off(settings):
    from livechat.stream import default_room_ensure

    settings.CHAT_RATE_LIMITS = False
    default_room_ensure()  # migration 0002 makes it; a flushed test database has none


@pytest.fixture
def as_user():
    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_issue(user=user)}")
        return client

    return make


@pytest.fixture
def people(make_user, as_user):
    ana, ben, cy = make_user(name="Ana Silva"), make_user(name="Ben Ode"), make_user(name="Cy Tan")
    return {"ana": ana, "ben": ben, "cy": cy, "ana_c": as_user(ana), "ben_c": as_user(ben), "cy_c": as_user(cy)}


def frames(room_id):
    return [e.frame for e in Event.objects.filter(room_id=room_id).order_by("seq")]


def test_create_public_room_starts_its_stream_with_the_creator(people):
    r = people["ana_c"].post("/api/rooms", {"name": "design", "kind": "public"}, format="json")
    assert r.status_code == 201, r.content
    room = r.json()
    assert room == {"id": room["id"], "kind": "public", "name": "design", "topic": "", "member_count": 1, "last_seq": 1}
    assert frames(room["id"]) == [{"type": "member_joined", "room_id": room["id"], "seq": 1,
                                   "user": {"id": people["ana"].id, "name": "Ana Silva",
                                            "email": people["ana"].email}}]
    r = people["ben_c"].post("/api/rooms", {"name": "DESIGN", "kind": "private"}, format="json")
    assert r.status_code == 400 and "name" in r.json()


@pytest.mark.parametrize("body", [
    {"name": "", "kind": "public"}, {"name": "x" * 81, "kind": "public"}, {"name": "ok", "kind": "direct"},
    {"name": "ok", "kind": "public", "topic": "t" * 251}, {"name": 5, "kind": "public"}, {"kind": "public"},
])
def test_create_room_field_errors(people, body):
    r = people["ana_c"].post("/api/rooms", body, format="json")
    assert r.status_code == 400 and r.json()


def test_signed_in_endpoints_answer_401_without_a_token(people, api):
    private = people["ana_c"].post("/api/rooms", {"name": "p", "kind": "private"}, format="json").json()
    for method, path, body in [
        ("post", "/api/rooms", {"name": "x", "kind": "public"}), ("patch", f"/api/rooms/{private['id']}", {}),
        ("post", f"/api/rooms/{private['id']}/join", None), ("post", "/api/rooms/999/leave", None),
        ("post", f"/api/rooms/{private['id']}/members", {"user_id": 1}),
        ("delete", "/api/rooms/999/members/1", None), ("post", "/api/direct", {"user_ids": [1]}),
        ("post", "/api/rooms/1/read", {"message_id": 1}), ("patch", "/api/messages/1", {"body": "x"}),
        ("delete", "/api/messages/1", None), ("put", "/api/messages/1/reactions/x", None), ("get", "/api/users?q=a", None),
    ]:
        r = getattr(api, method)(path, body, format="json") if body is not None else getattr(api, method)(path)
        assert r.status_code == 401, (method, path, r.status_code)


def test_private_rooms_do_not_exist_for_outsiders(people, api):
    room = people["ana_c"].post("/api/rooms", {"name": "secret", "kind": "private"}, format="json").json()
    services.message_send(user_id=people["ana"].id, subject="", body="hidden words", room_id=room["id"])
    rid = room["id"]
    for client in (people["ben_c"], api):
        assert client.get(f"/api/rooms/{rid}").status_code == 404
        assert client.get(f"/api/rooms/{rid}/messages").status_code == 404
        assert client.get(f"/api/rooms/{rid}/events?after=0").status_code == 404
        assert client.get(f"/api/rooms/{rid}/members").status_code == 404
        assert client.get(f"/api/search?q=hidden&room_id={rid}").status_code == 404
        assert client.get("/api/search?q=hidden").json()["results"] == []
        assert rid not in [r["id"] for r in client.get("/api/rooms").json()["rooms"]]
    assert people["ben_c"].post(f"/api/rooms/{rid}/join").status_code == 404
    assert people["ben_c"].post(f"/api/rooms/{rid}/leave").status_code == 404
    assert people["ben_c"].post(f"/api/rooms/{rid}/members", {"user_id": people["ben"].id}, format="json").status_code == 404
    assert people["ben_c"].patch(f"/api/rooms/{rid}", {"topic": "x"}, format="json").status_code == 404
    assert people["ben_c"].post(f"/api/rooms/{rid}/read", {"message_id": 1}, format="json").status_code == 404
    assert people["ana_c"].get("/api/search?q=hidden").json()["results"][0]["body"] == "hidden words"


def test_membership_join_leave_add_remove(people):
    ana_c, ben_c, cy_c = people["ana_c"], people["ben_c"], people["cy_c"]
    pub = ana_c.post("/api/rooms", {"name": "pub", "kind": "public"}, format="json").json()
    r = ben_c.post(f"/api/rooms/{pub['id']}/join")
    assert r.status_code == 200 and r.json()["member_count"] == 2 and r.json()["last_seq"] == 2
    assert ben_c.post(f"/api/rooms/{pub['id']}/join").status_code == 200  # again: no event
    assert ben_c.post("/api/rooms/1/join").status_code == 200
    assert len(frames(pub["id"])) == 2
    # any member of a public room may add someone
    assert ben_c.post(f"/api/rooms/{pub['id']}/members", {"user_id": people["cy"].id}, format="json").status_code == 201
    assert ben_c.post(f"/api/rooms/{pub['id']}/members", {"user_id": people["cy"].id}, format="json").status_code == 400
    assert ben_c.post(f"/api/rooms/{pub['id']}/members", {"user_id": 10**9}, format="json").status_code == 400
    members = ana_c.get(f"/api/rooms/{pub['id']}/members").json()["members"]
    assert [(m["user"]["id"], m["role"]) for m in members] == [
        (people["ana"].id, "owner"), (people["ben"].id, "member"), (people["cy"].id, "member")]
    # only the owner (or staff) removes
    assert ben_c.delete(f"/api/rooms/{pub['id']}/members/{people['cy'].id}").status_code == 403
    assert ana_c.delete(f"/api/rooms/{pub['id']}/members/{people['cy'].id}").status_code == 204
    assert ana_c.delete(f"/api/rooms/{pub['id']}/members/{people['cy'].id}").status_code == 404
    assert cy_c.post(f"/api/rooms/{pub['id']}/leave").status_code == 404
    assert ben_c.post(f"/api/rooms/{pub['id']}/leave").status_code == 204
    assert ben_c.post("/api/rooms/1/leave").status_code == 400
    kinds = [(f["type"], f["seq"]) for f in frames(pub["id"])]
    assert kinds == [("member_joined", 1), ("member_joined", 2), ("member_joined", 3), ("member_left", 4),
                     ("member_left", 5)]
    # private: only the owner adds
    priv = ana_c.post("/api/rooms", {"name": "priv", "kind": "private"}, format="json").json()
    assert ana_c.post(f"/api/rooms/{priv['id']}/members", {"user_id": people["ben"].id}, format="json").status_code == 201
    assert ben_c.post(f"/api/rooms/{priv['id']}/members", {"user_id": people["cy"].id}, format="json").status_code == 403
    assert ben_c.post(f"/api/rooms/{priv['id']}/join").status_code == 200  # already a member: nothing happens


def test_patch_room_by_owner_and_staff(people, make_user, as_user):
    ana_c, ben_c = people["ana_c"], people["ben_c"]
    room = ana_c.post("/api/rooms", {"name": "r1", "kind": "public", "topic": "t"}, format="json").json()
    assert ben_c.patch(f"/api/rooms/{room['id']}", {"topic": "mine"}, format="json").status_code == 403
    r = ana_c.patch(f"/api/rooms/{room['id']}", {"topic": "new topic"}, format="json")
    assert r.status_code == 200 and r.json()["topic"] == "new topic" and r.json()["last_seq"] == 2
    assert frames(room["id"])[-1] == {"type": "room_updated", "room_id": room["id"], "seq": 2, "room": r.json()}
    staff = as_user(make_user(is_staff=True))
    assert staff.patch(f"/api/rooms/{room['id']}", {"name": "renamed"}, format="json").json()["name"] == "renamed"
    assert ana_c.patch(f"/api/rooms/{room['id']}", {"topic": "x" * 251}, format="json").status_code == 400
    ana_c.post("/api/rooms", {"name": "taken", "kind": "public"}, format="json")
    assert ana_c.patch(f"/api/rooms/{room['id']}", {"name": "TAKEN"}, format="json").status_code == 400


def test_direct_rooms_one_per_set(people):
    ana, ben, cy = people["ana"], people["ben"], people["cy"]
    r = people["ana_c"].post("/api/direct", {"user_ids": [ben.id]}, format="json")
    assert r.status_code == 201
    room = r.json()
    assert room["kind"] == "direct" and room["name"] == "" and [u["id"] for u in room["members"]] == sorted([ana.id, ben.id])
    assert [f["seq"] for f in frames(room["id"])] == [1, 2]
    again = people["ben_c"].post("/api/direct", {"user_ids": [ana.id, ben.id, ana.id]}, format="json")
    assert again.status_code == 200 and again.json()["id"] == room["id"]
    three = people["cy_c"].post("/api/direct", {"user_ids": [ana.id, ben.id]}, format="json")
    assert three.status_code == 201 and three.json()["id"] != room["id"]
    for bad in ([], [cy.id], [10**9], "x", [True], list(range(1, 11))):
        assert people["cy_c"].post("/api/direct", {"user_ids": bad}, format="json").status_code == 400, bad
    assert people["cy_c"].get(f"/api/rooms/{room['id']}").status_code == 404
    assert people["ana_c"].post(f"/api/rooms/{room['id']}/leave").status_code == 400
    assert people["ana_c"].post(f"/api/rooms/{room['id']}/members", {"user_id": cy.id}, format="json").status_code == 400


def test_events_replay_exactly_with_email_rule_deletions_and_410(people, api, settings):
    ana_c = people["ana_c"]
    room = ana_c.post("/api/rooms", {"name": "replay", "kind": "public"}, format="json").json()
    m1 = services.message_send(user_id=people["ana"].id, subject="", body="one", room_id=room["id"]).payload
    services.message_send(user_id=people["ana"].id, subject="", body="two", room_id=room["id"])
    services.message_delete(user=people["ana"], message_id=m1["id"])
    r = ana_c.get(f"/api/rooms/{room['id']}/events?after=0")
    events = r.json()["events"]
    assert [e["type"] for e in events] == ["member_joined", "message", "message", "message_deleted"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4] and r.json()["has_more"] is False
    assert events[1]["message"] is None and events[2]["message"]["body"] == "two"
    assert events[2]["message"]["user"]["email"] == people["ana"].email
    guest = api.get(f"/api/rooms/{room['id']}/events?after=1&limit=1").json()
    assert guest["has_more"] is True and "email" not in str(guest)
    assert ana_c.get(f"/api/rooms/{room['id']}/events?after=4").json() == {"events": [], "has_more": False}
    assert ana_c.get(f"/api/rooms/{room['id']}/events?after=99").json() == {"events": [], "has_more": False}
    for bad in ("", "?after=-1", "?after=x", "?after=1&limit=0", "?after=1&limit=501", "?after=١"):
        assert ana_c.get(f"/api/rooms/{room['id']}/events{bad}").status_code == 400, bad
    Event.objects.filter(room_id=room["id"], seq__lte=2).delete()  # pruned
    assert ana_c.get(f"/api/rooms/{room['id']}/events?after=0").status_code == 410
    assert ana_c.get(f"/api/rooms/{room['id']}/events?after=2").status_code == 200


def test_prune_keeps_the_newest_events(people):
    from livechat.stream import events_prune

    room = people["ana_c"].post("/api/rooms", {"name": "prune", "kind": "public"}, format="json").json()
    for i in range(5):
        services.message_send(user_id=people["ana"].id, subject="", body=f"m{i}", room_id=room["id"])
    assert events_prune(keep_events=2, keep_seconds=0) == 4
    assert list(Event.objects.filter(room_id=room["id"]).values_list("seq", flat=True).order_by("seq")) == [5, 6]
    assert events_prune(keep_events=2, keep_seconds=3600) == 0


def test_read_state_unread_and_mentions(people):
    ana, ben = people["ana"], people["ben"]
    room = people["ana_c"].post("/api/rooms", {"name": "reads", "kind": "public"}, format="json").json()
    people["ben_c"].post(f"/api/rooms/{room['id']}/join")
    sent = [services.message_send(user_id=ana.id, subject="", body=f"hi <@{ben.id}> {i}", room_id=room["id"]).payload
            for i in range(3)]
    services.message_send(user_id=ben.id, subject="", body="mine", room_id=room["id"])
    services.message_send(user_id=ana.id, subject="", body="after", room_id=room["id"])

    def mine(client):
        return next(r for r in client.get("/api/rooms").json()["rooms"] if r["id"] == room["id"])

    state = mine(people["ben_c"])
    # ben's own message marked everything up to it read: one message by others after it
    assert state["member"] is True and state["unread"] == 1 and state["mentions"] == 0
    assert state["last_read_id"] is not None and sent[0]["mentions"] == [ben.id]
    cy_state = mine(people["cy_c"])
    assert cy_state["member"] is False and cy_state["unread"] == 0 and cy_state["last_read_id"] is None
    r = people["ben_c"].post(f"/api/rooms/{room['id']}/read", {"message_id": sent[0]["id"]}, format="json")
    assert r.status_code == 204
    assert mine(people["ben_c"])["last_read_id"] > sent[0]["id"]  # never moves back
    assert people["ben_c"].post(f"/api/rooms/{room['id']}/read", {"message_id": 10**9}, format="json").status_code == 400
    assert people["ben_c"].post(f"/api/rooms/{room['id']}/read", {"message_id": "x"}, format="json").status_code == 400
    assert people["cy_c"].post(f"/api/rooms/{room['id']}/read", {"message_id": sent[0]["id"]}, format="json").status_code == 404


def test_rooms_listing_for_guests_and_default_room(people, api):
    rooms = api.get("/api/rooms").json()["rooms"]
    general = rooms[0]
    assert general["id"] == 1 and general["name"] == "general" and general["member"] is False
    assert general["member_count"] == 3
    assert people["ana_c"].get("/api/rooms").json()["rooms"][0]["member"] is True
    assert api.get("/api/rooms/1/members").status_code == 200


def test_edit_and_delete_messages(people, make_user, as_user):
    ana, ben = people["ana"], people["ben"]
    m = services.message_send(user_id=ana.id, subject="s", body="before").payload
    r = people["ben_c"].patch(f"/api/messages/{m['id']}", {"body": "x"}, format="json")
    assert r.status_code == 403
    r = people["ana_c"].patch(f"/api/messages/{m['id']}", {"body": f"after <@{ben.id}>"}, format="json")
    assert r.status_code == 200
    edited = r.json()
    assert edited["body"] == f"after <@{ben.id}>" and edited["subject"] == "s" and edited["edited_at"] > m["ts"]
    assert edited["mentions"] == [ben.id]
    assert frames(1)[-1] == {"type": "message_edited", "room_id": 1, "seq": frames(1)[-1]["seq"], "message": edited}
    for bad in ({"body": ""}, {"body": "  "}, {"body": "x" * 4001}, {"body": "ok", "subject": "s" * 201}, {}):
        assert people["ana_c"].patch(f"/api/messages/{m['id']}", bad, format="json").status_code == 400, bad
    assert people["ana_c"].patch("/api/messages/999999", {"body": "x"}, format="json").status_code == 404
    assert people["ben_c"].delete(f"/api/messages/{m['id']}").status_code == 403
    staff = as_user(make_user(is_staff=True))
    assert staff.patch(f"/api/messages/{m['id']}", {"body": "x"}, format="json").status_code == 403
    assert staff.delete(f"/api/messages/{m['id']}").status_code == 204
    assert frames(1)[-1]["type"] == "message_deleted" and frames(1)[-1]["id"] == m["id"]
    assert people["ana_c"].delete(f"/api/messages/{m['id']}").status_code == 404
    assert people["ana_c"].get("/api/messages").json()["messages"] == []


def test_reactions_idempotent_ordered_and_validated(people):
    ana, ben = people["ana"], people["ben"]
    m = services.message_send(user_id=ana.id, subject="", body="react").payload
    url = f"/api/messages/{m['id']}/reactions/"
    assert people["ben_c"].put(url + "%F0%9F%91%8D").status_code == 204
    assert people["ben_c"].put(url + "%F0%9F%91%8D").status_code == 204  # idempotent: no second event
    assert people["ana_c"].put(url + "%F0%9F%8E%89").status_code == 204
    assert people["ana_c"].put(url + "%F0%9F%91%8D").status_code == 204
    reactions = [f for f in frames(1) if f["type"] == "reaction"]
    assert [(f["emoji"], f["user_id"], f["op"]) for f in reactions] == [
        ("👍", ben.id, "add"), ("🎉", ana.id, "add"), ("👍", ana.id, "add")]
    got = people["ana_c"].get("/api/messages").json()["messages"][-1]["reactions"]
    assert got == [{"emoji": "👍", "user_ids": [ben.id, ana.id]}, {"emoji": "🎉", "user_ids": [ana.id]}]
    assert people["ben_c"].delete(url + "%F0%9F%91%8D").status_code == 204
    assert people["ben_c"].delete(url + "%F0%9F%91%8D").status_code == 204
    assert people["ana_c"].delete(url + "%F0%9F%8E%89").status_code == 204
    got = people["ana_c"].get("/api/messages").json()["messages"][-1]["reactions"]
    assert got == [{"emoji": "👍", "user_ids": [ana.id]}]
    assert len([f for f in frames(1) if f["type"] == "reaction"]) == 5
    for bad in ("a%20b", "a%09", "%C2%A0", "x" * 17, "%00"):
        assert people["ana_c"].put(url + bad).status_code == 400, bad
    assert people["ana_c"].put("/api/messages/99999/reactions/x").status_code == 404


def test_replies_stay_in_their_room(people):
    ana = people["ana"]
    room = people["ana_c"].post("/api/rooms", {"name": "replies", "kind": "public"}, format="json").json()
    first = services.message_send(user_id=ana.id, subject="", body="first").payload
    reply = services.message_send(user_id=ana.id, subject="", body="re", reply_to=first["id"]).payload
    assert reply["reply_to"] == first["id"]
    with pytest.raises(services.MessageInvalid):
        services.message_send(user_id=ana.id, subject="", body="elsewhere", room_id=room["id"], reply_to=first["id"])
    with pytest.raises(services.Forbidden):
        services.message_send(user_id=people["ben"].id, subject="", body="not a member", room_id=room["id"])
    with pytest.raises(services.Forbidden):
        services.message_send(user_id=ana.id, subject="", body="nowhere", room_id=10**9)


def test_mentions_only_name_who_may_see_the_room(people):
    ana, ben, cy = people["ana"], people["ben"], people["cy"]
    priv = people["ana_c"].post("/api/rooms", {"name": "m", "kind": "private"}, format="json").json()
    people["ana_c"].post(f"/api/rooms/{priv['id']}/members", {"user_id": ben.id}, format="json")
    m = services.message_send(user_id=ana.id, subject="", body=f"<@{cy.id}> <@{ben.id}> <@{ben.id}> <@999>",
                              room_id=priv["id"]).payload
    assert m["mentions"] == [ben.id]
    pub = services.message_send(user_id=ana.id, subject="", body=f"<@{cy.id}> and <@{ben.id}>").payload
    assert pub["mentions"] == [cy.id, ben.id]


def test_search_words_stems_rooms_and_paging(people, api):
    ana = people["ana"]
    for body in ("The cats are running", "a dog runs", "cat and dog", "nothing here"):
        services.message_send(user_id=ana.id, subject="", body=body)
    services.message_send(user_id=ana.id, subject="Running notes", body="subject matters")

    def bodies(q, **extra):
        r = api.get("/api/search", {"q": q, **extra})
        assert r.status_code == 200, r.content
        return [m["body"] for m in r.json()["results"]]

    assert bodies("cat") == ["cat and dog", "The cats are running"]
    assert bodies("CAT dog") == ["cat and dog"]
    assert bodies("run") == ["subject matters", "a dog runs", "The cats are running"]
    assert bodies('"cat and dog"') == ["cat and dog"]
    assert bodies("zebra") == []
    page = api.get("/api/search", {"q": "run", "limit": 1}).json()
    assert page["has_more"] is True
    older = api.get("/api/search", {"q": "run", "before": page["results"][0]["id"], "limit": 5}).json()
    assert [m["body"] for m in older["results"]] == ["a dog runs", "The cats are running"]
    m = services.message_send(user_id=ana.id, subject="", body="old words").payload
    services.message_edit(user=ana, message_id=m["id"], body="fresh words")
    assert bodies("old") == [] and bodies("fresh") == ["fresh words"]
    services.message_delete(user=ana, message_id=m["id"])
    assert bodies("fresh") == []
    for bad in ({"q": ""}, {"q": "x" * 201}, {"q": "a", "limit": 51}, {"q": "a", "before": -1}, {}):
        assert api.get("/api/search", bad).status_code == 400, bad
    assert api.get("/api/search", {"q": "cat", "room_id": 10**9}).status_code == 404


def test_users_search(people):
    c = people["ana_c"]
    assert [u["name"] for u in c.get("/api/users", {"q": "be"}).json()["users"]] == ["Ben Ode"]
    assert [u["name"] for u in c.get("/api/users", {"q": "sil"}).json()["users"]] == ["Ana Silva"]
    assert [u["name"] for u in c.get("/api/users", {"q": "ode"}).json()["users"]] == ["Ben Ode"]
    assert [u["name"] for u in c.get("/api/users", {"q": "user"}).json()["users"]] == ["Ana Silva", "Ben Ode", "Cy Tan"]
    assert c.get("/api/users", {"q": "ilva"}).json()["users"] == []
    assert c.get("/api/users", {"q": ""}).status_code == 400
    assert c.get("/api/users", {"q": "x" * 51}).status_code == 400
    people["cy"].is_active = False
    people["cy"].save()
    assert "Cy Tan" not in [u["name"] for u in c.get("/api/users", {"q": "user"}).json()["users"]]


def test_rate_limits_for_rooms(people, settings):
    settings.CHAT_RATE_LIMITS = True
    from django.core.cache import cache

    cache.clear()
    codes = [people["ana_c"].post("/api/rooms", {"name": f"r{i}", "kind": "public"}, format="json").status_code
             for i in range(25)]
    assert codes[:20] == [201] * 20 and 429 in codes[20:]


def test_default_room_exists_named_general():
    assert Room.objects.get(pk=1).name == "general"
