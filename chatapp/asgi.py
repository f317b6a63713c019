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

    _asgi_single_callable = True  # asgiref would take a plain __call__ for ASGI 2

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin):
        return True

    def __call__(self, scope, receive, send):
        # Not a coroutine function: it returns the next application's coroutine, so an
        # open socket does not keep a frame of this one alive.
        origin = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin1")
        if origin is not None and not origin_allowed(origin):
            from channels.security.websocket import WebsocketDenier

            return WebsocketDenier()(scope, receive, send)
        return self.application(scope, receive, send)


class ProtocolRouter(ProtocolTypeRouter):
    """Channels' ProtocolTypeRouter, returning the routed application's coroutine
    rather than awaiting it (one frame less per open socket)."""

    _asgi_single_callable = True  # asgiref would take a plain __call__ for ASGI 2

    def __call__(self, scope, receive, send):
        application = self.application_mapping.get(scope["type"])
        if application is None:
            raise ValueError(f"No application configured for scope type {scope['type']!r}")
        return application(scope, receive, send)


application = ProtocolRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
