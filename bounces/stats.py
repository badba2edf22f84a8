"""Per-server statistics counters (sent, delivered, bounced by type, spam).

Kept current as events happen so reads stay cheap at any archive size. The
bounces issue fills this in.
"""

from __future__ import annotations

from datetime import date


def stats_record(
    *, server_id: int, message_stream: str, tag: str, day: date, counts: dict[str, int]
) -> None:
    """Add ``counts`` (e.g. ``{"Sent": 3}``) to the day's counters. Call inside the
    transaction that records the event, so counters and events agree."""
    return None
