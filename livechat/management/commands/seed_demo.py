import random

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import User
from livechat import services

WORDS = (
    "deploy review coffee release tomorrow cluster latency replica redis postgres lunch standup idea docs "
    "bug fix merge test green ship it looks good question anyone seen the new dashboard metrics alert "
    "weekend plans great thanks welcome hello team"
).split()
NAMES = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Radia", "Edsger", "Donald"]
PASSWORD = "demo password 1234"


class Command(BaseCommand):
    help = f"Create demo users (demo1@example.com, ... password '{PASSWORD}') and a lively history."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=8)
        parser.add_argument("--messages", type=int, default=500)

    def handle(self, *args, users, messages, **options):
        if not 1 <= users <= 10_000 or not 0 <= messages <= 10_000_000:
            raise CommandError("--users must be 1..10000 and --messages 0..10000000")
        people = []
        for n in range(1, users + 1):
            email = f"demo{n}@example.com"
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User.objects.create_user(email=email, name=f"{NAMES[(n - 1) % len(NAMES)]} {n}", password=PASSWORD)
            people.append(user)
        rng = random.Random(42)
        with tqdm(total=messages, unit="msg", disable=None, file=self.stderr._out) as bar:
            for start in range(0, messages, 1000):
                rows = []
                for _ in range(min(1000, messages - start)):
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 18))).capitalize()
                    subject = rng.choice(["", "", "", "Release", "Lunch?", "Incident", "Ideas"])
                    rows.append(services.NewMessage(user=rng.choice(people), subject=subject, body=text + "."))
                services.messages_append(rows=rows)
                bar.update(len(rows))
        self.stdout.write(self.style.SUCCESS(
            f"{users} demo user(s) (password '{PASSWORD}') and {messages} message(s) ready"))
