import os
import sys

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, running the middleware chain and the view in sync mode
    in one worker-thread hop per request. In async mode Django runs every
    MiddlewareMixin middleware's process_request and process_response through
    sync_to_async: with sessions, CSRF, auth, messages and the rest that was sixteen
    thread hops per request, 3 ms of a request that does nothing."""

    PASSWORD_CHECKS = frozenset({"/api/login", "/api/register", "/api/change_password", "/admin/login/"})

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.password_checks = 0

    async def __call__(self, scope, receive, send):
        """A body declared larger than Django would accept is refused before it is read."""
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    if not value.isdigit() or int(value) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                        await send({"type": "http.response.start", "status": 413,
                                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
                        await send({"type": "http.response.body", "body": b'{"detail":"Request body too large."}'})
                        return
                    break
        return await super().__call__(scope, receive, send)

    async def get_response_async(self, request):
        """Requests that hash a password (a quarter of a core-second each) are bounded per
        process: past CHAT_PASSWORD_CHECKS_MAX at once, the excess gets 503 with
        Retry-After at once, instead of queueing ahead of everyone else's requests."""
        if request.method != "POST" or request.path not in self.PASSWORD_CHECKS:
            return await sync_to_async(self.get_response, thread_sensitive=True)(request)
        if self.password_checks >= settings.CHAT_PASSWORD_CHECKS_MAX:
            response = JsonResponse({"detail": "Too many sign-ins at once; try again in a moment."}, status=503)
            response["Retry-After"] = "1"
            response["Cache-Control"] = "no-store"
            return response
        self.password_checks += 1
        try:
            return await sync_to_async(self.get_response, thread_sensitive=True)(request)
        finally:
            self.password_checks -= 1


django.setup(set_prefix=False)  # before any consumer import
from django.conf import settings  # noqa: E402
from django.http import JsonResponse  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402

from chatapp.origin import origin_allowed  # noqa: E402
from livechat.routing import websocket_urlpatterns  # noqa: E402


class AllowedOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, through its valid_origin hook, except that
    a handshake without Origin (a script, a load generator: nothing a browser can be
    tricked into) is let in. `null` and foreign Origins get 403."""

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or origin_allowed(parsed_origin.geturl())


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

if "daphne.server" in sys.modules and "twisted.internet.reactor" in sys.modules:
    # Loaded by daphne's command line (`daphne chatapp.asgi:application`, or python -m
    # chatapp.serve): its server gets the chat's trims and drain (chatapp/serve.py).
    from chatapp import serve

    serve.install()
