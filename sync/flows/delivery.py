"""Order delivery (hub → WMS): the merchant's new orders in batches, through the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from orders import services as order_services
from orders.models import (
    HoldReason,
    Order,
    OrderStatus,
)
from sync import outbox
from sync.alerts import alert_open, alert_resolve
from sync.flows.context import RunContext, merchant_ref
from wms.services import wms_adapter, wms_config_of

S = OrderStatus


def orders_deliver(run: RunContext) -> None:
    """Send the merchant's new orders to the WMS in batches, through the outbox.

    Batches left unfinished (a retry whose time has come, a run that died while sending) go
    first, as they were written; then new orders are claimed in new batches.
    """
    merchant = run.schedule.merchant
    config = wms_config_of(merchant.account_id)
    adapter = wms_adapter(config)
    if adapter.mode == "pull":
        run.log("The WMS pulls orders itself; nothing to send.")
        return
    ref = merchant_ref(merchant)
    sent = 0
    try:
        sent += _cancels_send(run, adapter, ref, merchant)
        for unfinished in outbox.batches_unfinished(merchant, run):
            if run.out_of_time():
                break
            outbox.batch_send(unfinished, adapter, ref, run)
            sent += 1
        for _ in range(settings.DELIVERY_MAX_BATCHES_PER_RUN):
            if run.out_of_time():
                break
            batch = outbox.batch_claim(merchant, adapter, run)
            if batch is None:
                break
            outbox.batch_send(batch, adapter, ref, run)
            sent += 1
            run.heartbeat()
        run.idle = sent == 0
        run.notes(adapter)
    finally:
        adapter.close()
        # A batch refused as a whole (WMS down) is when orders start being retried: say so now.
        delivery_errors_sync(merchant)


def _cancels_send(run: RunContext, adapter: Any, ref: Any, merchant: Any) -> int:
    """Ask the WMS to cancel the orders the cart canceled after they reached it.

    Only for WMS kinds that can cancel; the others keep the alert that asks a person to.
    Returns how many the WMS was asked about.
    """
    if "cancellations" not in adapter.capabilities:
        return 0
    due = (
        Order.objects.filter(merchant=merchant, status=S.AT_WMS)
        .exclude(hold_reasons=[])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=run.now))
        .order_by("id")
    )
    asked = 0
    for order in due:
        if HoldReason.CANCELED_IN_CART not in order.hold_reasons or run.out_of_time():
            continue
        run.heartbeat()
        refused = adapter.cancel_order(ref, order.key, order.delivery_reference)
        asked += 1
        if not refused:
            if order_services.order_canceled_at_wms(order):
                run.count("canceled_at_wms")
                run.log(f"Order {order}: canceled at the WMS, as in the cart.")
            continue
        order_services.order_cancel_refused_at_wms(
            order,
            reason=refused,
            retry_at=run.now + timedelta(minutes=settings.DELIVERY_RETRY_MINUTES),
        )
        run.item_failed(f"Order {order}: the WMS did not cancel it: {refused}")
    return asked


def delivery_errors_sync(merchant: Any) -> None:
    """Open or resolve the merchant's alerts about orders in error and orders being retried."""
    count = Order.objects.filter(merchant=merchant, status=S.ERROR).count()
    key = f"merchant:{merchant.pk}:order_errors"
    if count:
        alert_open(
            account_id=merchant.account_id,
            merchant_id=merchant.pk,
            key=key,
            kind="order_errors",
            message=f"{merchant}: {count} order(s) in error. Open each for the reason, fix it, "
            "then resend.",
        )
    else:
        alert_resolve(key)
    # Orders still inside their retry horizon: nobody should learn of a refusal only when,
    # days later, the hub gives up on it.
    retrying = Order.objects.filter(
        merchant=merchant, status__in=(S.NEW, S.SENDING), delivery_attempts__gt=0
    )
    first = retrying.order_by("first_failed_at", "id").first()
    key = f"merchant:{merchant.pk}:delivery_retrying"
    if first is not None:
        count = retrying.count()
        alert_open(
            account_id=merchant.account_id,
            merchant_id=merchant.pk,
            key=key,
            kind="delivery_retrying",
            message=f"{merchant}: {count} order(s) could not be delivered to the WMS and are "
            f"retried every {settings.DELIVERY_RETRY_MINUTES} minutes, up to "
            f"{settings.DELIVERY_RETRY_HORIZON_DAYS} days (first: order {first}: "
            f"{first.last_error}). Fix the cause, or hold or cancel the orders.",
        )
    else:
        alert_resolve(key)
