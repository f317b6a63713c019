from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from accounts.apis import ChangePasswordApi, LoginApi, LogoutApi, RefreshApi, RegisterApi
from history.apis import MessageListApi

from . import health

urlpatterns = [
    path("", TemplateView.as_view(template_name="chat.html"), name="chat"),
    path("api/register", RegisterApi.as_view()),
    path("api/login", LoginApi.as_view()),
    path("api/refresh_credentials", RefreshApi.as_view()),
    path("api/logout", LogoutApi.as_view()),
    path("api/change_password", ChangePasswordApi.as_view()),
    path("api/messages", MessageListApi.as_view()),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics),
    path("admin/", admin.site.urls),
]
