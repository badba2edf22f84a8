"""Time the web UI's list pages against a large archive.

    DATABASE_URL=postgres://... python bench/web_pages.py --messages 100000 --runs 5

Creates a throw-away account with N messages (one recipient each, bulk inserted,
no archived content) and N/20 bounces, signs a user in with Django's test client,
then times each page (median of --runs, after one warm-up) and counts its SQL
queries. Deletes the account afterwards. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import account_create, server_create, user_create  # noqa: E402
from bounces.models import Bounce  # noqa: E402
from messages.models import Message, Recipient  # noqa: E402


def populate(server, n: int) -> None:
    now = timezone.now()
    batch = 5000
    for start in range(0, n, batch):
        rows = [
            Message(
                server=server,
                from_header="Bench <bench@bench.example.com>",
                from_email="bench@bench.example.com",
                to_header=f"user{i}@example.org",
                recipients_text=f"user{i}@example.org",
                subject=f"Receipt {i}",
                tag="receipt" if i % 3 else "welcome",
                status=Message.Status.SENT,
                received_at=now - timedelta(minutes=i),
            )
            for i in range(start, min(n, start + batch))
        ]
        Message.objects.bulk_create(rows, batch_size=batch)
        Recipient.objects.bulk_create(
            [
                Recipient(
                    message=m,
                    email=m.to_header,
                    status=Recipient.Status.DELIVERED,
                    next_attempt_at=m.received_at,
                    finished_at=m.received_at,
                )
                for m in rows
            ],
            batch_size=batch,
        )
        Bounce.objects.bulk_create(
            [
                Bounce(
                    server=server,
                    message=m,
                    message_uuid=m.message_id,
                    type="HardBounce",
                    type_code=1,
                    email=m.to_header,
                    inactive=True,
                    bounced_at=m.received_at,
                )
                for m in rows[::20]
            ],
            batch_size=batch,
        )


def measure(client: Client, url: str, runs: int) -> dict:
    client.get(url)  # warm-up
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return {"median_ms": round(statistics.median(times), 1), "queries": len(queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3 (medians)")

    account = account_create(name=f"bench-{uuid.uuid4().hex[:8]}").obj
    try:
        server = server_create(account=account, name="bench").obj
        user = user_create(
            email=f"bench-{uuid.uuid4().hex[:8]}@example.org",
            account=account,
            password=uuid.uuid4().hex,
        ).user
        started = time.perf_counter()
        populate(server, args.messages)
        seeded = time.perf_counter() - started
        client = Client()
        client.force_login(user)
        base = f"/ui/servers/{server.id}"
        pages = {
            "activity": f"{base}/activity",
            "activity_recipient": f"{base}/activity?recipient=user4242@",
            "activity_tag_page_20": f"{base}/activity?tag=welcome&page=20",
            "bounces": f"{base}/bounces",
            "statistics": f"{base}/statistics",
        }
        result = {
            "messages": args.messages,
            "runs": args.runs,
            "seed_seconds": round(seeded, 1),
            "pages": {
                name: measure(client, url, args.runs) for name, url in pages.items()
            },
        }
    finally:
        account.delete()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
