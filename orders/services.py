"""The order life cycle: every status change happens here, conditionally, with an event.

    new ──claimed in a batch──▶ sending ──WMS accepted──▶ at_wms ──shipment──▶ shipped
        ──tracking uploaded──▶ confirmed
    sending ──WMS refused──▶ new (retried later) or error (past the horizon)
    sending ──no answer──▶ sending (its batch is sent again) or error (past the horizon)
    new ⇄ held (unmapped ship method, manual hold, cancel sending)
    error/at_wms ──resend──▶ new
    new/held/error ──canceled in cart──▶ canceled
    sending/at_wms ──canceled in cart──▶ held reason canceled_in_cart and an alert; a
        sending order the WMS then refuses is canceled

A `sending` order is treated as one at the WMS by every change: the WMS may have it already.

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
NOT_YET_SHIPPED = (S.NEW, S.HELD, S.SENDING, S.AT_WMS, S.ERROR)
# Orders the WMS may have: what happens to them in the cart must be told to the WMS.
MAYBE_AT_WMS = (S.SENDING, S.AT_WMS)


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
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move the order to `to` if it is still in one of `from_` (and matches `where`); write the
    event. Return whether it moved."""
    now = timezone.now()
    with transaction.atomic():
        moved = Order.objects.filter(pk=order.pk, status__in=list(from_), **(where or {})).update(
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
    """Record that a WMS that pulls orders took this one under `reference`."""
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


def orders_mark_delivered(batch: Any, accepted: dict[int, str]) -> set[int]:
    """Record that the WMS accepted orders of `batch` (id → its reference), those still
    `sending` in it, in a few statements whatever their number. Return the ids moved."""
    now = timezone.now()
    with transaction.atomic():
        moving = dict(
            Order.objects.select_for_update()
            .filter(pk__in=list(accepted), status=S.SENDING, delivery_batch=batch)
            .values_list("pk", "account_id")
        )
        by_reference: dict[str, list[int]] = {}
        for pk in moving:
            by_reference.setdefault(accepted[pk], []).append(pk)
        for reference, pks in by_reference.items():
            Order.objects.filter(pk__in=pks).update(
                status=S.AT_WMS,
                delivery_reference=reference,
                next_attempt_at=None,
                last_error="",
                updated_at=now,
            )
        OrderEvent.objects.bulk_create(
            OrderEvent(
                account_id=account_id,
                order_id=pk,
                kind=EventKind.DELIVERED,
                message=f"Delivered to the WMS as {accepted[pk]} (batch {batch.pk})."
                if accepted[pk]
                else f"Delivered to the WMS (batch {batch.pk}).",
                data={"reference": accepted[pk], "batch": batch.pk},
            )
            for pk, account_id in moving.items()
        )
    return set(moving)


def _locked(order: Order) -> Order | None:
    """Re-read the order's status and holds under a row lock (inside a transaction)."""
    found = (
        Order.objects.select_for_update()
        .filter(pk=order.pk)
        .only("status", "hold_reasons", "delivery_batch_id")
    )
    fresh = found.first()
    if fresh is not None:
        order.status, order.hold_reasons = fresh.status, fresh.hold_reasons
    return fresh


def _sending_in(order: Order, batch: Any) -> bool:
    """Say, under a row lock, whether the order is still `sending` in `batch`."""
    fresh = _locked(order)
    return fresh is not None and fresh.status == S.SENDING and fresh.delivery_batch_id == batch.pk


def order_delivery_refused(
    order: Order, *, batch: Any, error: str, now: datetime, retry_in: timedelta, horizon: timedelta
) -> str:
    """The WMS refused a `sending` order: retry it later, or give up past the horizon.

    An order canceled in the cart while it was being sent is canceled now: the WMS does not
    have it. Returns the order's status afterwards.
    """
    with transaction.atomic():
        if not _sending_in(order, batch):
            return order.status
        if HoldReason.CANCELED_IN_CART in order.hold_reasons:
            _transition(
                order,
                from_=(S.SENDING,),
                to=S.CANCELED,
                event=EventKind.CANCELED,
                message=f"The WMS refused it ({error}) and it was canceled in the cart: canceled.",
                hold_reasons=[],
                next_attempt_at=None,
                last_error=error,
            )
            transaction.on_commit(lambda: _resolve_canceled_after_delivery(order))
            return order.status
        return _delivery_failed(
            order, error=error, now=now, retry_in=retry_in, horizon=horizon, to=S.NEW
        )


def order_delivery_unanswered(
    order: Order, *, batch: Any, error: str, now: datetime, retry_in: timedelta, horizon: timedelta
) -> str:
    """The WMS gave no answer for a `sending` order: it stays claimed (its batch is sent
    again as it was) until the horizon, then goes to error. Returns its status afterwards."""
    with transaction.atomic():
        if not _sending_in(order, batch):
            return order.status
        return _delivery_failed(
            order, error=error, now=now, retry_in=retry_in, horizon=horizon, to=S.SENDING
        )


def _delivery_failed(
    order: Order, *, error: str, now: datetime, retry_in: timedelta, horizon: timedelta, to: str
) -> str:
    """Count a failed attempt of a `sending` order: move it to `to`, or past the horizon to
    error."""
    first = order.first_failed_at or now
    attempts = order.delivery_attempts + 1
    if now - first >= horizon:
        maybe = (
            " It may have reached the WMS: check there before resending." if to == S.SENDING else ""
        )
        _transition(
            order,
            from_=(S.SENDING,),
            to=S.ERROR,
            event=EventKind.ERROR,
            message=f"Gave up delivering after {attempts} attempts since "
            f"{first:%Y-%m-%d %H:%M} UTC: {error}.{maybe} Fix the cause, then resend the order.",
            delivery_attempts=attempts,
            first_failed_at=first,
            next_attempt_at=None,
            last_error=error,
        )
        return order.status
    _transition(
        order,
        from_=(S.SENDING,),
        to=to,
        event=EventKind.DELIVERY_FAILED,
        message=f"Delivery attempt {attempts} failed: {error}. Next try at "
        f"{now + retry_in:%Y-%m-%d %H:%M} UTC"
        + (", with the same batch." if to == S.SENDING else "."),
        delivery_attempts=attempts,
        first_failed_at=first,
        next_attempt_at=now + retry_in,
        last_error=error,
    )
    return order.status


def order_delivery_lost(order: Order, *, batch: Any, message: str) -> bool:
    """A `sending` order whose delivery cannot be known (its worker died while sending to a
    WMS that does not recognise repeats): error, for a person to check at the WMS."""
    return _transition(
        order,
        from_=(S.SENDING,),
        to=S.ERROR,
        event=EventKind.ERROR,
        message=message,
        data={"batch": batch.pk},
        where={"delivery_batch": batch},
        last_error=message,
        next_attempt_at=None,
    )


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
        from_=(S.NEW, S.SENDING, S.AT_WMS, S.ERROR),
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
    waiting = (UploadState.PENDING, UploadState.UPLOADING)
    if not shipments or any(s.upload_state in waiting for s in shipments):
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


def _canceled_after_delivery_key(order: Order) -> str:
    return f"order:{order.pk}:canceled_after_delivery"


def _alert_canceled_after_delivery(order: Order, message: str) -> None:
    from sync.alerts import alert_open

    alert_open(
        account_id=order.account_id,
        merchant_id=order.merchant_id,
        cart_id=order.cart_id,
        kind="canceled_after_delivery",
        key=_canceled_after_delivery_key(order),
        message=message,
    )


def _resolve_canceled_after_delivery(order: Order) -> None:
    from sync.alerts import alert_resolve

    alert_resolve(_canceled_after_delivery_key(order))


def order_cancel(order: Order, *, message: str = "Canceled in the cart.") -> bool:
    """Cancel an order the cart canceled; if the WMS may have it, hold it and say so instead."""
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
    with transaction.atomic():
        # Read again under a lock: the order may have been claimed for delivery since it was
        # read, and the delivery's answer must see the cancel (or the cancel see the answer).
        if _locked(order) is None or order.status not in MAYBE_AT_WMS:
            return False
        if HoldReason.CANCELED_IN_CART in order.hold_reasons:
            return False
        reasons = [*order.hold_reasons, HoldReason.CANCELED_IN_CART]
        Order.objects.filter(pk=order.pk).update(hold_reasons=reasons, updated_at=timezone.now())
        order.hold_reasons = reasons
        if order.status == S.SENDING:
            said = (
                "Canceled in the cart while it was being sent to the WMS: if the WMS "
                "accepts it, cancel it in the WMS."
            )
            alert = (
                f"Order {order} was canceled in the cart while it was being sent to the WMS: "
                "if the WMS took it, cancel it there before it ships."
            )
        else:
            said = "Canceled in the cart after it reached the WMS: cancel it in the WMS."
            alert = (
                f"Order {order} was canceled in the cart after it reached the WMS: "
                "cancel it in the WMS before it ships."
            )
        order_event(order, EventKind.CANCELED, said)
        _alert_canceled_after_delivery(order, alert)
    return True


def order_canceled_at_wms(order: Order) -> bool:
    """The WMS canceled an order the cart had canceled after delivery: canceled here too."""
    with transaction.atomic():
        if _locked(order) is None or order.status != S.AT_WMS:
            return False
        if HoldReason.CANCELED_IN_CART not in order.hold_reasons:
            return False
        _transition(
            order,
            from_=(S.AT_WMS,),
            to=S.CANCELED,
            event=EventKind.CANCELED,
            message="Canceled at the WMS, as in the cart.",
            hold_reasons=[],
            next_attempt_at=None,
            last_error="",
        )
    _resolve_canceled_after_delivery(order)
    return True


def order_cancel_refused_at_wms(order: Order, *, reason: str, retry_at: datetime) -> None:
    """The WMS will not cancel the order: say why on its timeline and alert; ask again later."""
    updated = Order.objects.filter(pk=order.pk, status=S.AT_WMS).update(
        last_error=reason, next_attempt_at=retry_at, updated_at=timezone.now()
    )
    if updated and order.last_error != reason:
        order_event(order, EventKind.ERROR, f"The WMS did not cancel it: {reason}")
        _alert_canceled_after_delivery(
            order,
            f"Order {order} was canceled in the cart after it reached the WMS, and the WMS did "
            f"not cancel it: {reason} Stop it at the warehouse, or refund the shipment.",
        )
    order.last_error, order.next_attempt_at = reason, retry_at


def shipment_resend_tracking(shipment: Shipment) -> bool:
    """Upload a shipment's tracking to the cart again."""
    updated = (
        Shipment.objects.filter(pk=shipment.pk)
        .exclude(upload_state__in=(UploadState.NOT_APPLICABLE, UploadState.UPLOADING))
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
