"""Writes of the account side: registration, sign-in, refresh rotation, revocation.

Refresh tokens (CONTRACT "Refresh cookie"):
- rotation is one conditional UPDATE (unused, unrevoked, unexpired -> used), so of
  any number of concurrent presentations exactly one wins, on PostgreSQL and SQLite;
- within the grace period after rotation one more presentation wins a second
  conditional UPDATE (grace_used false -> true) and gets a sibling in the same family;
- later presentations of a used token revoke the family (reuse detection).
Times in these conditions come from the database clock (`Now()`), so replicas whose
clocks disagree still agree on expiry and grace.
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from .models import email_key, RefreshToken, User
from .tokens import access_token_issue, refresh_secret_hash, refresh_secret_new, REFRESH_SECRET_MAX_LEN


class EmailTaken(Exception):
    pass


class LoginFailed(Exception):
    pass


class LoginThrottled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


class RefreshRejected(Exception):
    pass


@dataclass(frozen=True)
class IssuedSession:
    user: User
    access: str
    refresh: str


# Called with a user id after the user has been deactivated (livechat demotes sockets).
deactivation_hooks: list[Callable[[int], None]] = []


def user_register(*, email: str, name: str, password: str) -> User:
    """Creates an active user. Validation of the fields has been done by the caller."""
    try:
        with transaction.atomic():
            if User.objects.filter(email_key=email_key(email)).exists():
                raise EmailTaken()
            return User.objects.create_user(email=email, name=name, password=password)
    except IntegrityError:  # a concurrent registration of the same email won
        raise EmailTaken() from None


def _session_issue(*, user: User, family=None) -> IssuedSession:
    secret = refresh_secret_new()
    now = timezone.now()
    fields = {"family": family} if family else {}
    RefreshToken.objects.create(
        user=user,
        token_hash=refresh_secret_hash(secret),
        created_at=now,
        expires_at=now + settings.REFRESH_TOKEN_LIFETIME,
        **fields,
    )
    return IssuedSession(user=user, access=access_token_issue(user=user), refresh=secret)


def _failure_keys(email: str) -> tuple[str, str]:
    digest = hashlib.sha256(email_key(email).encode("utf-8", "replace")).hexdigest()
    return f"login-fail:{digest}:n", f"login-fail:{digest}:start"


def _login_retry_after(email: str) -> int:
    """Seconds until this email may try again; 0 when it may now."""
    if not settings.CHAT_RATE_LIMITS:
        return 0
    count_key, start_key = _failure_keys(email)
    if (cache.get(count_key) or 0) < settings.LOGIN_FAILURES_PER_EMAIL:
        return 0
    start = cache.get(start_key) or time.time()
    return max(1, int(start + settings.LOGIN_FAILURE_WINDOW.total_seconds() - time.time()) + 1)


def _login_attempt_reserve(email: str) -> bool:
    """Counts this attempt against the email before the password is checked (atomic
    INCR in the shared cache), so that concurrent wrong passwords, on any replica, get
    at most LOGIN_FAILURES_PER_EMAIL checks per window. False: over the limit."""
    if not settings.CHAT_RATE_LIMITS:
        return True
    window = int(settings.LOGIN_FAILURE_WINDOW.total_seconds())
    count_key, start_key = _failure_keys(email)
    cache.add(start_key, time.time(), window)
    cache.add(count_key, 0, window)
    try:
        count = cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.add(count_key, 1, window)
        count = 1
    return count <= settings.LOGIN_FAILURES_PER_EMAIL


def _login_attempt_release(email: str) -> None:
    """A right password does not count as a failure."""
    if not settings.CHAT_RATE_LIMITS:
        return
    try:
        cache.decr(_failure_keys(email)[0])
    except ValueError:
        pass


def login_attempt(email: str) -> "int | None":
    """Reserves one password check for this email (admin and API sign-in alike): None
    when it may go ahead, else the seconds to wait."""
    retry_after = _login_retry_after(email)
    if retry_after or not _login_attempt_reserve(email):
        return retry_after or _login_retry_after(email) or 1
    return None


def login_succeeded(email: str) -> None:
    _login_attempt_release(email)


def user_login(*, email: str, password: str) -> IssuedSession:
    """Unknown email, wrong password and inactive user fail alike (and take alike long:
    Django's ModelBackend hashes the password for an unknown user too)."""
    retry_after = login_attempt(email)
    if retry_after:
        raise LoginThrottled(retry_after)
    user = authenticate(username=email, password=password)
    if user is None:
        raise LoginFailed()
    login_succeeded(email)
    return _session_issue(user=user)


def refresh_rotate(*, secret: str) -> IssuedSession:
    """Uses up the presented refresh token and issues its successor, atomically."""
    if not secret or len(secret) > REFRESH_SECRET_MAX_LEN:
        raise RefreshRejected()
    token_hash = refresh_secret_hash(secret)
    # No join in these UPDATEs: PostgreSQL re-checks a waiting UPDATE's WHERE against
    # the committed row only for the row itself, not inside a subquery.
    live = Q(token_hash=token_hash, revoked_at__isnull=True, expires_at__gt=Now())
    with transaction.atomic():
        won = RefreshToken.objects.filter(live, used_at__isnull=True).update(used_at=Now())
        if not won:
            won = RefreshToken.objects.filter(
                live, used_at__gt=Now() - settings.REFRESH_GRACE_PERIOD, grace_used=False
            ).update(grace_used=True)
        if won:
            token = RefreshToken.objects.select_related("user").get(token_hash=token_hash)
            if token.user.is_active:
                return _session_issue(user=token.user, family=token.family)
            raise RefreshRejected()
    _refresh_reuse_check(token_hash=token_hash)
    raise RefreshRejected()


def _refresh_reuse_check(*, token_hash: str) -> None:
    """A used token presented after its grace period: revoke everything descended from
    that sign-in. Within the grace period nothing is revoked (CONTRACT)."""
    reused = RefreshToken.objects.filter(
        token_hash=token_hash, used_at__lte=Now() - settings.REFRESH_GRACE_PERIOD
    ).values_list("family", flat=True)
    refresh_families_revoke(families=set(reused))


def refresh_revoke(*, secret: str) -> None:
    """Logout: revokes the presented token and the rest of its sign-in family."""
    if not secret or len(secret) > REFRESH_SECRET_MAX_LEN:
        return
    families = RefreshToken.objects.filter(token_hash=refresh_secret_hash(secret)).values_list("family", flat=True)
    refresh_families_revoke(families=set(families))


def refresh_families_revoke(*, families: set) -> int:
    """Revokes every token of these sign-ins; returns how many were still live."""
    return RefreshToken.objects.filter(family__in=list(families), revoked_at__isnull=True).update(revoked_at=Now())


def password_change(*, user: User, new_password: str) -> IssuedSession:
    """The caller has checked old_password and validated new_password. Every refresh
    token the user holds is revoked; a new sign-in family starts here."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        RefreshToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=Now())
        return _session_issue(user=user)


def user_set_active(*, user: User, active: bool) -> None:
    """Ban (active=False) or unban. A ban revokes every refresh token and tells the
    live side, which demotes the user's sockets at once."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=active)
        user.is_active = active
        if not active:
            RefreshToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=Now())
            for hook in deactivation_hooks:
                transaction.on_commit(lambda hook=hook: hook(user.pk))


def refresh_tokens_prune() -> int:
    """Deletes expired and revoked refresh tokens, and used ones whose sign-in has no
    live token left. A used token of a live sign-in is kept: its reuse is what reveals
    a stolen token (reuse detection). Returns how many rows went."""
    live_families = RefreshToken.objects.filter(
        used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=Now()
    ).values("family")
    deleted, _ = RefreshToken.objects.filter(
        Q(expires_at__lte=Now())
        | Q(revoked_at__isnull=False)
        | (Q(used_at__lte=Now() - settings.REFRESH_GRACE_PERIOD) & ~Q(family__in=live_families))
    ).delete()
    return deleted
