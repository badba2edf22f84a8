"""System checks that refuse dangerous production combinations."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register(deploy=True)
def check_secret_key(app_configs, **kwargs):
    errors = []
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        errors.append(
            Error(
                "SECRET_KEY is the development default.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value.",
                id="postmark_clone.E001",
            )
        )
    return errors


@register()
def check_debug_with_dev_key(app_configs, **kwargs):
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Warning(
                "DEBUG is off but SECRET_KEY is the development default.",
                hint="Fine for `make run` on 127.0.0.1; set SECRET_KEY in production.",
                id="postmark_clone.W001",
            )
        ]
    return []
