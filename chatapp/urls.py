from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from accounts.apis import ChangePasswordApi, LoginApi, LogoutApi, RefreshApi, RegisterApi
from history.apis import MessageListApi
from livechat import apis as room_apis

from . import admin_login, health  # noqa: F401  (admin_login throttles the admin's sign-in)

urlpatterns = [
    path("", TemplateView.as_view(template_name="chat.html"), name="chat"),
    path("api/register", RegisterApi.as_view()),
    path("api/login", LoginApi.as_view()),
    path("api/refresh_credentials", RefreshApi.as_view()),
    path("api/logout", LogoutApi.as_view()),
    path("api/change_password", ChangePasswordApi.as_view()),
    path("api/messages", MessageListApi.as_view()),
    path("api/rooms", room_apis.RoomListApi.as_view()),
    path("api/rooms/<int:room_id>", room_apis.RoomDetailApi.as_view()),
    path("api/rooms/<int:room_id>/join", room_apis.RoomJoinApi.as_view()),
    path("api/rooms/<int:room_id>/leave", room_apis.RoomLeaveApi.as_view()),
    path("api/rooms/<int:room_id>/members", room_apis.RoomMembersApi.as_view()),
    path("api/rooms/<int:room_id>/members/<int:user_id>", room_apis.RoomMemberApi.as_view()),
    path("api/rooms/<int:room_id>/messages", room_apis.RoomMessagesApi.as_view()),
    path("api/rooms/<int:room_id>/events", room_apis.RoomEventsApi.as_view()),
    path("api/rooms/<int:room_id>/read", room_apis.RoomReadApi.as_view()),
    path("api/direct", room_apis.DirectApi.as_view()),
    path("api/messages/<int:message_id>", room_apis.MessageApi.as_view()),
    path("api/messages/<int:message_id>/reactions/<path:emoji>", room_apis.ReactionApi.as_view()),
    path("api/search", room_apis.SearchApi.as_view()),
    path("api/users", room_apis.UserSearchApi.as_view()),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
    path("admin/", admin.site.urls),
]
