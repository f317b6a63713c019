from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.management.commands._user import user_or_error
from livechat import rooms, stream
from livechat.models import DEFAULT_ROOM_ID, Membership, Room


class Command(BaseCommand):
    help = ("Add or remove members of a room (by id): `room_members ROOM_ID add EMAIL…` or "
            "`room_members ROOM_ID remove EMAIL…`. Each change is an event of the room's stream.")

    def add_arguments(self, parser):
        parser.add_argument("room_id", type=int)
        parser.add_argument("action", choices=["add", "remove"])
        parser.add_argument("emails", nargs="+")

    def handle(self, *args, room_id, action, emails, **options):
        room = Room.objects.filter(pk=room_id).first()
        if room is None:
            raise CommandError(f"no room with id {room_id} (list them in the admin, /admin/livechat/room/)")
        if room.pk == DEFAULT_ROOM_ID or room.kind == Room.DIRECT:
            raise CommandError("the default room and direct rooms have a fixed set of members")
        users = [user_or_error(email) for email in emails]
        for user in users:
            with transaction.atomic():
                locked = stream.room_locked(room.pk)
                member = Membership.objects.filter(room=locked, user=user).exists()
                if action == "add" and not member:
                    rooms.member_joined_locked(locked, user)
                elif action == "remove" and member:
                    rooms.member_left_locked(locked, user.pk)
                else:
                    self.stderr.write(f"{user.email}: {'already' if member else 'not'} a member, nothing to do")
                    continue
            self.stdout.write(self.style.SUCCESS(f"{action}: {user.email}"))
