from django.apps import AppConfig


class PostmarkCloneConfig(AppConfig):
    name = "postmark_clone"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)
