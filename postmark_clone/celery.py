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
    # Every 10 minutes, forget messages older than their server's retention
    # period (metadata, recipients, events and raw MIME), and delete the raw MIME
    # of content-free servers' messages once delivery has finished. Each run is
    # time-boxed and resumes where the previous one stopped.
    "purge-archive": {
        "task": "messages.tasks.purge_archive",
        "schedule": 600.0,
    },
}
