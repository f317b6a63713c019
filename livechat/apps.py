from django.apps import AppConfig


class LivechatConfig(AppConfig):
    name = "livechat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import services as account_services

        from . import events

        account_services.deactivation_hooks.append(events.user_deactivated)
