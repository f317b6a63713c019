import contextvars
import json
import logging
import time
import uuid

request_id = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields (conn, request_id, ...) are carried along."""

    def format(self, record):
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Every record made during a request carries its id, whichever handler writes it.
_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args, **kwargs):
    record = _base_factory(*args, **kwargs)
    rid = request_id.get()
    if rid:
        record.request_id = rid
    return record


if not getattr(logging.getLogRecordFactory(), "_chat", False):
    _record_with_request_id._chat = True
    logging.setLogRecordFactory(_record_with_request_id)


class RequestIdMiddleware:
    """Takes nginx's X-Request-ID (or makes one), puts it on every log line of the
    request and echoes it in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request.META.get("HTTP_X_REQUEST_ID", "")[:64] or uuid.uuid4().hex[:16]
        # Not reset afterwards: Django logs 4xx/5xx responses after the middleware chain
        # returns, and that line should carry the id too. The next request sets its own.
        request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
