"""Celery tasks: thin wrappers that take ids and call the scheduler."""

from __future__ import annotations

import contextlib
import functools
import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import transaction

from cartrover.adapters import AdapterError, TransientError
from sync import scheduler

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def tick_task() -> int:
    """Claim due schedules and enqueue one run per claimed row; return how many.

    A full claim is followed by another, for most of one tick interval, so a backlog larger
    than SYNC_CLAIM_LIMIT is handed out now rather than one limit per tick.
    """
    deadline = time.monotonic() + settings.SYNC_TICK_SECONDS * 0.8
    total = 0
    while True:
        ids, token = scheduler.schedules_claim()
        # Sent once the leases are committed, so a fast worker never finds its lease missing.
        transaction.on_commit(functools.partial(schedules_enqueue, ids, token))
        total += len(ids)
        if len(ids) < settings.SYNC_CLAIM_LIMIT or time.monotonic() >= deadline:
            return total


def schedules_enqueue(ids: list[int], token: str) -> None:
    """Send one run task per leased schedule, over one producer, batched where the broker can.

    With Redis the messages go in pipelines of up to a thousand, not one round trip each
    (kombu's publish batches; other transports and older kombu publish one by one). A
    message lost on the way costs nothing but time: the lease expires and a later tick
    claims the row again.
    """
    if not ids:
        return
    with run_schedule_task.app.producer_or_acquire() as producer:
        batch = getattr(producer, "batch", None)
        with batch() if batch is not None else contextlib.nullcontext():
            for schedule_id in ids:
                run_schedule_task.apply_async((schedule_id, token), producer=producer)


@shared_task(ignore_result=True)
def housekeeping_task() -> dict[str, int]:
    """Delete records past their retention (old job runs, expired webhook ids)."""
    from sync.housekeeping import records_prune

    deleted = records_prune()
    if any(deleted.values()):
        log.info("Housekeeping deleted %s", ", ".join(f"{n} {k}" for k, n in deleted.items()))
    return deleted


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
