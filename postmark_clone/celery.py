"""Celery application. Periodic jobs are listed once, in ``beat_schedule`` below."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")

app = Celery("postmark_clone")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["accounts", "messages", "bounces"])

# Every periodic job, in plain English. PostgreSQL is the source of truth; these
# sweepers make sure nothing waits forever if a broker message is lost.
app.conf.beat_schedule = {
    # Every DELIVERY_SWEEP_SECONDS (15 s): put recipients whose worker died
    # mid-delivery back in the queue, and re-send delivery tasks for mail that
    # is due (retries after a 4xx, or messages whose task the broker lost).
    "delivery-sweep": {
        "task": "messages.tasks.delivery_sweep_task",
        "schedule": float(os.environ.get("DELIVERY_SWEEP_SECONDS", "15") or 15),
    },
}
