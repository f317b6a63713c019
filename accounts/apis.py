"""The account endpoints of the contract: one small API class per operation."""

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from chatapp import metrics
from chatapp.origin import origin_allowed

from . import services
from .selectors import user_public
from .throttles import LoginIpThrottle, RefreshIpThrottle, RegisterEmailThrottle, RegisterIpThrottle

REFRESH_COOKIE = "refresh"
REFRESH_COOKIE_PATH = "/api/"
# Not a secret: tells the page's script that a refresh cookie (HttpOnly, unreadable to it)
# probably exists, so a guest's page load does not ask /api/refresh_credentials for nothing.
HINT_COOKIE = "signed_in"
# Long enough for any real password, short enough that hashing it costs nothing odd.
PASSWORD_MAX_LENGTH = 4096
BAD_CREDENTIALS = "No active account found with the given credentials"
BAD_REFRESH = "Refresh token is missing, invalid, expired or already used."


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField(required=False)


class SessionSerializer(serializers.Serializer):
    access = serializers.CharField()
    user = UserSerializer()


def _session_response(request: HttpRequest, session: services.IssuedSession, code=status.HTTP_200_OK) -> Response:
    response = Response({"access": session.access, "user": user_public(user=session.user, with_email=True)}, code)
    response["Authorization"] = f"Bearer {session.access}"
    response.set_cookie(
        REFRESH_COOKIE,
        session.refresh,
        max_age=int(settings.REFRESH_TOKEN_LIFETIME.total_seconds()),
        path=REFRESH_COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Strict",
    )
    response.set_cookie(
        HINT_COOKIE,
        "1",
        max_age=int(settings.REFRESH_TOKEN_LIFETIME.total_seconds()),
        secure=request.is_secure(),
        samesite="Strict",
    )
    return response


def _clear_cookie(response: Response) -> Response:
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Strict")
    response.delete_cookie(HINT_COOKIE, samesite="Strict")
    return response


def _check_cookie_origin(request) -> None:
    """The cookie endpoints refuse cross-site requests outright (SameSite=Strict is the
    first line; this is the second, for browsers that ignore it)."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None and not origin_allowed(origin):
        raise PermissionDenied("Cross-site request refused.")


class RegisterApi(APIView):
    throttle_classes = [RegisterIpThrottle, RegisterEmailThrottle]

    class RegisterInputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        name = serializers.CharField(max_length=50, trim_whitespace=True)
        password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)

        def validate(self, attrs):
            from accounts.models import User

            try:
                password_validation.validate_password(
                    attrs["password"], User(email=attrs["email"], name=attrs["name"])
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
            return attrs

    @extend_schema(request=RegisterInputSerializer, responses={201: UserSerializer})
    def post(self, request):
        data = self.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_register(**data.validated_data)
        except services.EmailTaken:
            return Response({"email": ["A user with this email already exists."]}, status.HTTP_400_BAD_REQUEST)
        return Response(user_public(user=user, with_email=True), status.HTTP_201_CREATED)


class LoginApi(APIView):
    throttle_classes = [LoginIpThrottle]

    class LoginInputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)
        name = serializers.CharField(required=False, allow_blank=True)  # accepted and ignored

    @extend_schema(request=LoginInputSerializer, responses={200: SessionSerializer})
    def post(self, request):
        data = self.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            session = services.user_login(email=data.validated_data["email"], password=data.validated_data["password"])
        except services.LoginThrottled as exc:
            metrics.LOGINS.labels(outcome="throttled").inc()
            raise Throttled(wait=exc.retry_after) from None
        except services.LoginFailed:
            metrics.LOGINS.labels(outcome="failed").inc()
            return Response({"detail": BAD_CREDENTIALS}, status.HTTP_401_UNAUTHORIZED)
        metrics.LOGINS.labels(outcome="ok").inc()
        return _session_response(request, session)


class RefreshApi(APIView):
    throttle_classes = [RefreshIpThrottle]
    authentication_classes = []

    @extend_schema(request=None, responses={200: SessionSerializer})
    def post(self, request):
        _check_cookie_origin(request)
        try:
            session = services.refresh_rotate(secret=request.COOKIES.get(REFRESH_COOKIE, ""))
        except services.RefreshRejected:
            metrics.REFRESHES.labels(outcome="rejected").inc()
            return _clear_cookie(Response({"detail": BAD_REFRESH}, status.HTTP_401_UNAUTHORIZED))
        metrics.REFRESHES.labels(outcome="ok").inc()
        return _session_response(request, session)

    @extend_schema(request=None, responses={200: SessionSerializer})
    def get(self, request):
        return self.post(request)


class LogoutApi(APIView):
    authentication_classes = []

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        _check_cookie_origin(request)
        services.refresh_revoke(secret=request.COOKIES.get(REFRESH_COOKIE, ""))
        return _clear_cookie(Response(status=status.HTTP_204_NO_CONTENT))


class ChangePasswordApi(APIView):
    """Throttled like login: it answers whether a password is right."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [LoginIpThrottle]

    class ChangePasswordInputSerializer(serializers.Serializer):
        old_password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)
        new_password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)

    @extend_schema(request=ChangePasswordInputSerializer, responses={200: SessionSerializer})
    def post(self, request):
        data = self.ChangePasswordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user
        if not user.check_password(data.validated_data["old_password"]):
            return Response({"old_password": ["The current password is not correct."]}, status.HTTP_400_BAD_REQUEST)
        try:
            password_validation.validate_password(data.validated_data["new_password"], user)
        except DjangoValidationError as exc:
            return Response({"new_password": list(exc.messages)}, status.HTTP_400_BAD_REQUEST)
        session = services.password_change(user=user, new_password=data.validated_data["new_password"])
        return _session_response(request, session)


