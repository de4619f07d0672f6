"""Celery tasks of the API: the outbound webhook outbox."""

from __future__ import annotations

from celery import shared_task

from api import outbound


@shared_task(ignore_result=True)
def webhooks_task() -> int:
    """Turn new events into webhook deliveries and send the ones due; return how many sent."""
    outbound.webhooks_outbox_scan()
    return outbound.webhooks_send_due()
