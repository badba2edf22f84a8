"""System checks that refuse dangerous production combinations."""

from django.conf import settings
from django.core.checks import Error, register


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
