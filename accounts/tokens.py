"""Access tokens (simplejwt, HS256, 15 minutes) and refresh-token secrets.

Access tokens are stateless JWTs checked by every replica with the shared key.
Refresh tokens are opaque random secrets; the database keeps only their SHA-256
(see accounts.services for rotation, grace and reuse detection).
"""

import hashlib
import secrets
from dataclasses import dataclass

from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from .models import User

REFRESH_SECRET_BYTES = 32
# A refresh secret is token_urlsafe(32): 43 characters. Anything far off is garbage.
REFRESH_SECRET_MAX_LEN = 100


def access_token_issue(*, user: User) -> str:
    token = AccessToken.for_user(user)
    token["user_id"] = user.id  # an int, like User.id (simplejwt writes a string)
    token["name"] = user.name
    token["email"] = user.email
    return str(token)


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    name: str
    email: str
    exp: int


class AccessTokenExpired(Exception):
    pass


class AccessTokenInvalid(Exception):
    pass


def access_token_verify(raw: str) -> AccessClaims:
    """Checks signature, algorithm (HS256 only), type and expiry; no database access."""
    if not isinstance(raw, str) or not raw or len(raw) > 8192:
        raise AccessTokenInvalid()
    try:
        token = AccessToken(raw)
        return AccessClaims(
            user_id=int(token["user_id"]), name=str(token["name"]), email=str(token["email"]), exp=int(token["exp"])
        )
    except ExpiredTokenError:
        raise AccessTokenExpired() from None
    except (TokenError, KeyError, TypeError, ValueError):
        raise AccessTokenInvalid() from None


def refresh_secret_new() -> str:
    return secrets.token_urlsafe(REFRESH_SECRET_BYTES)


def refresh_secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
