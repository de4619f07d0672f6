"""Shipment confirmations (WMS → hub) and shipment upload (hub → cart)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cartrover.adapters import (
    AdapterError,
    AuthError,
    BadPayload,
    CartShipment,
    RateLimited,
    ShipmentItem,
    WmsShipment,
)
from carts.services import cart_adapter
from orders import services as order_services
from orders.models import (
    EventKind,
    Order,
    OrderStatus,
    Shipment,
    ShipmentLine,
    UploadState,
)
from sync.alerts import alert_open, alert_resolve, rows_alert
from sync.flows.context import RunContext, aware, merchant_ref
from sync.flows.download import OVERLAP
from wms.adapters.base import WmsAdapter
from wms.services import wms_adapter, wms_config_of

S = OrderStatus


# Packages stored between two renewals of the run's lease.
HEARTBEAT_EVERY = 100


def shipments_receive(run: RunContext) -> None:
    """Fetch packages the WMS shipped and store them against their orders.

    Each package is committed as it is stored; the WMS is told to let go of what it handed
    over (a file WMS archives its shipment files) only after the last one and the alert about
    bad rows, so a run that dies before leaves the files to be read again.
    """
    merchant = run.schedule.merchant
    adapter = wms_adapter(wms_config_of(merchant.account_id))
    try:
        _shipments_receive(run, merchant, adapter)
        run.heartbeat()  # the files are let go of only by the run that owns the schedule
        adapter.acknowledge()
    finally:
        adapter.close()
        run.notes(adapter)


def _shipments_receive(run: RunContext, merchant: Any, adapter: WmsAdapter) -> None:
    cursor = run.schedule.cursor
    since = cursor - OVERLAP if cursor else None
    newest = cursor
    failed_rows: list[str] = []
    for seen, shipment in enumerate(adapter.fetch_shipments(merchant_ref(merchant), since), 1):
        if seen % HEARTBEAT_EVERY == 0:
            run.heartbeat()
        if isinstance(shipment, BadPayload):
            run.item_failed(shipment.message)
            failed_rows.append(shipment.message)
            continue
        shipped_at = aware(shipment.shipped_at)
        if shipped_at and (newest is None or shipped_at > newest):
            newest = min(shipped_at, run.now)
        order = order_for_shipment(merchant, shipment.order_key, shipment.order_number)
        if order is None:
            reason = (
                f"Shipment {shipment.tracking_number}: no order "
                f"{shipment.order_key or shipment.order_number} of {merchant} matches it."
            )
            run.item_failed(reason)
            failed_rows.append(reason)
            continue
        try:
            if shipment_record(order, shipment):
                run.count("shipments")
        except BadPayload as exc:
            run.item_failed(exc.message)
    run.cursor = newest
    rows_alert(merchant, "shipment_rows", failed_rows, "shipment confirmation")


def order_for_shipment(merchant: Any, key: str, number: str) -> Order | None:
    """Find the merchant's order a WMS shipment names, by the hub's key or a unique number."""
    orders = Order.objects.filter(merchant=merchant).select_related("cart")
    if key.startswith("H") and key[1:].isdigit():
        order = orders.filter(pk=int(key[1:])).first()
        if order is not None:
            return order
    if number:
        matches = list(orders.filter(order_number=number)[:2])
        if len(matches) == 1:
            return matches[0]
    return None


def shipment_record(order: Order, shipment: WmsShipment) -> bool:
    """Store one package once; move its order to shipped. Return whether it was new.

    Used by the ship-confirmation flow and by WMSes that post shipments to the API.
    """
    from carts.adapters import CART_KINDS

    tracking = shipment.tracking_number.strip()[:200]
    if not tracking:
        raise BadPayload(f"Order {order}: the WMS reported a shipment without tracking number.")
    takes_tracking = "shipments" in CART_KINDS.adapter_class(order.cart.kind).capabilities
    try:
        with transaction.atomic():
            stored, created = Shipment.objects.get_or_create(
                order=order,
                tracking_number=tracking,
                defaults={
                    "account_id": order.account_id,
                    "merchant_id": order.merchant_id,
                    "carrier": shipment.carrier[:100],
                    "service": shipment.service[:100],
                    "shipped_at": aware(shipment.shipped_at),
                    "warehouse": shipment.warehouse,
                    "upload_state": UploadState.PENDING
                    if takes_tracking
                    else UploadState.NOT_APPLICABLE,
                },
            )
            if created:
                ShipmentLine.objects.bulk_create(_shipment_lines(order, stored, shipment.items))
                # In the package's own transaction: a tracking upload running at the same time
                # must never see a package of an order that is not shipped yet, or the upload
                # would find nothing to confirm and the order would stay shipped for good.
                marked = order_services.order_mark_shipped(order, tracking_number=tracking)
    except IntegrityError:
        return False
    if not created:
        return False
    if not marked:
        order_services.order_event(
            order, EventKind.SHIPMENT_RECEIVED, f"Another package shipped: {tracking}."
        )
    if not takes_tracking:
        order_services.order_confirm_if_complete(order)
    return True


def _shipment_lines(
    order: Order, shipment: Shipment, items: Iterable[ShipmentItem]
) -> list[ShipmentLine]:
    """Match shipped SKUs to order lines (by cart line id, else by WMS SKU with room left)."""
    lines = list(order.lines.all())
    room = {li.pk: li.quantity for li in lines}
    result = []
    for item in items:
        match = next((li for li in lines if item.line_id and li.line_id == item.line_id), None)
        if match is None:
            match = next(
                (li for li in lines if (li.wms_sku or li.sku) == item.sku and room[li.pk] > 0),
                None,
            )
        if match is not None:
            room[match.pk] -= item.quantity
        result.append(
            ShipmentLine(
                account_id=order.account_id,
                shipment=shipment,
                order_line=match,
                sku=item.sku[:200],
                quantity=item.quantity,
            )
        )
    return result


# --- 4. Shipment upload (hub → cart) ------------------------------------------------------


def shipments_upload(run: RunContext) -> None:
    """Upload each due package's tracking to its cart, once; confirm complete orders.

    Each package is claimed (moved to `uploading` with a claim that expires) in one conditional
    update before its cart call, so two runs at once never post the same package. A package
    whose run died while uploading is taken up again once its claim has expired; the cart
    adapters recognise a tracking number the cart already has, so it is not posted twice.
    """
    cart = run.schedule.cart
    assert cart is not None
    adapter = cart_adapter(cart)
    retry_in = timedelta(minutes=settings.DELIVERY_RETRY_MINUTES)
    horizon = timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS)
    due = (
        Shipment.objects.filter(order__cart=cart)
        .filter(_upload_claimable(run.now))
        .select_related("order")
        .prefetch_related("lines__order_line")
        .order_by("created_at", "id")
    )
    batch = list(due[: settings.SHIPMENT_UPLOAD_MAX_PER_RUN])
    run.idle = not batch
    for shipment in batch:
        if run.out_of_time():
            break
        # The schedule's lease is checked before each cart call: a run that lost it stops
        # here, and the run holding it now takes the package up.
        run.heartbeat()
        claim = _shipment_upload_claim(shipment, run)
        if claim is None:
            continue
        order = shipment.order
        try:
            adapter.upload_shipment(cart_package(shipment))
        except (AuthError, RateLimited):
            _shipment_upload_release(shipment, claim)
            raise
        except AdapterError as exc:
            if not exc.permanent:
                _shipment_upload_release(shipment, claim)
                raise
            _shipment_upload_failed(shipment, exc.message, run, retry_in, horizon, claim=claim)
            continue
        # Marked uploaded and the order confirmed together: were the connection lost in
        # between, the order would stay shipped with nothing left to upload. Lost before the
        # commit, the package stays claimed until its claim expires and is uploaded again,
        # which the cart adapters recognise.
        with transaction.atomic():
            uploaded = Shipment.objects.filter(
                pk=shipment.pk, upload_state=UploadState.UPLOADING, upload_claimed_until=claim
            ).update(
                upload_state=UploadState.UPLOADED,
                upload_claimed_until=None,
                uploaded_at=run.now,
                last_error="",
            )
            if uploaded:
                shipment.upload_state = UploadState.UPLOADED
                order_services.order_event(
                    order,
                    EventKind.TRACKING_UPLOADED,
                    f"Tracking {shipment.tracking_number} uploaded to the cart.",
                )
                order_services.order_confirm_if_complete(order)
        if uploaded:
            run.count("uploaded")
    tracking_retrying_sync(cart)


def _upload_claimable(now: datetime) -> Q:
    """Match packages a run may claim: due and waiting, or left uploading by a run that died."""
    waiting = Q(upload_state=UploadState.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    abandoned = Q(upload_state=UploadState.UPLOADING) & (
        Q(upload_claimed_until__isnull=True) | Q(upload_claimed_until__lt=now)
    )
    return waiting | abandoned


def _shipment_upload_claim(shipment: Shipment, run: RunContext) -> datetime | None:
    """Claim one package for this run; return the claim's expiry, or None if another run has it.

    The expiry is also the claim's token: the run records the outcome only while the package
    still carries it. It counts from the later of the run's time and the wall clock, so a
    package claimed late in a long run is covered for a whole lease.
    """
    claim = max(run.now, timezone.now()) + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    claimed = (
        Shipment.objects.filter(pk=shipment.pk)
        .filter(_upload_claimable(run.now))
        .update(upload_state=UploadState.UPLOADING, upload_claimed_until=claim)
    )
    if not claimed:
        return None
    shipment.upload_state = UploadState.UPLOADING
    shipment.upload_claimed_until = claim
    return claim


def _shipment_upload_release(shipment: Shipment, claim: datetime) -> None:
    """Put a claimed package back to waiting, using no attempt (the cart did not refuse it)."""
    Shipment.objects.filter(
        pk=shipment.pk, upload_state=UploadState.UPLOADING, upload_claimed_until=claim
    ).update(upload_state=UploadState.PENDING, upload_claimed_until=None)


def cart_package(shipment: Shipment) -> CartShipment:
    """Return the package as the cart adapters take it, its items named by the order's lines."""
    order = shipment.order
    return CartShipment(
        order_external_id=order.external_id,
        order_number=order.order_number,
        tracking_number=shipment.tracking_number,
        carrier=shipment.carrier,
        service=shipment.service,
        shipped_at=shipment.shipped_at,
        items=[
            ShipmentItem(
                sku=line.order_line.sku if line.order_line else line.sku,
                quantity=line.quantity,
                line_id=line.order_line.line_id if line.order_line else "",
            )
            for line in shipment.lines.all()
        ],
    )


