"""This replica's wall clock, in ns. CHAT_FAULT_CLOCK_SKEW_MS moves it, for the fault
tests that run replicas whose clocks disagree (never set in production)."""

import time

from django.conf import settings


def now_ns() -> int:
    return time.time_ns() + settings.CHAT_FAULT_CLOCK_SKEW_MS * 1_000_000
