"""The order life cycle: every status change happens here, conditionally, with an event.

    new ──deliver──▶ at_wms ──shipment──▶ shipped ──tracking uploaded──▶ confirmed
    new ⇄ held (unmapped ship method, manual hold, cancel sending)
    new/at_wms ──delivery failed past the horizon──▶ error ──resend──▶ new
    new/held/error ──canceled in cart──▶ canceled

Each transition is one `UPDATE … WHERE id = … AND status IN (…)`: if another process moved the
order first, nothing changes and the caller is told so. Running any of these twice changes
nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orders.models import (
    EventKind,
    HoldReason,
    Order,
    OrderEvent,
    OrderStatus,
    Shipment,
    ShipMethodMapping,
    UploadState,
)

S = OrderStatus
NOT_YET_SHIPPED = (S.NEW, S.HELD, S.AT_WMS, S.ERROR)


def order_event(order: Order, kind: str, message: str = "", **data: Any) -> OrderEvent:
    """Add an entry to an order's timeline."""
    return OrderEvent.objects.create(
        account_id=order.account_id, order=order, kind=kind, message=message, data=data
    )


def _transition(
    order: Order,
    *,
    from_: Iterable[str],
    to: str,
    event: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move the order to `to` if it is still in one of `from_`; write the event. Return moved."""
    now = timezone.now()
    with transaction.atomic():
        moved = Order.objects.filter(pk=order.pk, status__in=list(from_)).update(
            status=to, updated_at=now, **fields
        )
        if not moved:
            return False
        order_event(order, event, message, **(data or {}))
    order.status = to
    order.updated_at = now
    for name, value in fields.items():
        setattr(order, name, value)
    return True


def order_hold(order: Order, *, reason: str, message: str = "") -> bool:
    """Hold a new (or already held) order for `reason`; it is not delivered until released."""
    reasons = sorted(set(order.hold_reasons) | {reason})
    text = message or HoldReason(reason).label
    return _transition(
        order,
        from_=(S.NEW, S.HELD),
        to=S.HELD,
        event=EventKind.HELD,
        message=text,
        data={"reason": reason},
        hold_reasons=reasons,
    )


def order_release(order: Order, *, reasons: Iterable[str] | None = None, message: str = "") -> bool:
    """Lift hold reasons (all that can be lifted by default); with none left the order is new.

    An unmapped ship method is lifted only once the code is mapped: releasing by hand would
    send the WMS a ship method it does not know.
    """
    remaining = set(order.hold_reasons)
    if reasons is None:
        lift = set(remaining)
        if HoldReason.UNMAPPED_SHIP_METHOD in lift and not _ship_code_mapped(order):
            lift.discard(HoldReason.UNMAPPED_SHIP_METHOD)
    else:
        lift = set(reasons) & remaining
    if not lift:
        return False
    remaining -= lift
    if remaining:
        updated = Order.objects.filter(pk=order.pk, status=S.HELD).update(
            hold_reasons=sorted(remaining), updated_at=timezone.now()
        )
        if updated:
            order.hold_reasons = sorted(remaining)
            order_event(
                order,
                EventKind.RELEASED,
                message or "Some holds lifted.",
                lifted=sorted(lift),
                remaining=sorted(remaining),
            )
        return bool(updated)
    return _transition(
        order,
        from_=(S.HELD,),
        to=S.NEW,
        event=EventKind.RELEASED,
        message=message or "Released for delivery.",
        data={"lifted": sorted(lift)},
        hold_reasons=[],
        next_attempt_at=None,
    )


def _ship_code_mapped(order: Order) -> bool:
    return ShipMethodMapping.objects.filter(
        merchant_id=order.merchant_id, cart_code=order.ship_method_code
    ).exists()


def order_cancel_sending(order: Order) -> bool:
    """Stop a new order from being delivered (a hold the user lifts with release)."""
    return order_hold(order, reason=HoldReason.CANCEL_SENDING, message="Sending canceled by hand.")


def order_mark_delivered(order: Order, *, reference: str) -> bool:
    """Record that the WMS accepted the order under `reference`."""
    return _transition(
        order,
        from_=(S.NEW, S.ERROR),
        to=S.AT_WMS,
        event=EventKind.DELIVERED,
        message=f"Delivered to the WMS as {reference}." if reference else "Delivered to the WMS.",
        data={"reference": reference},
        delivery_reference=reference,
        next_attempt_at=None,
        last_error="",
    )


def order_delivery_failed(
    order: Order, *, error: str, now: datetime, retry_in: timedelta, horizon: timedelta
) -> str:
    """Count a failed delivery: retry later, or past the horizon move the order to error.

    Returns the order's status afterwards.
    """
    first = order.first_failed_at or now
    attempts = order.delivery_attempts + 1
    if now - first >= horizon:
        _transition(
            order,
            from_=(S.NEW,),
            to=S.ERROR,
            event=EventKind.ERROR,
            message=f"Gave up delivering after {attempts} attempts since "
            f"{first:%Y-%m-%d %H:%M} UTC: {error}. Fix the cause, then resend the order.",
            delivery_attempts=attempts,
            first_failed_at=first,
            next_attempt_at=None,
            last_error=error,
        )
        return order.status
    updated = Order.objects.filter(pk=order.pk, status=S.NEW).update(
        delivery_attempts=attempts,
        first_failed_at=first,
        next_attempt_at=now + retry_in,
        last_error=error,
        updated_at=now,
    )
    if updated:
        order.delivery_attempts, order.first_failed_at = attempts, first
        order.next_attempt_at, order.last_error = now + retry_in, error
        order_event(
            order,
            EventKind.DELIVERY_FAILED,
            f"Delivery attempt {attempts} failed: {error}. Next try at "
            f"{now + retry_in:%Y-%m-%d %H:%M} UTC.",
        )
    return order.status


def order_resend(order: Order) -> bool:
    """Send an order to the WMS again (after an error, or on request after delivery)."""
    return _transition(
        order,
        from_=(S.ERROR, S.AT_WMS),
        to=S.NEW,
        event=EventKind.RESENT,
        message="Queued to be sent to the WMS again.",
        delivery_attempts=0,
        first_failed_at=None,
        next_attempt_at=None,
        last_error="",
    )


def order_mark_error(order: Order, *, message: str) -> bool:
    """Move a not-yet-delivered order to error with a reason a person can act on."""
    return _transition(
        order,
        from_=(S.NEW, S.HELD),
        to=S.ERROR,
        event=EventKind.ERROR,
        message=message,
        last_error=message,
        next_attempt_at=None,
    )


def order_mark_shipped(order: Order, *, tracking_number: str) -> bool:
    """Record that the WMS shipped (part of) the order."""
    return _transition(
        order,
        from_=(S.NEW, S.AT_WMS, S.ERROR),
        to=S.SHIPPED,
        event=EventKind.SHIPMENT_RECEIVED,
        message=f"Shipped: {tracking_number}.",
        data={"tracking_number": tracking_number},
        next_attempt_at=None,
    )


def order_confirm_if_complete(order: Order) -> bool:
    """Confirm a shipped order once every line is shipped and every tracking uploaded."""
    if order.status != S.SHIPPED:
        return False
    shipments = list(order.shipments.prefetch_related("lines"))
    if not shipments or any(s.upload_state == UploadState.PENDING for s in shipments):
        return False
    if not order_fully_shipped(order, shipments):
        return False
    return _transition(
        order,
        from_=(S.SHIPPED,),
        to=S.CONFIRMED,
        event=EventKind.CONFIRMED,
        message="Every line shipped and its tracking is at the cart.",
    )


def order_fully_shipped(order: Order, shipments: list[Shipment]) -> bool:
    """Say whether the shipments cover every line's quantity.

    A shipment without lines is taken to be the whole order, as WMSes that report only
    tracking mean it.
    """
    if any(not s.lines.all() for s in shipments):
        return True
    shipped: dict[int, int] = {}
    by_sku: dict[str, int] = {}
    for shipment in shipments:
        for part in shipment.lines.all():
            if part.order_line_id:
                shipped[part.order_line_id] = shipped.get(part.order_line_id, 0) + part.quantity
            else:
                by_sku[part.sku] = by_sku.get(part.sku, 0) + part.quantity
    for line in order.lines.all():
        have = shipped.get(line.pk, 0)
        if have < line.quantity:
            take = min(by_sku.get(line.wms_sku, 0), line.quantity - have)
            by_sku[line.wms_sku] = by_sku.get(line.wms_sku, 0) - take
            if have + take < line.quantity:
                return False
    return True


def _alert_canceled_after_delivery(order: Order, message: str) -> None:
    from sync.alerts import alert_open

    alert_open(
        account_id=order.account_id,
        merchant_id=order.merchant_id,
        cart_id=order.cart_id,
        kind="canceled_after_delivery",
        key=f"order:{order.pk}:canceled_after_delivery",
        message=message,
    )


def order_cancel(order: Order, *, message: str = "Canceled in the cart.") -> bool:
    """Cancel an order the cart canceled; after delivery, hold it and say so instead."""
    if _transition(
        order,
        from_=(S.NEW, S.HELD, S.ERROR),
        to=S.CANCELED,
        event=EventKind.CANCELED,
        message=message,
        next_attempt_at=None,
    ):
        if order.delivery_attempts:
            # A delivery whose answer was lost may have reached the WMS all the same.
            _alert_canceled_after_delivery(
                order,
                f"Order {order} was canceled in the cart after {order.delivery_attempts} "
                "delivery attempt(s) whose answer never came: check the WMS and cancel it "
                "there if it arrived.",
            )
        return True
    if order.status == S.AT_WMS and HoldReason.CANCELED_IN_CART not in order.hold_reasons:
        reasons = [*order.hold_reasons, HoldReason.CANCELED_IN_CART]
        Order.objects.filter(pk=order.pk).update(hold_reasons=reasons)
        order.hold_reasons = reasons
        order_event(
            order,
            EventKind.CANCELED,
            "Canceled in the cart after it reached the WMS: cancel it in the WMS.",
        )
        _alert_canceled_after_delivery(
            order,
            f"Order {order} was canceled in the cart after it reached the WMS: "
            "cancel it in the WMS before it ships.",
        )
        return True
    return False


def shipment_resend_tracking(shipment: Shipment) -> bool:
    """Upload a shipment's tracking to the cart again."""
    updated = (
        Shipment.objects.filter(pk=shipment.pk)
        .exclude(upload_state=UploadState.NOT_APPLICABLE)
        .update(
            upload_state=UploadState.PENDING, upload_attempts=0, next_attempt_at=None, last_error=""
        )
    )
    if updated:
        shipment.upload_state = UploadState.PENDING
        order_event(
            shipment.order,
            EventKind.RESENT,
            f"Tracking {shipment.tracking_number} queued to upload again.",
        )
    return bool(updated)


def ship_method_map(*, merchant: Any, cart_code: str, ship_method: Any) -> int:
    """Map a cart ship code to a WMS ship method; release the orders it held. Return how many."""
    ShipMethodMapping.objects.update_or_create(
        merchant=merchant,
        cart_code=cart_code,
        defaults={"ship_method": ship_method, "account_id": merchant.account_id},
    )
    held = Order.objects.filter(merchant=merchant, status=S.HELD, ship_method_code=cart_code)
    released = 0
    for order in held:
        Order.objects.filter(pk=order.pk).update(ship_method=ship_method)
        order.ship_method = ship_method
        if order_release(
            order,
            reasons=[HoldReason.UNMAPPED_SHIP_METHOD],
            message=f"Ship method {cart_code!r} mapped to {ship_method}.",
        ):
            released += 1 if order.status == S.NEW else 0
    # Orders not held (reject-unmapped off) pick up the mapping before they are delivered.
    Order.objects.filter(merchant=merchant, status=S.NEW, ship_method_code=cart_code).update(
        ship_method=ship_method
    )
    return released