def tracking_retrying_sync(cart: Any) -> None:
    """Open or resolve the cart's alert about tracking numbers it refused and that retry."""
    retrying = Shipment.objects.filter(
        order__cart=cart,
        upload_state__in=(UploadState.PENDING, UploadState.UPLOADING),
        upload_attempts__gt=0,
    )
    first = retrying.select_related("order").order_by("created_at", "id").first()
    key = f"cart:{cart.pk}:tracking_retrying"
    if first is None:
        alert_resolve(key)
        return
    alert_open(
        account_id=cart.account_id,
        merchant_id=cart.merchant_id,
        cart_id=cart.pk,
        kind="tracking_retrying",
        key=key,
        message=f"{cart}: {retrying.count()} tracking number(s) were refused by the cart and "
        f"are retried every {settings.DELIVERY_RETRY_MINUTES} minutes, up to "
        f"{settings.DELIVERY_RETRY_HORIZON_DAYS} days (first: {first.tracking_number} of "
        f"order {first.order}: {first.last_error}). Fix the cause in the cart.",
    )


def _shipment_upload_failed(
    shipment: Shipment,
    error: str,
    run: RunContext,
    retry_in: timedelta,
    horizon: timedelta,
    *,
    claim: datetime,
) -> None:
    """Record the cart's refusal of a claimed package: retry later, or fail past the horizon.

    Only while the package still carries this run's claim: a package another run took over
    (or someone resent meanwhile) keeps what that run or person decided.
    """
    first = shipment.created_at
    give_up = run.now - first >= horizon
    recorded = Shipment.objects.filter(
        pk=shipment.pk, upload_state=UploadState.UPLOADING, upload_claimed_until=claim
    ).update(
        upload_attempts=F("upload_attempts") + 1,
        last_error=error,
        next_attempt_at=None if give_up else run.now + retry_in,
        upload_state=UploadState.FAILED if give_up else UploadState.PENDING,
        upload_claimed_until=None,
    )
    if not recorded:
        return
    order_services.order_event(
        shipment.order,
        EventKind.TRACKING_FAILED,
        f"The cart refused tracking {shipment.tracking_number}: {error}",
    )
    run.item_failed(f"Tracking {shipment.tracking_number} of order {shipment.order}: {error}")
    if give_up:
        alert_open(
            account_id=shipment.account_id,
            merchant_id=shipment.merchant_id,
            cart_id=shipment.order.cart_id,
            kind="tracking_failed",
            key=f"shipment:{shipment.pk}:failed",
            message=f"Tracking {shipment.tracking_number} of order {shipment.order} could not "
            f"be uploaded: {error}. Fix the cause, then resend the tracking.",
        )
