"""Retention: forgetting old inbound messages and their raw copies."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import Server
from messages.archive import archive_delete_many

from ..models import InboundMessage
from .common import PENDING, Status

# Postmark keeps blocked inbound messages 10 days; others follow the server's
# retention period (Server.retention_days, default 45).
BLOCKED_RETENTION_DAYS = 10


def inbound_purge(*, batch_size: int = 1000) -> int:
    """Delete inbound messages past their retention, and their raw messages.

    Per server: rows received before ``now - retention_days`` (blocked rows:
    ``min(retention_days, 10)`` days), never rows still waiting for a POST.
    Each batch deletes its archive objects first (outside any transaction; S3
    is network I/O), then its rows, so a crash leaves rows whose object is
    gone (deleted again next run), never orphaned objects. An object shared
    with a row that stays (one message to several recipients) is kept.
    Returns the number of rows deleted. Idempotent."""
    now = timezone.now()
    total = 0
    servers = Server.objects.filter(
        id__in=InboundMessage.objects.values("server_id")
    ).values_list("id", "retention_days")
    for server_id, days in servers:
        expired = Q(received_at__lt=now - timedelta(days=days)) | Q(
            status=Status.BLOCKED,
            received_at__lt=now - timedelta(days=min(days, BLOCKED_RETENTION_DAYS)),
        )
        while True:
            batch = list(
                InboundMessage.objects.filter(expired, server_id=server_id)
                .exclude(status__in=PENDING)
                .values_list("id", "raw_key")[:batch_size]
            )
            if not batch:
                break
            ids = [row_id for row_id, _key in batch]
            keys = {key for _id, key in batch if key}
            kept = set(
                InboundMessage.objects.filter(raw_key__in=keys)
                .exclude(id__in=ids)
                .values_list("raw_key", flat=True)
            )
            archive_delete_many(keys=sorted(keys - kept))
            total += InboundMessage.objects.filter(id__in=ids).delete()[0]
    return total
