"""Reads the web UI needs that no domain app offers yet. Every function takes the
server (tenant) and filters by it.

``daily_stats`` computes counts from the message, recipient and bounce tables;
when the statistics issue lands its per-day counter table, only that function
changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account, Membership, MessageStream, Server, ServerToken
from bounces.models import Bounce, BounceType, Suppression
from messages.models import Message, Recipient


@dataclass(frozen=True)
class DayStat:
    day: date
    sent: int
    delivered: int
    bounced: int
    spam: int


def daily_stats(
    *, server: Server, days: int = 30, today: date | None = None
) -> list[DayStat]:
    """Sends, deliveries, bounces and spam complaints per UTC day for the last
    ``days`` days (oldest first, zero-filled). Four grouped queries."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)

    def per_day(qs: QuerySet, field: str) -> dict[date, int]:
        rows = (
            qs.filter(**{f"{field}__gte": start})
            .annotate(day=TruncDate(field))
            .values("day")
            .annotate(n=Count("id"))
        )
        return {row["day"]: row["n"] for row in rows}

    sent = per_day(Message.objects.filter(server=server), "received_at")
    delivered = per_day(
        Recipient.objects.filter(
            message__server=server, status=Recipient.Status.DELIVERED
        ),
        "finished_at",
    )
    bounces = Bounce.objects.filter(server=server)
    spam = per_day(bounces.filter(type=BounceType.SPAM_COMPLAINT), "bounced_at")
    bounced = per_day(
        bounces.exclude(type=BounceType.SPAM_COMPLAINT).exclude(
            type=BounceType.TRANSIENT
        ),
        "bounced_at",
    )
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        result.append(
            DayStat(
                day=day,
                sent=sent.get(day, 0),
                delivered=delivered.get(day, 0),
                bounced=bounced.get(day, 0),
                spam=spam.get(day, 0),
            )
        )
    return result


def bounce_type_counts(*, server: Server) -> list[tuple[str, str, int]]:
    """``(type, label, count)`` for each bounce type the server has, most first."""
    labels = dict(BounceType.choices)
    rows = (
        Bounce.objects.filter(server=server)
        .values("type")
        .annotate(n=Count("id"))
        .order_by("-n", "type")
    )
    return [
        (row["type"], labels.get(row["type"], row["type"]), row["n"]) for row in rows
    ]


def suppression_search(
    *, server: Server, message_stream: str, email: str, count: int, offset: int
) -> tuple[int, list[Suppression]]:
    qs = Suppression.objects.filter(server=server, message_stream=message_stream)
    if email:
        qs = qs.filter(email__icontains=email.strip().lower())
    total = qs.count()
    return total, list(qs.order_by("-created_at", "-id")[offset : offset + count])


def suppression_export(*, server: Server, message_stream: str):
    """Every suppression of a stream, oldest first, streamed in chunks."""
    return (
        Suppression.objects.filter(server=server, message_stream=message_stream)
        .order_by("created_at", "id")
        .values_list("email", "reason", "origin", "created_at")
        .iterator(chunk_size=2000)
    )


def outbound_streams(*, server: Server) -> list[MessageStream]:
    """Streams that send (suppressions and filters apply to these)."""
    return list(
        MessageStream.objects.filter(server=server, archived_at__isnull=True)
        .exclude(stream_type=MessageStream.Type.INBOUND)
        .order_by("id")
    )


def user_accounts(*, user) -> list[tuple[Membership, list[Server]]]:
    """The user's memberships (by account name), each with its servers. Two
    queries whatever the number of accounts."""
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("account")
        .order_by("account__name")
    )
    by_account: dict[int, list[Server]] = {}
    if memberships:
        servers = Server.objects.filter(
            account__in=[m.account_id for m in memberships]
        ).order_by("name")
        for server in servers:
            by_account.setdefault(server.account_id, []).append(server)
    return [(m, by_account.get(m.account_id, [])) for m in memberships]


def account_members(*, account: Account) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("user__email")
    )


def message_recipients(*, message: Message) -> list[Recipient]:
    return list(Recipient.objects.filter(message=message).order_by("kind", "id"))


def server_token_get(*, server: Server, token_id: int) -> ServerToken | None:
    """One of the server's tokens (revoked ones included); ``None`` otherwise."""
    return ServerToken.objects.filter(server=server, id=token_id).first()
