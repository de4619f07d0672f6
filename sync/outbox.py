"""The delivery outbox: orders are claimed in a batch row before anything leaves the hub.

Every push WMS kind delivers through these three steps:

1. **Claim** (`batch_claim`). In one transaction: lock the merchant's due `new` orders (SKIP
   LOCKED), write a DeliveryBatch holding exactly what the WMS will receive, move the orders to
   `sending` in that batch. From here on a cancel, hold or cart edit treats them as at the WMS.
2. **Send** (`batch_send`). Check that the run still owns its lease, then hand the batch's
   payload to the adapter: the orders still `sending` in it, as they were written. A retry
   never selects orders anew; a file batch sends the same orders, bytes and file name again.
3. **Record**. Per order: accepted → `at_wms`; refused → back to `new` to be retried later (or
   canceled, if the cart canceled it meanwhile); no answer → it stays `sending` and the batch
   is sent again later. A batch with nothing left `sending` is done.

A batch whose worker died while sending (its claim expired) is sent again as it was: WMS kinds
that recognise an order or file they already have answer "delivered". A WMS that cannot
recognise repeats (e-mail) is not sent it again: its orders go to error, for a person to check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cartrover.adapters import (
    AdapterError,
    Address,
    AuthError,
    DeliveryResult,
    MerchantRef,
    RateLimited,
    WmsOrder,
    WmsOrderLine,
)
from orders import services as order_services
from orders.models import EventKind, Order, OrderStatus
from sync.alerts import alert_open
from sync.flows.context import RunContext
from sync.models import BatchState, DeliveryBatch
from wms.adapters.base import WmsAdapter
from wms.models import WmsShipMethod

S = OrderStatus
# The states of a batch that still has orders on their way.
_OPEN = (BatchState.SENDING, BatchState.RETRYING)


# --- What a batch carries -------------------------------------------------------------------


def wms_order(order: Order) -> WmsOrder:
    """Translate an order into what the WMS receives."""
    method: WmsShipMethod | None = order.ship_method
    return WmsOrder(
        key=order.key,
        order_number=order.order_number,
        order_source=order.order_source,
        placed_at=order.placed_at,
        ship_to=Address(**order.ship_to) if order.ship_to else Address(),
        ship_method=method.code if method else order.ship_method_code,
        carrier=method.carrier if method else "",
        lines=[
            WmsOrderLine(
                sku=li.wms_sku or li.sku,
                quantity=li.quantity,
                name=li.name,
                price=li.price,
                line_id=li.line_id,
            )
            for li in order.lines.all()
        ],
        customer_email=order.customer_email,
        notes=order.notes,
        merchant_settings=dict(order.merchant.wms_settings) if order.merchant_id else {},
        cart_settings=dict(order.cart.wms_settings),
    )


def payload_dump(order: WmsOrder) -> dict[str, Any]:
    """Return the order as JSON-ready data (amounts as text, times in ISO 8601)."""
    return {
        **vars(order),
        "placed_at": order.placed_at.isoformat() if order.placed_at else None,
        "ship_to": dict(vars(order.ship_to)),
        "lines": [
            {**vars(line), "price": None if line.price is None else str(line.price)}
            for line in order.lines
        ],
    }


def payload_load(data: dict[str, Any]) -> WmsOrder:
    """Return the order `payload_dump` wrote, equal to the one it was given."""
    placed = data.get("placed_at")
    return WmsOrder(
        **{
            **data,
            "placed_at": datetime.fromisoformat(placed) if placed else None,
            "ship_to": Address(**data["ship_to"]),
            "lines": [
                WmsOrderLine(**{**line, "price": Decimal(line["price"]) if line["price"] else None})
                for line in data["lines"]
            ],
        }
    )


def _hash(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --- Claim ----------------------------------------------------------------------------------


def _claim_until(run: RunContext) -> datetime:
    return max(run.now, timezone.now()) + timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def batch_claim(merchant: Any, adapter: WmsAdapter, run: RunContext) -> DeliveryBatch | None:
    """Claim the merchant's next due new orders in a new batch; None when none are due."""
    size = adapter.batch_size
    with transaction.atomic():
        due = (
            Order.objects.filter(merchant=merchant, status=S.NEW)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=run.now))
            .order_by("placed_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:size])
        if not ids:
            return None
        batch = DeliveryBatch.objects.create(
            account_id=merchant.account_id,
            merchant=merchant,
            wms_kind=adapter.kind,
            claimed_until=_claim_until(run),
        )
        Order.objects.filter(pk__in=ids, status=S.NEW).update(
            status=S.SENDING, delivery_batch=batch, updated_at=run.now
        )
        orders = (
            Order.objects.filter(delivery_batch=batch, status=S.SENDING)
            .select_related("ship_method", "cart", "merchant")
            .prefetch_related("lines")
            .order_by("placed_at", "id")
        )
        batch.payload = [payload_dump(wms_order(o)) for o in orders]
        if not batch.payload:
            batch.delete()
            return None
        batch.payload_hash = _hash(batch.payload)
        batch.order_count = len(batch.payload)
        batch.save(update_fields=["payload", "payload_hash", "order_count"])
    return batch


def batches_unfinished(merchant: Any, run: RunContext) -> QuerySet[DeliveryBatch]:
    """Return the merchant's batches to send again now: retries whose time has come, and
    batches whose sending run died (claim expired)."""
    return (
        DeliveryBatch.objects.filter(merchant=merchant)
        .filter(
            Q(state=BatchState.RETRYING, next_attempt_at__lte=run.now)
            | Q(state=BatchState.SENDING, claimed_until__lt=run.now)
        )
        .order_by("created_at", "id")
    )


# --- Send and record ------------------------------------------------------------------------


def batch_send(
    batch: DeliveryBatch, adapter: WmsAdapter, ref: MerchantRef, run: RunContext
) -> None:
    """Send the batch (again) as it was written and record the WMS's answer per order.

    Raises what the adapter raised for the batch as a whole, after recording what is known.
    """
    if batch.state == BatchState.SENDING and batch.attempts and not adapter.recognises_repeats:
        _lost(batch, run)
        return
    run.heartbeat()
    # Only the orders still on their way, as written: one the WMS took earlier and that was
    # canceled there since must not be created again. A file's orders share one fate, so a
    # file batch sends the same orders, bytes and name every time.
    waiting = set(
        Order.objects.filter(delivery_batch=batch, status=S.SENDING).values_list("pk", flat=True)
    )
    orders = [payload_load(data) for data in batch.payload if int(data["key"][1:]) in waiting]
    if not orders:
        _settle(batch, run, [], "", timedelta(0))
        return
    claimed = DeliveryBatch.objects.filter(pk=batch.pk, state__in=_OPEN).update(
        state=BatchState.SENDING, attempts=F("attempts") + 1, claimed_until=_claim_until(run)
    )
    if not claimed:
        return

    def heartbeat() -> None:
        run.heartbeat()
        DeliveryBatch.objects.filter(pk=batch.pk).update(claimed_until=_claim_until(run))

    adapter.heartbeat = heartbeat
    run.log(f"Batch {batch.pk}: sending {len(orders)} order(s) (attempt {batch.attempts + 1}).")
    try:
        results = adapter.deliver_orders(ref, orders)
    except RateLimited as exc:
        _record(batch, exc.answered, run, error=None)
        _retry_at(batch, run.now + timedelta(seconds=max(exc.retry_after, 1)), exc.message)
        raise
    except AuthError as exc:
        _record(batch, exc.answered, run, error=None)
        _retry_at(batch, run.now, exc.message)
        raise
    except AdapterError as exc:
        _record(batch, exc.answered, run, error=exc.message)
        raise
    finally:
        adapter.heartbeat = lambda: None
    _record(batch, results, run, error="The WMS gave no answer for this order.")


def _retry_at(batch: DeliveryBatch, when: datetime, error: str) -> None:
    """Keep the batch for a retry at `when` without using up an attempt (rate limit, auth)."""
    DeliveryBatch.objects.filter(pk=batch.pk, state__in=_OPEN).update(
        state=BatchState.RETRYING, next_attempt_at=when, claimed_until=None, last_error=error
    )


def _record(
    batch: DeliveryBatch, results: Iterable[DeliveryResult], run: RunContext, *, error: str | None
) -> None:
    """Apply the WMS's answers to the batch's orders still `sending`; the rest have none.

    With `error`, an order without answer uses an attempt (it stays in the batch, which is
    sent again later); with None (a rate limit, refused credentials) it waits for free.
    """
    retry_in = timedelta(minutes=settings.DELIVERY_RETRY_MINUTES)
    horizon = timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS)
    waiting = {
        o.key: o
        for o in Order.objects.filter(delivery_batch=batch, status=S.SENDING).defer(
            "raw_payload", "ship_to", "bill_to", "notes"
        )
    }
    accepted: dict[int, DeliveryResult] = {}
    for result in results:
        order = waiting.pop(result.key, None)
        if order is None:
            _answer_for_moved_order(batch, result)
            continue
        if result.ok:
            accepted[order.pk] = result
            continue
        status = order_services.order_delivery_refused(
            order, batch=batch, error=result.error, now=run.now, retry_in=retry_in, horizon=horizon
        )
        run.item_failed(f"Order {order}: the WMS refused it: {result.error}")
        if status == S.ERROR:
            run.count("gave_up")
    if error is not None:
        for order in waiting.values():
            status = order_services.order_delivery_unanswered(
                order, batch=batch, error=error, now=run.now, retry_in=retry_in, horizon=horizon
            )
            run.item_failed(f"Order {order}: no answer from the WMS ({error}).")
            if status == S.ERROR:
                run.count("gave_up")
    delivered = order_services.orders_mark_delivered(
        batch, {pk: result.reference for pk, result in accepted.items()}
    )
    run.count("delivered", len(delivered))
    for pk in accepted.keys() - delivered:
        _answer_for_moved_order(batch, accepted[pk])
    references = [result.reference for pk, result in accepted.items() if pk in delivered]
    _settle(batch, run, references, error or "", retry_in)


