from django.core.management.base import BaseCommand

from accounts import services

from ._user import user_or_error


class Command(BaseCommand):
    help = "Deactivate a user: refresh tokens revoked, open sockets demoted at once, sign-in refused."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = user_or_error(email)
        services.user_set_active(user=user, active=False)
        self.stdout.write(self.style.SUCCESS(f"banned {user.email}"))
