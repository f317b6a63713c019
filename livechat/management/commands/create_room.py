from django.core.management.base import BaseCommand, CommandError

from accounts.management.commands._user import user_or_error
from livechat import rooms


class Command(BaseCommand):
    help = "Create a public or private room owned by OWNER_EMAIL (its first member)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, metavar="OWNER_EMAIL")
        parser.add_argument("--kind", choices=["public", "private"], default="public")
        parser.add_argument("--topic", default="")

    def handle(self, *args, name, owner, kind, topic, **options):
        user = user_or_error(owner)
        try:
            room = rooms.room_create(user=user, name=name, kind=kind, topic=topic)
        except rooms.RoomInvalid as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(m) if isinstance(m, list) else m}"
                                         for field, m in exc.errors.items())) from None
        self.stdout.write(self.style.SUCCESS(f"created {kind} room {room['name']!r} (id {room['id']})"))