def _settle(
    batch: DeliveryBatch, run: RunContext, references: list[str], error: str, retry_in: timedelta
) -> None:
    """Close the batch when none of its orders is `sending` any more; else plan its retry."""
    left = Order.objects.filter(delivery_batch=batch, status=S.SENDING).exists()
    reference = ", ".join(sorted(set(filter(None, references))))[:200]
    changes: dict[str, Any] = {"claimed_until": None}
    if reference:
        changes["reference"] = reference
    if left:
        changes.update(
            state=BatchState.RETRYING, next_attempt_at=run.now + retry_in, last_error=error
        )
    else:
        changes.update(state=BatchState.DONE, next_attempt_at=None, finished_at=timezone.now())
    DeliveryBatch.objects.filter(pk=batch.pk, state__in=_OPEN).update(**changes)
    if left:
        run.log(f"Batch {batch.pk}: orders without answer are sent again with it later.")


def _answer_for_moved_order(batch: DeliveryBatch, result: DeliveryResult) -> None:
    """The WMS answered for an order the hub no longer has as `sending` in this batch.

    Never only counted: an acceptance is recorded on the order's timeline, with an alert.
    """
    if not result.ok or not result.key.startswith("H") or not result.key[1:].isdigit():
        return
    order = Order.objects.filter(pk=int(result.key[1:]), merchant_id=batch.merchant_id).first()
    if order is None or (result.reference and order.delivery_reference == result.reference):
        return  # the hub recorded this acceptance already
    message = (
        f"The WMS accepted order {order} as {result.reference or 'delivered'} (batch {batch.pk}) "
        f"while the hub had it as {order.get_status_display().lower()}: check the order at the "
        "WMS."
    )
    order_services.order_event(
        order, EventKind.DELIVERED, message, reference=result.reference, batch=batch.pk
    )
    alert_open(
        account_id=order.account_id,
        merchant_id=order.merchant_id,
        cart_id=order.cart_id,
        kind="delivered_after_change",
        key=f"order:{order.pk}:delivered_after_change",
        message=message,
    )


def _lost(batch: DeliveryBatch, run: RunContext) -> None:
    """A batch whose worker died while sending to a WMS that cannot recognise repeats."""
    name = f" ({batch.reference})" if batch.reference else ""
    message = (
        f"The worker stopped while batch {batch.pk}{name} was being sent, and this WMS cannot "
        "tell an order it already has: check whether it arrived at the WMS, then resend it or "
        "leave it."
    )
    for order in Order.objects.filter(delivery_batch=batch, status=S.SENDING):
        if order_services.order_delivery_lost(order, batch=batch, message=message):
            run.item_failed(f"Order {order}: {message}")
    DeliveryBatch.objects.filter(pk=batch.pk, state__in=_OPEN).update(
        state=BatchState.FAILED, claimed_until=None, last_error=message, finished_at=timezone.now()
    )
