# The webhook receiver (a real HTTP endpoint) and its settings, for the
# end-to-end template send test.
from tests.webhooks.conftest import receiver, webhook_settings  # noqa: F401
