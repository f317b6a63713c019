"""One settings module for one process and for a cluster; only the environment differs.

The embedded default (no DATABASE_URL, no REDIS_URL) needs nothing but Python: a
SQLite file, the in-process hub, and a generated secret kept in `.secret_key`.
Anything else is a deployment, and a deployment must be given its secret.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# ---- small typed readers of the environment ---------------------------------
def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0, on/off, true/false; got {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None


DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not DATABASE_URL and not REDIS_URL

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when DATABASE_URL or REDIS_URL is set "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
CHAT_RATE_LIMITS = env_str("CHAT_RATE_LIMITS", "on").lower() != "off"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "accounts",
    "livechat",
    "history",
]

MIDDLEWARE = [
    "chatapp.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "chatapp.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatapp.urls"
ASGI_APPLICATION = "chatapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---- storage ----------------------------------------------------------------
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request and socket frame runs in a worker thread, and Django's
        # persistent connections would be opened per thread and closed per request; a
        # pool (psycopg_pool) keeps connections warm and checks them on checkout.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("CHAT_DB_POOL_MIN", 2),
            "max_size": env_int("CHAT_DB_POOL_MAX", 10),
            "timeout": 2,  # how long a request waits for a connection before it fails (503 / unavailable)
        }
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # the pool checks a connection on checkout
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH") or BASE_DIR / "db.sqlite3",
            "OPTIONS": {
                # IMMEDIATE: a write transaction takes the lock at BEGIN, so two senders
                # queue instead of failing with "database is locked" on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

def _redis_prefix() -> str:
    """Pub/sub channel names ignore Redis's db index: two deployments sharing a server
    would hear each other. Each gets its own prefix: CHAT_REDIS_PREFIX, else the db index."""
    explicit = env_str("CHAT_REDIS_PREFIX") or env_str("CHAT_LAYER_PREFIX")
    if explicit:
        return explicit
    db = urlparse(REDIS_URL).path.strip("/") or "0"
    return f"chat{db}."


CHAT_REDIS_PREFIX = _redis_prefix() if REDIS_URL else ""
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHAT_REDIS_PREFIX},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # The in-process hub carries the broadcast; this layer only answers /readyz.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ---- accounts and tokens ----------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
REFRESH_GRACE_PERIOD = timedelta(seconds=env_int("CHAT_REFRESH_GRACE_SECONDS", 30))
if REFRESH_GRACE_PERIOD > timedelta(seconds=30):
    raise ImproperlyConfigured("CHAT_REFRESH_GRACE_SECONDS may be at most 30")

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": ACCESS_TOKEN_LIFETIME,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    "LEEWAY": 0,
}

REST_FRAMEWORK = {
    # simplejwt's own: it also refuses users that are no longer active
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["chatapp.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chatapp.errors.exception_handler",
    "DEFAULT_METADATA_CLASS": None,  # no OPTIONS self-description; the OpenAPI schema is at /api/schema
    "UNAUTHENTICATED_USER": None,
    # Behind the proxy the client is the last address nginx appended; otherwise
    # X-Forwarded-For is the client's own claim and is ignored.
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": env_str("CHAT_LOGIN_RATE_IP", "60/min"),
        "register_ip": env_str("CHAT_REGISTER_RATE_IP", "20/hour"),
        "register_email": env_str("CHAT_REGISTER_RATE_EMAIL", "5/hour"),
        "refresh_ip": env_str("CHAT_REFRESH_RATE_IP", "120/min"),
        "room_create": env_str("CHAT_ROOM_CREATE_RATE", "20/hour"),
        "direct_create": env_str("CHAT_DIRECT_CREATE_RATE", "60/hour"),
        "membership": env_str("CHAT_MEMBERSHIP_RATE", "60/min"),
        "edit": env_str("CHAT_EDIT_RATE", "30/min"),
        "reaction": env_str("CHAT_REACTION_RATE", "60/min"),
    },
}
LOGIN_FAILURES_PER_EMAIL = 10
# Requests that hash a password (login, register, change_password, the admin's login) at
# once per process; the excess answers 503 with Retry-After (a burst cannot starve the rest).
CHAT_PASSWORD_CHECKS_MAX = env_int("CHAT_PASSWORD_CHECKS_MAX", 4)
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
# Messages a user may store per window (fixed 10 s windows counted exactly in the database).
CHAT_MESSAGE_RATE = env_int("CHAT_MESSAGE_RATE", 10)
CHAT_MESSAGE_RATE_WINDOW_S = 10

SPECTACULAR_SETTINGS = {
    "TITLE": "Chat API",
    "DESCRIPTION": "The chat's public HTTP API (see docs/protocol.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# ---- live chat --------------------------------------------------------------
CHAT_MAX_FRAME_BYTES = 64 * 1024
CHAT_IDLE_TIMEOUT_S = env_int("CHAT_IDLE_TIMEOUT", 75)
CHAT_SOCKET_BACKLOG_BYTES = 1024 * 1024
# Per replica: a handshake over the per-IP cap is refused (403); an `auth` over the
# per-user cap is answered with an error and the socket stays a guest.
CHAT_MAX_SOCKETS_PER_IP = env_int("CHAT_MAX_SOCKETS_PER_IP", 500)
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 20)
CHAT_PRESENCE_TTL_S = env_int("CHAT_PRESENCE_TTL", 15)
CHAT_TAIL_POLL_S = 2.0
# Typing frames are dropped in rooms with more local viewers than this (docs/operations.md).
CHAT_TYPING_MAX_VIEWERS = env_int("CHAT_TYPING_MAX_VIEWERS", 100)
# A search statement that runs longer is cancelled (503): a very common word cannot stall the database.
CHAT_SEARCH_TIMEOUT_MS = env_int("CHAT_SEARCH_TIMEOUT_MS", 3000)
# The room stream keeps at least this many events per room, and every event this recent.
CHAT_EVENTS_KEEP = max(10_000, env_int("CHAT_EVENTS_KEEP", 10_000))
CHAT_EVENTS_KEEP_SECONDS = max(7 * 86400, env_int("CHAT_EVENTS_KEEP_SECONDS", 7 * 86400))
# Fault injection for the ordering tests (never set in production): drop this fraction of
# PUBLISHes, and delay the others by up to this many milliseconds.
CHAT_FAULT_PUBLISH_DROP = float(env_str("CHAT_FAULT_PUBLISH_DROP", "0") or 0)
CHAT_FAULT_PUBLISH_DELAY_MS = env_int("CHAT_FAULT_PUBLISH_DELAY_MS", 0)
# ... and move this replica's clock by this many milliseconds (replicas whose clocks disagree).
CHAT_FAULT_CLOCK_SKEW_MS = env_int("CHAT_FAULT_CLOCK_SKEW_MS", 0)

# ---- HTTP security ------------------------------------------------------------
USE_X_FORWARDED_HOST = False
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# TLS ends at the proxy: redirecting is the proxy's job unless asked for (CONTRACT "Operations").
SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]
# User.email is unique case-insensitively (a UniqueConstraint on Lower(email)), which auth.E003 cannot see.
SILENCED_SYSTEM_CHECKS.append("auth.E003")
SECURE_HSTS_SECONDS = 0 if EMBEDDED else env_int("DJANGO_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not EMBEDDED
# Preloading is hard to undo, so it is the operator's explicit choice (security.W021 says so).
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("DJANGO_COOKIE_SECURE", not EMBEDDED)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
if not CSRF_TRUSTED_ORIGINS and not EMBEDDED:
    CSRF_TRUSTED_ORIGINS = [f"https://{h}" for h in ALLOWED_HOSTS if h != "*"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "chatapp.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain" if DEBUG else "json"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
