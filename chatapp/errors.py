"""DRF's error shapes everywhere, and 503 rather than 500 when storage is down."""

import logging

from django.db import DatabaseError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, DatabaseError):
        logger.warning("database unavailable: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return Response({"detail": "Storage is unavailable; try again shortly."}, status.HTTP_503_SERVICE_UNAVAILABLE)
    return drf_exception_handler(exc, context)
