import csv
import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from livechat.models import Message
from livechat.selectors import message_payload

from ._dates import parse_when, to_ns

FIELDS = ["id", "ts", "subject", "body", "client_id", "prev_id", "room_id", "user_id", "user_name", "user_email"]


def flat(message):
    payload = message_payload(message=message, reactions=[])
    user = payload.pop("user")
    flat = {**payload, "user_id": user["id"], "user_name": user["name"], "user_email": user["email"]}
    return {key: flat[key] for key in FIELDS}


class Command(BaseCommand):
    help = "Export messages, oldest first, as JSON lines (default) or CSV, to stdout or --output FILE."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--since", help="only messages sent at or after this date (YYYY-MM-DD or ISO)")
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")

    def handle(self, *args, format, since, output, **options):
        messages = Message.objects.select_related("user").order_by("id")
        if since:
            messages = messages.filter(ts__gte=to_ns(parse_when(since, "--since")))
        try:
            out = open(output, "w", newline="", encoding="utf-8") if output else self.stdout._out
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from None
        total = messages.count()
        writer = csv.DictWriter(out, fieldnames=FIELDS) if format == "csv" else None
        if writer:
            writer.writeheader()
        with tqdm(total=total, unit="msg", disable=None if output else True, file=self.stderr._out) as bar:
            try:
                for message in messages.iterator(chunk_size=2000):
                    row = flat(message)
                    if writer:
                        writer.writerow(row)
                    else:
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    bar.update(1)
            except BrokenPipeError:  # `| head`: the reader has had enough
                sys.stderr.close()
                return
        if output:
            out.close()
            self.stderr.write(f"exported {total} message(s) to {output}")
