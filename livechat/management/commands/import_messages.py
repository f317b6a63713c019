import csv
import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import User
from livechat import services

BATCH = 500


def read_rows(path):
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            if first.lstrip().startswith("{"):
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        try:
                            yield number, json.loads(line)
                        except ValueError:
                            raise CommandError(f"{path}:{number}: not a JSON object") from None
            else:
                for number, row in enumerate(csv.DictReader(handle), 2):
                    yield number, row
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None


class Command(BaseCommand):
    help = (
        "Import messages from an export (JSON lines or CSV), in order. Authors are matched by email and "
        "created (unable to sign in until they reset) when missing. Idempotent: a message already "
        "imported is skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        users: dict[str, User] = {}
        created = skipped = 0
        batch: list[services.NewMessage] = []

        def flush():
            nonlocal created, skipped
            stored = services.messages_append(rows=batch)
            created += len(stored)
            skipped += len(batch) - len(stored)
            batch.clear()

        with tqdm(unit="msg", disable=None, file=self.stderr._out) as bar:
            for number, row in read_rows(file):
                try:
                    email, name = row["user_email"], row.get("user_name") or row["user_email"].split("@")[0]
                    ts = int(row["ts"])
                    source_id = int(row["id"])
                except (KeyError, TypeError, ValueError):
                    raise CommandError(f"{file}:{number}: needs id, ts, body, user_email") from None
                user = users.get(email.lower())
                if user is None:
                    user = User.objects.filter(email__iexact=email).first()
                    if user is None:
                        user = User.objects.create_user(email=email, name=name[:50] or "imported", password=None)
                    users[email.lower()] = user
                try:
                    services.message_check(subject=row.get("subject") or "", body=row.get("body"), client_id=None)
                except services.MessageInvalid:
                    raise CommandError(f"{file}:{number}: subject or body out of bounds") from None
                # the source id makes re-imports idempotent when the original had no client_id
                client_id = row.get("client_id") or f"import:{source_id}"
                batch.append(services.NewMessage(user=user, subject=row.get("subject") or "", body=row.get("body"),
                                                 client_id=client_id, ts=ts))
                if len(batch) >= BATCH:
                    flush()
                bar.update(1)
            if batch:
                flush()
        self.stdout.write(self.style.SUCCESS(f"imported {created} message(s), skipped {skipped} already present"))
