"""Celery application. Periodic jobs are listed once, in ``beat_schedule`` below."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")

app = Celery("postmark_clone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    ["accounts", "messages", "bounces", "webhooks", "tracking", "inbound"]
)

# Every periodic job, in plain English. PostgreSQL is the source of truth; these
# sweepers make sure nothing waits forever if a broker message is lost.
app.conf.beat_schedule = {
    # Every 30 s, send tenant webhook deliveries that are due: retries whose
    # backoff has passed (long delays are never parked as broker ETAs) and rows
    # whose broker message was lost.
    "webhooks-sweep": {
        "task": "webhooks.tasks.webhook_sweep",
        "schedule": 30.0,
    },
    # Every 30 s, POST inbound messages that are due to their InboundHookUrl:
    # retries whose delay has passed, claims whose worker died, lost tasks.
    "inbound-sweep": {
        "task": "inbound.tasks.inbound_sweep",
        "schedule": 30.0,
    },
    # Hourly, forget inbound messages past their server's retention period
    # (blocked ones after 10 days, as Postmark) with their raw messages.
    "inbound-purge": {
        "task": "inbound.tasks.inbound_purge_task",
        "schedule": 3600.0,
    },
    # Hourly, delete delivered and dead webhook deliveries older than
    # WEBHOOK_DELIVERY_RETENTION_DAYS so the outbox stays small.
    "webhooks-purge": {
        "task": "webhooks.tasks.webhook_purge",
        "schedule": 3600.0,
    },
    # Every 10 minutes, forget messages older than their server's retention
    # period (metadata, recipients, events and raw MIME), and delete the raw MIME
    # of content-free servers' messages once delivery has finished. Each run is
    # time-boxed and resumes where the previous one stopped.
    "purge-archive": {
        "task": "messages.tasks.purge_archive",
        "schedule": 600.0,
    },
    # Hourly, delete message streams archived more than 45 days ago (Postmark's
    # ExpectedPurgeDate) with their suppression lists and webhooks.
    "purge-archived-streams": {
        "task": "accounts.tasks.purge_archived_streams",
        "schedule": 3600.0,
    },
    # Every DELIVERY_SWEEP_SECONDS (15 s): put recipients whose worker died
    # mid-delivery back in the queue, and re-send delivery tasks for mail that
    # is due (retries after a 4xx, or messages whose task the broker lost).
    # Every 10 s, move open/click hits still waiting in the Redis buffer into
    # PostgreSQL (normally a drain task runs within a second of a hit; this
    # catches hits whose task the broker lost).
    "tracking-drain": {
        "task": "tracking.tasks.tracking_drain_sweep",
        "schedule": 10.0,
    },
    "delivery-sweep": {
        "task": "messages.tasks.delivery_sweep_task",
        "schedule": float(os.environ.get("DELIVERY_SWEEP_SECONDS", "15") or 15),
    },
}
