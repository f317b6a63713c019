"""simplejwt's authentication, refusing (401) a token whose claims have the wrong types
(an `exp` string made simplejwt raise TypeError: a 500)."""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken


class AccessTokenAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token):
        try:
            return super().get_validated_token(raw_token)
        except (TypeError, ValueError, OverflowError):
            raise InvalidToken({"detail": "Given token not valid for any token type"}) from None
