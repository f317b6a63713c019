from django.core.management.base import CommandError

from accounts.selectors import user_get_by_email


def user_or_error(email):
    user = user_get_by_email(email=email)
    if user is None:
        raise CommandError(f"no user with email {email!r}")
    return user
