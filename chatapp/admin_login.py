"""The admin's sign-in, throttled like /api/login: the same per-IP rate and the same
per-email lockout (10 failed checks per 15 minutes, reserved before the check)."""

from django.contrib import admin
from django.http import HttpResponse

from accounts import services
from accounts.throttles import LoginIpThrottle

_login = admin.site.login


class _Request:
    """What DRF's throttle reads of a request."""

    def __init__(self, request):
        self.META = request.META
        self.user = None


def throttled_login(request, extra_context=None):
    if request.method != "POST":
        return _login(request, extra_context)
    throttle = LoginIpThrottle()
    if not throttle.allow_request(_Request(request), None):
        return _too_many(int(throttle.wait() or 1))
    email = request.POST.get("username", "")
    wait = services.login_attempt(email)
    if wait:
        return _too_many(wait)
    response = _login(request, extra_context)
    if request.user.is_authenticated:
        services.login_succeeded(email)
    return response


def _too_many(wait: int) -> HttpResponse:
    response = HttpResponse("Too many sign-in attempts; try again later.", status=429, content_type="text/plain")
    response["Retry-After"] = str(wait)
    return response


admin.site.login = throttled_login
