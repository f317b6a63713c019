import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from whitenoise.middleware import WhiteNoiseMiddleware

from chatapp.logs import request_id

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
# Django's admin uses inline scripts and styles; it gets a CSP without 'unsafe-inline' for scripts too,
# so it is limited to its own files.
ADMIN_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


class BothModes:
    """A middleware that runs in whichever mode the handler below it runs (Django's
    own do the same): under ASGI a sync-only middleware costs two thread hops per
    request, one into a worker thread and one back to the event loop."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return self.after(request, self.before(request) or self.get_response(request))

    async def __acall__(self, request):
        return self.after(request, self.before(request) or await self.get_response(request))

    def before(self, request):
        """A response to answer with at once, or None to go on."""
        return None

    def after(self, request, response):
        return response


class SecurityHeadersMiddleware(BothModes):
    """The headers SecurityMiddleware does not set: a strict Content-Security-Policy."""

    def after(self, request, response):
        if "Content-Security-Policy" not in response:
            admin = request.path.startswith("/admin/")
            response["Content-Security-Policy"] = ADMIN_CSP if admin else CSP
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


class StaticFilesMiddleware(BothModes, WhiteNoiseMiddleware):
    """WhiteNoise (static files without nginx: the embedded default), in both modes."""

    def __init__(self, get_response):
        WhiteNoiseMiddleware.__init__(self, get_response)
        BothModes.__init__(self, get_response)

    def before(self, request):
        path = request.path_info
        static_file = self.find_file(path) if self.autorefresh else self.files.get(path)
        return self.serve(static_file, request) if static_file is not None else None


class RequestIdMiddleware(BothModes):
    """Takes nginx's X-Request-ID (or makes one), puts it on every log line of the
    request and echoes it in the response."""

    def before(self, request):
        rid = request.META.get("HTTP_X_REQUEST_ID", "")[:64] or uuid.uuid4().hex[:16]
        # Not reset afterwards: Django logs 4xx/5xx responses after the middleware chain
        # returns, and that line should carry the id too. The next request sets its own.
        request_id.set(rid)
        request.request_id = rid

    def after(self, request, response):
        response["X-Request-ID"] = request.request_id
        return response
