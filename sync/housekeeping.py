"""Housekeeping: records past their retention are deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.models import JobRun, WebhookEvent

PRUNE_CHUNK = 5000


def records_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete job runs past JOB_RUN_RETENTION_DAYS and webhook ids past their replay window.

    A webhook id only guards against replays while a replay could still be accepted, that is
    for WEBHOOK_MAX_AGE_SECONDS (kept twice as long for clocks that disagree). Deletes go in
    chunks so no one transaction holds many rows. Returns how many rows of each went.
    """
    now = now or timezone.now()
    cutoffs = {
        "job_runs": (JobRun, "started_at", now - timedelta(days=settings.JOB_RUN_RETENTION_DAYS)),
        "webhook_events": (
            WebhookEvent,
            "received_at",
            now - timedelta(seconds=2 * settings.WEBHOOK_MAX_AGE_SECONDS),
        ),
    }
    deleted: dict[str, int] = {}
    for name, (model, field_name, cutoff) in cutoffs.items():
        total = 0
        while True:
            ids = list(
                model._default_manager.filter(**{f"{field_name}__lt": cutoff}).values_list(
                    "pk", flat=True
                )[:PRUNE_CHUNK]
            )
            if not ids:
                break
            total += model._default_manager.filter(pk__in=ids).delete()[0]
        deleted[name] = total
    return deleted
