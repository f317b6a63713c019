"""The OpenAPI description of our authentication class (simplejwt's, with a stricter check)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.AccessTokenAuthentication"
