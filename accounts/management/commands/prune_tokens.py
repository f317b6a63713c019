from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Delete expired and revoked refresh tokens, and used ones of sign-ins that have ended."

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {services.refresh_tokens_prune()} refresh token(s)")
