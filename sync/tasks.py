"""Celery tasks: thin wrappers that take ids and call the scheduler."""

from __future__ import annotations

import logging

from celery import shared_task

from cartrover.adapters import AdapterError, TransientError
from sync import scheduler

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def tick_task() -> int:
    """Claim due schedules and enqueue one run per claimed row; return how many."""
    ids, token = scheduler.schedules_claim()
    for schedule_id in ids:
        run_schedule_task.delay(schedule_id, token)
    return len(ids)


@shared_task(ignore_result=True, acks_late=True)
def run_schedule_task(schedule_id: int, lease_token: str) -> None:
    """Run one leased schedule; a stale or foreign lease makes this a no-op."""
    scheduler.schedule_run(schedule_id, lease_token)


@shared_task(ignore_result=True, autoretry_for=(TransientError,), retry_backoff=True, max_retries=5)
def cart_webhooks_register_task(cart_id: int) -> None:
    """Subscribe a cart's webhooks (after it was created or changed); failures are logged."""
    from carts.models import CartConnection
    from carts.services import cart_webhooks_register

    cart = CartConnection.objects.filter(pk=cart_id).first()
    if cart is None:
        return
    try:
        topics = cart_webhooks_register(cart)
    except TransientError:
        raise
    except AdapterError as exc:
        log.warning("Cart %s: webhooks not registered: %s", cart_id, exc.message)
        return
    if topics:
        log.info("Cart %s: webhooks registered for %s", cart_id, ", ".join(topics))
