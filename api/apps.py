from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Any change to a row the send path caches empties this process's
        # lookup caches (postmark_clone.lookup_cache).
        for model in ("Account", "Server", "ServerToken", "MessageStream", "Domain"):
            sender = f"accounts.{model}"
            post_save.connect(_clear, sender=sender, dispatch_uid=f"lookup-{model}-s")
            post_delete.connect(_clear, sender=sender, dispatch_uid=f"lookup-{model}-d")


def _clear(**_kwargs: object) -> None:
    from postmark_clone.lookup_cache import clear_all

    clear_all()
