"""Writes for open and click tracking: turn raw endpoint hits into records,
message events, statistics counters and webhooks, in batches."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from accounts.models import Server
from bounces.stats import stats_day, stats_record
from messages.models import Message, MessageEvent, Recipient
from webhooks.models import Webhook, default_triggers
from webhooks.selectors import webhook_streams
from webhooks.services import webhook_emit

from . import tokens
from .models import Click, Open
from .payloads import payload_click, payload_open
from .useragent import classify

logger = logging.getLogger("tracking")
# DailyStat.name is 40 characters.
_NAME_MAX = 40
# Legacy per-server hook URLs apply to the default transactional stream.
LEGACY_STREAM = "outbound"


@dataclass(frozen=True)
class Hit:
    """One request to a tracking endpoint, as the endpoint saw it."""

    token: tokens.Token
    at: datetime
    ip: str
    user_agent: str


def counter_name(prefix: str, value: str) -> str:
    return f"{prefix}{value}"[:_NAME_MAX]


def _fill(event: Open | Click, hit: Hit, row: Recipient) -> None:
    agent = classify(hit.user_agent)
    message = row.message
    event.server_id = message.server_id
    event.message = message
    event.message_stream = message.message_stream
    event.tag = message.tag
    event.recipient = row.email
    event.received_at = hit.at
    event.user_agent = hit.user_agent[:2000]
    event.client_name = agent.client_name[:100]
    event.client_company = agent.client_company[:100]
    event.client_family = agent.client_family[:100]
    event.os_name = agent.os_name[:100]
    event.os_company = agent.os_company[:100]
    event.os_family = agent.os_family[:100]
    event.platform = agent.platform
    event.ip = _ip(hit.ip)


def _ip(value: str) -> str | None:
    # REMOTE_ADDR may be empty or not an address (unix sockets); PostgreSQL's
    # inet column would refuse the whole batch.
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def legacy_hooks_sync(*, server: Server) -> None:
    """Mirror the server's legacy ``OpenHookUrl``/``ClickHookUrl`` as webhooks of
    the ``outbound`` stream (Postmark shows them the same way), so opens and
    clicks reach them through the webhook outbox. Creates a webhook for a URL
    no outbound webhook has yet; turns the trigger on (and, for opens, applies
    ``PostFirstOpenOnly``) on the one that has it. Safe to call twice."""
    for url, trigger in (
        (server.open_hook_url, "Open"),
        (server.click_hook_url, "Click"),
    ):
        if not url:
            continue
        hook = Webhook.objects.filter(
            server=server, message_stream=LEGACY_STREAM, url=url
        ).first()
        if hook is None:
            hook = Webhook(server=server, message_stream=LEGACY_STREAM, url=url)
            hook.triggers = default_triggers()
        wanted = dict(hook.triggers.get(trigger, {}))
        wanted["Enabled"] = True
        if trigger == "Open":
            wanted["PostFirstOpenOnly"] = server.post_first_open_only
        if hook.pk is None or hook.triggers.get(trigger) != wanted:
            hook.triggers = {**hook.triggers, trigger: wanted}
            hook.save()


def tracking_hits_record(*, hits: list[Hit]) -> int:
    """Record a batch of endpoint hits; returns how many were attributed.

    Per open: the recipient's first open becomes an ``Open`` row and an
    ``Opened`` message event; every open counts in ``Opens`` and goes to
    ``Open`` webhooks (only first opens to those with ``PostFirstOpenOnly``).
    Per click: the first click on a link by a recipient becomes a ``Click`` row,
    a ``LinkClicked`` event and a ``Click`` webhook; every click counts in
    ``Clicks``. Hits for recipients that no longer exist (retention) are
    dropped. One transaction. Replaying a batch adds to the counters again but
    creates no duplicate rows.
    """
    ids = {hit.token.recipient_id for hit in hits}
    rows = {
        r.id: r
        for r in Recipient.objects.filter(id__in=ids).select_related("message__server")
    }
    hits = [h for h in hits if h.token.recipient_id in rows]
    if not hits:
        return 0
    message_ids = {rows[h.token.recipient_id].message_id for h in hits}
    servers = {rows[h.token.recipient_id].message.server for h in hits}
    for server in servers:
        if server.open_hook_url or server.click_hook_url:
            legacy_hooks_sync(server=server)
    hooked = webhook_streams(server_ids={s.id for s in servers})

    with transaction.atomic():
        seen_opens = set(
            Open.objects.filter(message_id__in=message_ids).values_list(
                "message_id", "recipient"
            )
        )
        seen_clicks = set(
            Click.objects.filter(message_id__in=message_ids).values_list(
                "message_id", "recipient", "link_hash"
            )
        )
        new_opens: list[Open] = []
        new_clicks: list[Click] = []
        events: list[MessageEvent] = []
        hooks: list[tuple[Message, str, dict]] = []
        counts: dict[tuple[int, str, str, object], Counter[str]] = {}

        for hit in hits:
            row = rows[hit.token.recipient_id]
            message = row.message
            key = (message.server_id, message.message_stream, message.tag)
            day_key = (*key, stats_day(hit.at))
            count = counts.setdefault(day_key, Counter())
            listened = (message.server_id, message.message_stream) in hooked
            if hit.token.kind == tokens.KIND_OPEN:
                event = Open(read_seconds=0)
                _fill(event, hit, row)
                first = (message.id, row.email) not in seen_opens
                event.first_open = first
                count["Opens"] += 1
                if first:
                    seen_opens.add((message.id, row.email))
                    new_opens.append(event)
                    count["UniqueOpens"] += 1
                    count[counter_name("OpenPlatform:", event.platform)] += 1
                    if event.platform != "Unknown":
                        count["WithPlatformRecorded"] += 1
                    if event.client_name:
                        count["WithClientRecorded"] += 1
                        count[counter_name("OpenClient:", event.client_name)] += 1
                    events.append(
                        MessageEvent(
                            message=message,
                            recipient=row.email,
                            type=MessageEvent.Type.OPENED,
                            details={
                                "Summary": _open_summary(event),
                            },
                            created_at=hit.at,
                        )
                    )
                if listened:
                    hooks.append(
                        (
                            message,
                            "Open",
                            payload_open(
                                event,
                                message_uuid=str(message.message_id),
                                metadata=message.metadata,
                            ),
                        )
                    )
                continue
            url = hit.token.url
            link_hash = hashlib.sha256(url.encode()).hexdigest()
            event = Click(
                original_link=url,
                link_hash=link_hash,
                click_location=hit.token.click_location,
            )
            _fill(event, hit, row)
            count["Clicks"] += 1
            count[counter_name("ClickLocation:", event.click_location)] += 1
            count[counter_name("ClickPlatform:", event.platform)] += 1
            if event.client_family:
                count[counter_name("ClickBrowser:", event.client_family)] += 1
            if (message.id, row.email, link_hash) in seen_clicks:
                continue
            seen_clicks.add((message.id, row.email, link_hash))
            new_clicks.append(event)
            count["UniqueClicks"] += 1
            events.append(
                MessageEvent(
                    message=message,
                    recipient=row.email,
                    type=MessageEvent.Type.LINK_CLICKED,
                    details={
                        "Summary": f"Clicked {url}",
                        "Link": url,
                        "ClickLocation": event.click_location,
                    },
                    created_at=hit.at,
                )
            )
            if listened:
                hooks.append(
                    (
                        message,
                        "Click",
                        payload_click(
                            event,
                            message_uuid=str(message.message_id),
                            metadata=message.metadata,
                        ),
                    )
                )

        Open.objects.bulk_create(new_opens, ignore_conflicts=True)
        Click.objects.bulk_create(new_clicks, ignore_conflicts=True)
        MessageEvent.objects.bulk_create(events)
        # Sorted: every writer touches counter rows in one order (no deadlocks).
        for (server_id, stream, tag, day), values in sorted(
            counts.items(), key=lambda item: (item[0][3], item[0][1], item[0][2])
        ):
            stats_record(
                server_id=server_id,
                message_stream=stream,
                tag=tag,
                day=day,
                counts=dict(values),
            )
        for message, record_type, payload in hooks:
            webhook_emit(
                server=message.server,
                message_stream=message.message_stream,
                record_type=record_type,
                payload=payload,
            )
    return len(hits)


def _open_summary(event: Open) -> str:
    client = event.client_name or "an unknown client"
    where = f" on {event.os_name}" if event.os_name else ""
    return f"Opened with {client}{where} ({event.platform})"


def tracking_delivered_record(*, items: list[tuple[Message, int]]) -> None:
    """Count tracked deliveries: ``items`` are ``(message, links)`` for each
    delivered recipient copy of a message with tracking on, ``links`` the number
    of links rewritten in it. Adds ``Tracked``, ``WithOpenTracking``,
    ``WithLinkTracking`` and ``TotalTrackedLinksSent`` on the message's
    statistics day. Call inside the transaction that records the deliveries.
    Not idempotent."""
    groups: dict[tuple, Counter[str]] = {}
    for message, links in items:
        if not message.tracked:
            continue
        key = (
            stats_day(message.received_at),
            message.message_stream,
            message.tag,
            message.server_id,
        )
        count = groups.setdefault(key, Counter())
        count["Tracked"] += 1
        if message.track_opens:
            count["WithOpenTracking"] += 1
        if message.track_links != "None":
            count["WithLinkTracking"] += 1
            count["TotalTrackedLinksSent"] += links
    for (day, stream, tag, server_id), values in sorted(groups.items()):
        stats_record(
            server_id=server_id,
            message_stream=stream,
            tag=tag,
            day=day,
            counts=dict(values),
        )
