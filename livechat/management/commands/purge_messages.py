from django.core.management.base import BaseCommand
from tqdm import tqdm

from livechat import services
from livechat.models import Message

from ._dates import parse_when, to_ns


class Command(BaseCommand):
    help = "Delete every message sent before DATE (open clients are told). --dry-run only counts."

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD or ISO date-time (UTC unless it says)")
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")

    def handle(self, *args, before, dry_run, **options):
        before_ns = to_ns(parse_when(before, "--before"))
        count = Message.objects.filter(ts__lt=before_ns).count()
        if dry_run:
            self.stdout.write(f"{count} message(s) would be deleted (dry run)")
            return
        with tqdm(total=count, unit="msg", disable=None, file=self.stderr._out) as bar:
            deleted = services.messages_purge(before_ns=before_ns, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"deleted {deleted} message(s)"))
