"""Per-IP and per-email throttles on Django's cache (Redis when REDIS_URL is set).
CHAT_RATE_LIMITS=off turns every one of them off."""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _Switchable(SimpleRateThrottle):
    def allow_request(self, request, view):
        if not settings.CHAT_RATE_LIMITS:
            return True
        return super().allow_request(request, view)


class _PerIp(_Switchable):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginIpThrottle(_PerIp):
    scope = "login_ip"


class RegisterIpThrottle(_PerIp):
    scope = "register_ip"


class RefreshIpThrottle(_PerIp):
    scope = "refresh_ip"


class RegisterEmailThrottle(_Switchable):
    scope = "register_email"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email:
            return None
        ident = hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserScopedThrottle(_Switchable):
    """Per signed-in user, for one scope of DEFAULT_THROTTLE_RATES (rooms, edits, reactions)."""

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request, view):
        user = request.user
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}
