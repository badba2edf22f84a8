from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Open and click tracking"
    default_auto_field = "django.db.models.BigAutoField"
