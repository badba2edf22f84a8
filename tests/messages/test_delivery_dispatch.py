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
    from django.core.cache import cache

    from messages.dispatch import WAITING_KEY

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    cache.delete(WAITING_KEY)
    yield client
    client.delete("celery")
    cache.delete(WAITING_KEY)


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
    settings.REDIS_URL = ""  # no cache shared with workers: no waiting-task flag
    message_send(server=tenant.server, email=email(tenant))
    message_send(server=tenant.server, email=email(tenant))
    from messages.models import Message

    ids = sorted(Message.objects.values_list("id", flat=True))
    assert sorted(queued_id_lists(broker)) == [[ids[0]], [ids[1]]]


def test_no_second_task_is_queued_while_one_waits_for_a_worker(
    tenant, broker, settings
):
    from messages.dispatch import task_started
    from messages.models import Message

    settings.DELIVERY_DISPATCH_WINDOW_MS = 0
    message_send(server=tenant.server, email=email(tenant, "a@example.org"))
    message_send(server=tenant.server, email=email(tenant, "b@example.org"))
    first, second = Message.objects.order_by("id").values_list("id", flat=True)
    # The waiting task claims every due recipient, so "b" needs no task of its own.
    assert queued_id_lists(broker) == [[first]]
    task_started()  # a worker picked the task up: the next commit publishes
    message_send(server=tenant.server, email=email(tenant, "c@example.org"))
    third = Message.objects.get(recipients_text="c@example.org").id
    assert sorted(queued_id_lists(broker)) == [[first], [third]]


def test_the_waiting_task_delivers_the_messages_it_does_not_name(
    tenant, broker, settings, sink, pool_to
):
    from messages.delivery import delivery_run
    from messages.models import Recipient

    pool_to(sink.port)
    settings.DELIVERY_DISPATCH_WINDOW_MS = 0
    for n in range(3):
        message_send(server=tenant.server, email=email(tenant, f"u{n}@example.org"))
    [[only]] = queued_id_lists(broker)
    delivery_run(message_ids=[only])  # what the task runs
    statuses = set(Recipient.objects.values_list("status", flat=True))
    assert statuses == {"delivered"}


def wait_for_tasks(client, count: int, timeout: float) -> list[list[int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = queued_id_lists(client)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    return queued_id_lists(client)


def test_an_idle_process_publishes_at_once_and_a_busy_one_once_per_window(
    tenant, broker, settings
):
    from messages.models import Message

    settings.DELIVERY_DISPATCH_WINDOW_MS = 1500
    started = time.monotonic()
    message_send(server=tenant.server, email=email(tenant, "u0@example.org"))
    first = Message.objects.get(recipients_text="u0@example.org").id
    # Nothing was published recently: the first commit goes out at once.
    assert wait_for_tasks(broker, 1, timeout=1.0) == [[first]]
    assert time.monotonic() - started < 1.0
    from messages.dispatch import task_started

    task_started()  # a worker took it; later commits may publish again
    for n in (1, 2):
        message_send(server=tenant.server, email=email(tenant, f"u{n}@example.org"))
    later = sorted(
        Message.objects.filter(
            recipients_text__in=["u1@example.org", "u2@example.org"]
        ).values_list("id", flat=True)
    )
    # Commits inside the running window wait for its end and share one task.
    time.sleep(0.3)
    assert queued_id_lists(broker) == [[first]]
    tasks = wait_for_tasks(broker, 2, timeout=4.0)
    assert sorted(sorted(ids) for ids in tasks) == sorted([[first], later])
