import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
django_asgi_app = get_asgi_application()  # before any consumer import

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402

from chatapp.origin import origin_allowed  # noqa: E402
from livechat.routing import websocket_urlpatterns  # noqa: E402


class AllowedOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, except that a handshake without Origin
    (a script, a load generator: nothing a browser can be tricked into) is let in.
    `null` and foreign Origins get 403."""

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin):
        return True

    async def __call__(self, scope, receive, send):
        origin = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin1")
        if origin is not None and not origin_allowed(origin):
            from channels.security.websocket import WebsocketDenier

            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
