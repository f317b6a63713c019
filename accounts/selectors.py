from .models import User


def user_public(*, user: User, with_email: bool) -> dict:
    """The contract's User object; `email` only for signed-in viewers."""
    data = {"id": user.id, "name": user.name}
    if with_email:
        data["email"] = user.email
    return data


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()
