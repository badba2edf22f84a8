from django.apps import AppConfig


class InboundConfig(AppConfig):
    """Inbound mail: the MX side of Postmark's inbound streams and hooks."""

    name = "inbound"
