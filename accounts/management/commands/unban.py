from django.core.management.base import BaseCommand

from accounts import services

from ._user import user_or_error


class Command(BaseCommand):
    help = "Reactivate a banned user (they sign in again with their password)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = user_or_error(email)
        services.user_set_active(user=user, active=True)
        self.stdout.write(self.style.SUCCESS(f"unbanned {user.email}"))
