from django.apps import AppConfig


class TemplatingConfig(AppConfig):
    # Not "templates": the top-level templates/ folder holds the web UI's
    # Django templates.
    name = "templating"
    verbose_name = "Email templates"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # A saved or deleted template empties this process's template cache
        # (templating.selectors); other processes see it within
        # LOOKUP_CACHE_SECONDS.
        post_save.connect(_clear, sender="templating.Template", dispatch_uid="tpl-s")
        post_delete.connect(_clear, sender="templating.Template", dispatch_uid="tpl-d")


def _clear(**_kwargs: object) -> None:
    from .selectors import template_cache_clear

    template_cache_clear()
