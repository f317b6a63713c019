import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from livechat.presence import presence_snapshot


class Command(BaseCommand):
    help = "Who is online now, per replica and in total, read live from Redis."

    def handle(self, *args, **options):
        if not settings.REDIS_URL:
            raise CommandError("presence is kept in the server process when REDIS_URL is unset; set REDIS_URL to a cluster's Redis")
        try:
            snapshot = asyncio.run(presence_snapshot())
        except Exception as exc:  # noqa: BLE001
            raise CommandError(f"cannot read presence from Redis ({exc}); is REDIS_URL right and Redis up?") from None
        self.stdout.write(f"{'replica':<18} {'signed-in users':>15} {'guest sockets':>14}")
        for replica, figures in sorted(snapshot["replicas"].items()):
            self.stdout.write(f"{replica:<18} {figures['users']:>15} {figures['anonymous']:>14}")
        self.stdout.write(f"{'total':<18} {snapshot['authenticated']:>15} {snapshot['anonymous']:>14}")
