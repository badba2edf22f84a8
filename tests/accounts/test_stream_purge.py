"""``streams_purge_expired``: archived streams go away at their purge date."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import MessageStream
from accounts.services import stream_create, streams_purge_expired
from bounces.models import Suppression
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


def archived(tenant, stream_id: str, days_ago: float) -> MessageStream:
    stream = stream_create(
        server=tenant.server,
        stream_id=stream_id,
        name=stream_id,
        stream_type="Broadcasts",
    )
    stream.archived_at = timezone.now() - dt.timedelta(days=days_ago)
    stream.save()
    Suppression.objects.create(
        server=tenant.server,
        message_stream=stream_id,
        email="gone@example.org",
        reason="ManualSuppression",
        origin="Customer",
    )
    Webhook.objects.create(
        server=tenant.server, message_stream=stream_id, url="https://hooks.example.org"
    )
    return stream


def test_streams_past_their_purge_date_are_deleted_with_their_lists(
    tenant, other_tenant
):
    archived(tenant, "expired", days_ago=46)
    archived(tenant, "recent", days_ago=10)
    # Another server's stream of the same ID is not archived: untouched.
    stream_create(
        server=other_tenant.server,
        stream_id="expired",
        name="expired",
        stream_type="Broadcasts",
    )
    Suppression.objects.create(
        server=other_tenant.server,
        message_stream="expired",
        email="kept@example.org",
        reason="ManualSuppression",
        origin="Customer",
    )

    assert streams_purge_expired() == 1
    assert streams_purge_expired() == 0  # idempotent

    remaining = set(
        MessageStream.objects.filter(server=tenant.server).values_list(
            "stream_id", flat=True
        )
    )
    assert remaining == {"outbound", "inbound", "broadcast", "recent"}
    assert not Suppression.objects.filter(
        server=tenant.server, message_stream="expired"
    ).exists()
    assert not Webhook.objects.filter(
        server=tenant.server, message_stream="expired"
    ).exists()
    assert Suppression.objects.filter(server=tenant.server, message_stream="recent")
    assert Suppression.objects.filter(server=other_tenant.server).count() == 1
    # The ID is free again.
    stream_create(
        server=tenant.server,
        stream_id="expired",
        name="again",
        stream_type="Broadcasts",
    )
