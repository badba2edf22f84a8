from .delivery_helpers import clean_health, pool_to, sink  # noqa: F401
