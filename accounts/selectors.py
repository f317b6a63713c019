from .models import User


def user_public(*, user: User, with_email: bool) -> dict:
    """The contract's User object; `email` only for signed-in viewers."""
    data = {"id": user.id, "name": user.name}
    if with_email:
        data["email"] = user.email
    return data


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()


def users_active(user_ids: list[int]) -> list[User | None]:
    """Each id's User if it is active, else None: one query for many ids."""
    found = User.objects.filter(pk__in=set(user_ids), is_active=True).in_bulk()
    return [found.get(user_id) for user_id in user_ids]


def users_inactive_among(user_ids: set[int]) -> list[int]:
    """Which of these users are no longer active (a ban whose event was lost still lands)."""
    return list(User.objects.filter(pk__in=user_ids, is_active=False).values_list("pk", flat=True))
