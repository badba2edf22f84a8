"""Prometheus metrics for delivery (prometheus-client).

Counters and the latency histogram are updated by the worker processes; with
``PROMETHEUS_MULTIPROC_DIR`` set (the default, under ``var/``) every process
writes its values to that directory and ``GET /metrics`` sums them. Queue depth
and the age of the oldest queued recipient are computed from the database at
scrape time, so they are right whichever process serves the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ATTEMPTS = Counter(
    "pmc_delivery_attempts",
    "Delivery attempts per recipient, by outcome.",
    ["outcome"],  # delivered | transient | bounced | deferred | sandbox
    registry=None,
)
ACCEPT_TO_DELIVERED = Histogram(
    "pmc_delivery_accept_to_delivered_seconds",
    "Time from API/SMTP acceptance to the remote server's 250.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=None,
)


class QueueCollector(Collector):
    """Queue gauges straight from the database (one grouped query)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .models import Recipient

        rows = (
            Recipient.objects.filter(
                status__in=[Recipient.Status.QUEUED, Recipient.Status.SENDING]
            )
            .values("status")
            .annotate(n=Count("id"), oldest=Min("message__received_at"))
        )
        depth = GaugeMetricFamily(
            "pmc_delivery_queue_depth",
            "Recipients waiting (queued) or being delivered (sending).",
            labels=["status"],
        )
        age = GaugeMetricFamily(
            "pmc_delivery_oldest_queued_age_seconds",
            "Age of the oldest message with an unfinished recipient.",
        )
        now = timezone.now()
        counts = {"queued": 0, "sending": 0}
        oldest = None
        for row in rows:
            counts[row["status"]] = row["n"]
            if row["oldest"] and (oldest is None or row["oldest"] < oldest):
                oldest = row["oldest"]
        for status, n in counts.items():
            depth.add_metric([status], n)
        age.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
        yield depth
        yield age


def metrics_render() -> tuple[bytes, str]:
    """The exposition text for ``GET /metrics`` and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(ATTEMPTS)
        registry.register(ACCEPT_TO_DELIVERED)
    registry.register(QueueCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
