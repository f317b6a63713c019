"""Rooms in the admin, and the room commands: success, clear errors, stream events."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from livechat import services
from livechat.models import Event, Membership, Room
from livechat.stream import default_room_ensure

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture(autouse=True)
def _default_room(settings):
    settings.CHAT_RATE_LIMITS = False
    default_room_ensure()


def test_create_room_and_members_commands(make_user, capsys):
    owner, ben = make_user(email="owner@example.com"), make_user(email="ben@example.com")
    call_command("create_room", "ops", "--owner", "OWNER@example.com", "--kind", "private", "--topic", "on call")
    room = Room.objects.get(name="ops")
    assert room.kind == "private" and room.topic == "on call" and room.owner == owner
    with pytest.raises(CommandError, match="name"):
        call_command("create_room", "OPS", "--owner", "owner@example.com")
    with pytest.raises(CommandError, match="no user"):
        call_command("create_room", "x", "--owner", "nobody@example.com")
    call_command("room_members", str(room.pk), "add", "ben@example.com")
    assert Membership.objects.filter(room=room, user=ben).exists()
    call_command("room_members", str(room.pk), "add", "ben@example.com")
    assert "already a member" in capsys.readouterr().err
    call_command("room_members", str(room.pk), "remove", "ben@example.com")
    assert [e.frame["type"] for e in Event.objects.filter(room=room).order_by("seq")] == [
        "member_joined", "member_joined", "member_left"]
    with pytest.raises(CommandError, match="no room"):
        call_command("room_members", "999", "add", "ben@example.com")
    with pytest.raises(CommandError, match="fixed set"):
        call_command("room_members", "1", "add", "ben@example.com")


def test_prune_events_command_refuses_less_than_the_contract(make_user):
    with pytest.raises(CommandError, match="at least"):
        call_command("prune_events", "--keep", "10")
    with pytest.raises(CommandError, match="at least"):
        call_command("prune_events", "--days", "1")
    user = make_user()
    services.message_send(user_id=user.id, subject="", body="kept")
    call_command("prune_events")
    assert Event.objects.count() == 1


def test_rooms_and_memberships_in_the_admin(client, make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    from livechat import rooms

    room = rooms.room_create(user=staff, name="adminroom", kind="private")
    member = make_user()
    rooms.member_add(actor=staff, room_id=room["id"], user_id=member.id)
    assert client.get("/admin/livechat/room/").status_code == 200
    assert b"adminroom" in client.get(f"/admin/livechat/room/{room['id']}/change/").content
    membership = Membership.objects.get(room_id=room["id"], user=member)
    r = client.post(f"/admin/livechat/membership/{membership.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not Membership.objects.filter(pk=membership.pk).exists()
    assert Event.objects.filter(room_id=room["id"]).order_by("-seq").first().frame["type"] == "member_left"
