from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Tenant webhooks: configuration, durable outbox, signed delivery."""

    name = "webhooks"
