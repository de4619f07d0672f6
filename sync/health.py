"""Connection health and the schedules that follow it.

A connection (a cart, the account's WMS) is active, degraded, needs new credentials or is paused.
Its schedules are kept in step with its settings and its health: a connection that needs new
credentials has its schedules paused and an alert open until a passing test resumes them.
Both the flows (through the scheduler) and the screens that test a connection call this module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from cartrover.adapters import AdapterError
from carts.adapters import CART_KINDS
from carts.models import CartConnection
from sync.alerts import alert_open, alert_resolve
from sync.flows import CART_FLOWS, MERCHANT_FLOWS, Flow
from sync.models import Schedule
from wms.models import Health, WmsConfig

UNHEALTHY = (Health.NEEDS_REAUTH, Health.PAUSED)
CART_FLOW_CAPABILITY = {
    Flow.DOWNLOAD: "orders",
    Flow.SHIPMENT_UPLOAD: "shipments",
    Flow.INVENTORY_UPLOAD: "inventory",
}


# --- Keeping schedules in step with settings ----------------------------------------------


def _upsert(
    *, merchant: Any, cart: CartConnection | None, flow: str, interval: int, enabled: bool
) -> None:
    lookup = {"flow": flow, "merchant": merchant, "cart": cart}
    row = Schedule.objects.filter(**lookup).first()
    if row is None:
        Schedule.objects.create(
            account_id=merchant.account_id,
            interval=interval or 0,
            enabled=enabled,
            next_run_at=timezone.now(),
            **lookup,
        )
        return
    changes: dict[str, Any] = {}
    if row.interval != interval:
        changes["interval"] = interval
        # A shorter interval takes effect now, not after the old, longer wait.
        if interval and row.last_run_at:
            changes["next_run_at"] = min(
                row.next_run_at, row.last_run_at + timedelta(minutes=interval)
            )
    if row.enabled != enabled:
        changes["enabled"] = enabled
        if enabled:
            changes["next_run_at"] = timezone.now()
            changes["consecutive_failures"] = 0
    if changes:
        Schedule.objects.filter(pk=row.pk).update(**changes)


def schedules_sync_cart(cart: CartConnection) -> None:
    """Create or update the cart's three schedules from its settings and health."""
    try:
        capabilities = CART_KINDS.adapter_class(cart.kind).capabilities
    except AdapterError:
        capabilities = frozenset()
    usable = cart.active and cart.merchant.active and cart.health not in UNHEALTHY
    for flow in CART_FLOWS:
        interval = cart.interval_for(flow)
        enabled = usable and interval > 0 and CART_FLOW_CAPABILITY[flow] in capabilities
        _upsert(merchant=cart.merchant, cart=cart, flow=flow, interval=interval, enabled=enabled)


def schedules_sync_merchant(merchant: Any) -> None:
    """Create or update the merchant's three WMS schedules, and its carts' schedules."""
    config = WmsConfig.objects.filter(account_id=merchant.account_id).first()
    wms_ok = config is not None and config.health not in UNHEALTHY
    for flow in MERCHANT_FLOWS:
        interval = merchant.interval_for(flow)
        enabled = merchant.active and wms_ok and interval > 0
        _upsert(merchant=merchant, cart=None, flow=flow, interval=interval, enabled=enabled)
    for cart in merchant.carts.all():
        schedules_sync_cart(cart)


def schedules_sync_account(account_id: int) -> None:
    """Bring every schedule of an account in step (after its WMS changed)."""
    from merchants.models import Merchant

    for merchant in Merchant.objects.filter(account_id=account_id):
        schedules_sync_merchant(merchant)


def _target(schedule: Schedule) -> CartConnection | WmsConfig | None:
    if schedule.cart_id:
        return schedule.cart
    return WmsConfig.objects.filter(account_id=schedule.account_id).first()


def _target_label(schedule: Schedule) -> str:
    if schedule.cart_id:
        return f"cart {schedule.cart} of {schedule.merchant}"
    return f"the WMS (for {schedule.merchant})"


def set_health(schedule: Schedule, health: str, error: str) -> None:
    """Record the health of the schedule's connection; keep schedules and alerts in step."""
    target = _target(schedule)
    if target is None or (target.health == health and target.last_error == error):
        return
    model = type(target)
    fields: dict[str, Any] = {"health": health, "last_error": error}
    if model is CartConnection:
        fields["health_changed_at"] = timezone.now()
    else:
        fields["updated_at"] = timezone.now()
    model.objects.filter(pk=target.pk).update(**fields)
    target.health, target.last_error = health, error
    if isinstance(target, CartConnection):
        schedules_sync_cart(target)
        key = f"cart:{target.pk}:auth"
    else:
        schedules_sync_account(target.account_id)
        key = f"wms:{target.account_id}:auth"
    if health == Health.NEEDS_REAUTH:
        alert_open(
            account_id=schedule.account_id,
            merchant_id=schedule.merchant_id if schedule.cart_id else None,
            cart_id=schedule.cart_id,
            kind="needs_reauth",
            key=key,
            message=f"{error} Its schedules are paused until the credentials are fixed "
            f"({_target_label(schedule)}).",
        )
    elif health == Health.ACTIVE:
        alert_resolve(key)


def connection_healthy(target: CartConnection | WmsConfig) -> None:
    """Mark a connection healthy again (after a passing test); resume its schedules."""
    model = type(target)
    model.objects.filter(pk=target.pk).update(health=Health.ACTIVE, last_error="")
    target.health, target.last_error = Health.ACTIVE, ""
    if isinstance(target, CartConnection):
        schedules_sync_cart(target)
        alert_resolve(f"cart:{target.pk}:auth")
    else:
        schedules_sync_account(target.account_id)
        alert_resolve(f"wms:{target.account_id}:auth")
