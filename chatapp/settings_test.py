"""Test settings: the real settings with a test environment and a fast hasher.

CHAT_TEST_DB=sqlite runs the suite against the embedded default's SQLite instead of
PostgreSQL; Redis is then unused, as in the embedded default.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256-signing-0123456789")
if os.environ.get("CHAT_TEST_DB") == "sqlite":
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["SQLITE_PATH"] = "/tmp/chat-test.sqlite3"
else:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHAT_TAIL_POLL_S = 0.5
if "pool" in DATABASES["default"].get("OPTIONS", {}):  # noqa: F405
    # threads of several async tests can hold connections at once
    DATABASES["default"]["OPTIONS"]["pool"]["max_size"] = 30  # noqa: F405
