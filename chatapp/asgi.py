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

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)  # before any consumer import
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
