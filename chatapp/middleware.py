CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' {sockets}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=(), interest-cohort=()")
# Django's admin uses inline scripts and styles; it gets a CSP without 'unsafe-inline' for scripts too,
# so it is limited to its own files.
ADMIN_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """The headers SecurityMiddleware does not set: a strict Content-Security-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            admin = request.path.startswith("/admin/")
            response["Content-Security-Policy"] = ADMIN_CSP if admin else CSP.format(sockets=_own_sockets(request))
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request.path.startswith("/api/"):
            # Tokens travel in these answers; nothing under /api/ is worth caching.
            response.setdefault("Cache-Control", "no-store")
        return response


def _own_sockets(request) -> str:
    """The page's own websocket origin, and no other host ('self' alone is not read as
    ws/wss by every browser)."""
    try:
        host = request.get_host()
    except Exception:  # noqa: BLE001 - a disallowed host gets Django's 400 anyway
        return ""
    return f"ws://{host} wss://{host}"
