from __future__ import annotations

import pytest

import webhooks.services


@pytest.fixture
def emitted(monkeypatch):
    """Webhook calls made by the bounce services, recorded on their way to the
    real ``webhook_emit`` (which is another module's; we check the contract)."""
    calls: list[dict] = []
    real = webhooks.services.webhook_emit

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(webhooks.services, "webhook_emit", spy)
    return calls
