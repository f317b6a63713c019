"""Which Origins may talk to the cookie endpoints and the websocket: the hosts in
DJANGO_ALLOWED_HOSTS (Django's own host-pattern matching)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain


def origin_allowed(origin: str) -> bool:
    """`null` and unparsable origins are refused; a missing Origin is the caller's call."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.scheme not in ("http", "https"):
        return False
    return any(pattern == "*" or is_same_domain(host, pattern) for pattern in settings.ALLOWED_HOSTS)
