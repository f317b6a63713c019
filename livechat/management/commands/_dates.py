import datetime as dt

from django.core.management.base import CommandError
from django.utils import dateparse, timezone


def parse_when(value: str, option: str) -> dt.datetime:
    """YYYY-MM-DD or an ISO 8601 date-time; naive values are UTC."""
    when = dateparse.parse_datetime(value)
    if when is None:
        day = dateparse.parse_date(value) if len(value) == 10 else None
        if day is None:
            raise CommandError(f"{option}: {value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)")
        when = dt.datetime(day.year, day.month, day.day)
    if timezone.is_naive(when):
        when = when.replace(tzinfo=dt.timezone.utc)
    return when


def to_ns(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)
