"""Delivery tasks reach the broker (real Redis) after commit, coalesced per window."""

from __future__ import annotations

import base64
import json
import time

import pytest
import redis
from django.conf import settings

from messages.email import OutboundEmail
from messages.services import message_send

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "messages.tasks.deliver_messages"


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    yield client
    client.delete("celery")


def queued_id_lists(client) -> list[list[int]]:
    result = []
    for raw in client.lrange("celery", 0, -1):
        envelope = json.loads(raw)
        if envelope["headers"]["task"] != TASK:
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        result.append(args[0])
    return result


def email(tenant, to="alice@example.org") -> OutboundEmail:
    return OutboundEmail(from_header=tenant.sender, to=to, text_body="hi")


def test_each_commit_publishes_a_task_when_the_window_is_zero(tenant, broker, settings):
    settings.DELIVERY_DISPATCH_WINDOW_MS = 0
    message_send(server=tenant.server, email=email(tenant))
    message_send(server=tenant.server, email=email(tenant))
    from messages.models import Message

    ids = sorted(Message.objects.values_list("id", flat=True))
    assert sorted(queued_id_lists(broker)) == [[ids[0]], [ids[1]]]


def test_commits_within_the_window_share_one_task(tenant, broker, settings):
    settings.DELIVERY_DISPATCH_WINDOW_MS = 1500
    for n in range(3):
        message_send(server=tenant.server, email=email(tenant, f"u{n}@example.org"))
    from messages.models import Message

    ids = sorted(Message.objects.values_list("id", flat=True))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not queued_id_lists(broker):
        time.sleep(0.05)
    time.sleep(0.1)
    assert [sorted(x) for x in queued_id_lists(broker)] == [ids]
