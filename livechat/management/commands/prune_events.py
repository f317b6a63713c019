from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from livechat import stream
from livechat.models import Room


class Command(BaseCommand):
    help = ("Delete room-stream events beyond what the contract keeps: per room, the newest "
            "--keep events (at least 10,000) and every event of the last --days days (at least 7). "
            "Clients asking to replay from before that get 410 and reload the room.")

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=int, default=settings.CHAT_EVENTS_KEEP)
        parser.add_argument("--days", type=int, default=settings.CHAT_EVENTS_KEEP_SECONDS // 86400)

    def handle(self, *args, keep, days, **options):
        if keep < 10_000 or days < 7:
            raise CommandError("--keep must be at least 10000 and --days at least 7 (the contract's retention)")
        rooms = Room.objects.filter(last_seq__gt=keep).count()
        with tqdm(total=rooms, unit="room", disable=None, file=self.stderr._out) as bar:
            deleted = stream.events_prune(keep_events=keep, keep_seconds=days * 86400, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"deleted {deleted} event(s)"))
