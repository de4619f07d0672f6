"""Order delivery (hub → WMS): the merchant's new orders in batches; back-off per order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from cartrover.adapters import (
    AdapterError,
    Address,
    AuthError,
    RateLimited,
    WmsOrder,
    WmsOrderLine,
)
from orders import services as order_services
from orders.models import (
    Order,
    OrderStatus,
)
from sync.alerts import alert_open, alert_resolve
from sync.flows.context import RunContext, merchant_ref
from wms.models import WmsShipMethod
from wms.services import wms_adapter, wms_config_of

S = OrderStatus


def orders_deliver(run: RunContext) -> None:
    """Send the merchant's new orders to the WMS in batches; back off per order on failure."""
    merchant = run.schedule.merchant
    config = wms_config_of(merchant.account_id)
    adapter = wms_adapter(config)
    if adapter.mode == "pull":
        run.log("The WMS pulls orders itself; nothing to send.")
        return
    try:
        _orders_deliver_due(run, adapter, merchant)
    finally:
        adapter.close()


def _orders_deliver_due(run: RunContext, adapter: Any, merchant: Any) -> None:
    retry_in = timedelta(minutes=settings.DELIVERY_RETRY_MINUTES)
    horizon = timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS)
    ref = merchant_ref(merchant)
    due = (
        Order.objects.filter(merchant=merchant, status=S.NEW)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=run.now))
        .select_related("ship_method", "cart")
        .prefetch_related("lines")
        .order_by("placed_at", "id")
    )
    for batch_number in range(settings.DELIVERY_MAX_BATCHES_PER_RUN):
        orders = list(due[: adapter.batch_size])
        if not orders:
            run.idle = batch_number == 0
            break
        by_key = {o.key: o for o in orders}
        try:
            results = adapter.deliver_orders(ref, [wms_order(o) for o in orders])
        except (AuthError, RateLimited):
            raise
        except AdapterError as exc:
            # The batch failed as a whole (WMS down, timeout): each order uses one attempt.
            for order in orders:
                order_services.order_delivery_failed(
                    order, error=exc.message, now=run.now, retry_in=retry_in, horizon=horizon
                )
            run.count("failed", len(orders))
            # A whole batch refused (WMS down) is when orders start being retried: say so now.
            delivery_errors_sync(merchant)
            raise
        answered = set()
        for result in results:
            answered_order = by_key.get(result.key)
            if answered_order is None:
                continue
            answered.add(result.key)
            if result.ok:
                if order_services.order_mark_delivered(answered_order, reference=result.reference):
                    run.count("delivered")
            else:
                status = order_services.order_delivery_failed(
                    answered_order,
                    error=result.error,
                    now=run.now,
                    retry_in=retry_in,
                    horizon=horizon,
                )
                run.item_failed(f"Order {answered_order}: the WMS refused it: {result.error}")
                if status == S.ERROR:
                    run.count("gave_up")
        for key in by_key.keys() - answered:
            order_services.order_delivery_failed(
                by_key[key],
                error="The WMS gave no answer for this order.",
                now=run.now,
                retry_in=retry_in,
                horizon=horizon,
            )
            run.item_failed(f"Order {by_key[key]}: the WMS gave no answer for it.")
        run.heartbeat()
    run.notes(adapter)
    delivery_errors_sync(merchant)


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
    retrying = Order.objects.filter(merchant=merchant, status=S.NEW, delivery_attempts__gt=0)
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
