"""The scheduler: schedule rows kept in step with settings, claimed by leases, run once each.

PostgreSQL is the source of truth. Beat's tick claims due rows (`SKIP LOCKED`, so two ticks
never claim the same row) by writing a lease, then enqueues one task per row. The task runs
only if the lease is still its own, renews it as it goes, and at the end writes the JobRun, the
next run time and frees the lease. A lost message or a dead worker leaves a lease that expires;
the next tick claims the row again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cartrover.adapters import AdapterError, AuthError, RateLimited
from carts.adapters import CART_KINDS
from carts.models import CartConnection
from sync.alerts import alert_open, alert_resolve
from sync.flows import CART_FLOWS, MERCHANT_FLOWS, Flow
from sync.models import JobRun, Outcome, Schedule, Trigger
from sync.services import FLOWS, LeaseLost, RunContext
from wms.models import Health, WmsConfig

log = logging.getLogger(__name__)

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


# --- Claiming -----------------------------------------------------------------------------


def schedules_claim(
    *, now: datetime | None = None, limit: int | None = None
) -> tuple[list[int], str]:
    """Lease due schedules to this caller; return their ids and the lease token.

    With PostgreSQL the due rows are locked with SKIP LOCKED, so concurrent claimers get
    disjoint rows. SQLite serializes writers (the transaction takes the write lock first).
    """
    now = now or timezone.now()
    limit = limit or settings.SYNC_CLAIM_LIMIT
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = (
            Schedule.objects.filter(enabled=True, next_run_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("next_run_at")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            Schedule.objects.filter(pk__in=ids).update(
                lease_until=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS),
                lease_token=token,
            )
    return ids, token


def schedule_run_now(schedule: Schedule, *, trigger: str = Trigger.MANUAL) -> None:
    """Make a schedule due now (run now, a webhook); many pokes coalesce into one run."""
    Schedule.objects.filter(pk=schedule.pk, next_run_at__gt=timezone.now()).update(
        next_run_at=timezone.now()
    )
    if trigger != Trigger.SCHEDULE:
        Schedule.objects.filter(pk=schedule.pk).update(last_outcome=f"queued:{trigger}")
    from sync.tasks import tick_task

    transaction.on_commit(lambda: tick_task.delay())


# --- Running ------------------------------------------------------------------------------


def _backoff(failures: int, interval_minutes: int) -> timedelta:
    """Return the wait after `failures` consecutive failures: doubling, capped by the interval."""
    minutes = min(2 ** max(0, failures - 1), max(interval_minutes, 1), 60)
    return timedelta(minutes=minutes)


def _target(schedule: Schedule) -> CartConnection | WmsConfig | None:
    if schedule.cart_id:
        return schedule.cart
    return WmsConfig.objects.filter(account_id=schedule.account_id).first()


def _target_label(schedule: Schedule) -> str:
    if schedule.cart_id:
        return f"cart {schedule.cart} of {schedule.merchant}"
    return f"the WMS (for {schedule.merchant})"


def _set_health(schedule: Schedule, health: str, error: str) -> None:
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


def schedule_run(schedule_id: int, token: str, *, now: datetime | None = None) -> JobRun | None:
    """Run the flow of a leased schedule; write its JobRun and next run. None if not ours."""
    now = now or timezone.now()
    schedule = (
        Schedule.objects.select_related("merchant", "cart", "cart__merchant")
        .filter(pk=schedule_id, lease_token=token, lease_until__gt=now)
        .first()
    )
    if schedule is None:
        log.info("Schedule %s: lease no longer ours; skipping.", schedule_id)
        return None
    trigger = Trigger.SCHEDULE
    if schedule.last_outcome.startswith("queued:"):
        trigger = Trigger(schedule.last_outcome.split(":", 1)[1])
    # We hold the lease, so a run of this schedule still marked running lost its worker
    # (killed, or its database connection cut) and will never finish: say so in its row.
    JobRun.objects.filter(schedule=schedule, outcome=Outcome.RUNNING).update(
        finished_at=now,
        outcome=Outcome.FAILED,
        error="The worker stopped before this run finished (it was killed or lost its "
        "database connection). The next run took the work up again.",
    )
    run = JobRun.objects.create(
        account_id=schedule.account_id,
        merchant_id=schedule.merchant_id,
        cart_id=schedule.cart_id,
        schedule=schedule,
        flow=schedule.flow,
        trigger=trigger,
        started_at=now,
    )

    def heartbeat() -> None:
        renewed = Schedule.objects.filter(pk=schedule.pk, lease_token=token).update(
            lease_until=timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        )
        if not renewed:
            raise LeaseLost(f"Schedule {schedule.pk} was claimed by another worker.")

    context = RunContext(schedule=schedule, now=now, heartbeat=heartbeat)
    failures = schedule.consecutive_failures
    interval = timedelta(minutes=max(schedule.interval, 1))
    next_run_at = now + interval
    cursor = schedule.cursor
    error = ""
    try:
        FLOWS[schedule.flow](context)
        outcome = Outcome.PARTIAL if context.partial else Outcome.OK
        failures = 0
        cursor = context.cursor or cursor
        target = None if context.idle else _target(schedule)
        if target is not None and target.health == Health.DEGRADED:
            _set_health(schedule, Health.ACTIVE, "")
    except LeaseLost as exc:
        context.log(str(exc))
        JobRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(),
            outcome=Outcome.FAILED,
            error=str(exc),
            counts=dict(context.counts),
            log="\n".join(context.lines),
        )
        return run
    except RateLimited as exc:
        outcome, error = Outcome.DEFERRED, exc.message
        next_run_at = now + timedelta(seconds=max(exc.retry_after, 1))
        context.log(f"Rate limited: {exc.message} Next try in {exc.retry_after:g} s.")
    except AuthError as exc:
        outcome, error = Outcome.FAILED, exc.message
        failures += 1
        context.log(f"Credentials refused: {exc.message}")
        _set_health(schedule, Health.NEEDS_REAUTH, exc.message)
    except AdapterError as exc:
        outcome, error = Outcome.FAILED, exc.message
        failures += 1
        next_run_at = now + _backoff(failures, schedule.interval)
        context.log(f"Failed: {exc.message}")
        _set_health(schedule, Health.DEGRADED, exc.message)
    except Exception as exc:
        log.exception("Schedule %s (%s) failed", schedule.pk, schedule.flow)
        outcome = Outcome.FAILED
        error = f"Internal error ({type(exc).__name__}): {exc}"
        failures += 1
        next_run_at = now + _backoff(failures, schedule.interval)
        context.log(error)

    finished = timezone.now()
    JobRun.objects.filter(pk=run.pk).update(
        finished_at=finished,
        outcome=outcome,
        counts=dict(context.counts),
        error=error,
        log="\n".join(context.lines),
    )
    Schedule.objects.filter(pk=schedule.pk, lease_token=token).update(
        lease_until=None,
        lease_token="",
        next_run_at=next_run_at,
        cursor=cursor,
        consecutive_failures=failures,
        last_run_at=now,
        last_outcome=outcome,
    )
    _failure_alert(schedule, failures, error)
    run.refresh_from_db()
    return run


def _failure_alert(schedule: Schedule, failures: int, error: str) -> None:
    key = f"schedule:{schedule.pk}:failing"
    if failures >= settings.SYNC_ALERT_AFTER_FAILURES:
        alert_open(
            account_id=schedule.account_id,
            merchant_id=schedule.merchant_id,
            cart_id=schedule.cart_id,
            kind="flow_failing",
            key=key,
            message=f"{schedule.get_flow_display()} of {_target_label(schedule)} failed "
            f"{failures} times in a row: {error}",
        )
    elif failures == 0:
        alert_resolve(key)


def schedule_run_once(schedule: Schedule, *, trigger: str = Trigger.MANUAL) -> JobRun | None:
    """Take the lease of one schedule now (if free) and run it in this process."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        Schedule.objects.filter(pk=schedule.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_until=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS),
            lease_token=token,
            last_outcome=f"queued:{trigger}",
        )
    )
    if not taken:
        return None
    return schedule_run(schedule.pk, token, now=now)
