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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from cartrover.adapters import AdapterError, AuthError, RateLimited
from sync.alerts import alert_open, alert_resolve
from sync.flows import Flow
from sync.flows.context import LeaseLost, RunContext
from sync.flows.delivery import orders_deliver
from sync.flows.download import orders_download
from sync.flows.inventory import inventory_receive, inventory_upload
from sync.flows.shipments import shipments_receive, shipments_upload
from sync.health import _target, _target_label, set_health
from sync.models import JobRun, Outcome, Schedule, Trigger, schedules_poke
from wms.models import Health

log = logging.getLogger(__name__)

FLOWS: dict[str, Callable[[RunContext], None]] = {
    Flow.DOWNLOAD: orders_download,
    Flow.DELIVERY: orders_deliver,
    Flow.SHIP_CONFIRM: shipments_receive,
    Flow.SHIPMENT_UPLOAD: shipments_upload,
    Flow.INVENTORY: inventory_receive,
    Flow.INVENTORY_UPLOAD: inventory_upload,
}

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
    schedules_poke(Schedule.objects.filter(pk=schedule.pk), timezone.now())
    if trigger != Trigger.SCHEDULE:
        Schedule.objects.filter(pk=schedule.pk).update(last_outcome=f"queued:{trigger}")
    from sync.tasks import tick_task

    transaction.on_commit(lambda: tick_task.delay())


# --- Running ------------------------------------------------------------------------------


def _backoff(failures: int, interval_minutes: int) -> timedelta:
    """Return the wait after `failures` consecutive failures: doubling, capped by the interval."""
    minutes = min(2 ** max(0, failures - 1), max(interval_minutes, 1), 60)
    return timedelta(minutes=minutes)


def schedule_run(schedule_id: int, token: str, *, now: datetime | None = None) -> JobRun | None:
    """Run the flow of a leased schedule; write its JobRun and next run. None if not ours."""
    now = now or timezone.now()
    # The claim's token becomes this run's own in one conditional update: a second delivery
    # of the same message (a broker redelivering an unacknowledged task) finds the claim
    # token gone and leaves without touching anything.
    own = uuid.uuid4().hex
    owned = Schedule.objects.filter(pk=schedule_id, lease_token=token, lease_until__gt=now).update(
        lease_token=own, lease_until=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    )
    if not owned:
        log.info("Schedule %s: lease no longer ours; skipping.", schedule_id)
        return None
    token = own
    schedule = Schedule.objects.select_related("merchant", "cart", "cart__merchant").get(
        pk=schedule_id
    )
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
        if context.more:
            next_run_at = now
        cursor = context.cursor or cursor
        target = None if context.idle else _target(schedule)
        if target is not None and target.health == Health.DEGRADED:
            set_health(schedule, Health.ACTIVE, "")
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
        set_health(schedule, Health.NEEDS_REAUTH, exc.message)
    except AdapterError as exc:
        outcome, error = Outcome.FAILED, exc.message
        failures += 1
        next_run_at = now + _backoff(failures, schedule.interval)
        context.log(f"Failed: {exc.message}")
        set_health(schedule, Health.DEGRADED, exc.message)
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
    upcoming: Any = Value(next_run_at, output_field=DateTimeField())
    if outcome in (Outcome.OK, Outcome.PARTIAL):
        # Poked while it ran (new orders stored meanwhile): it runs again at once.
        upcoming = Case(When(next_run_at__gt=now, then=F("next_run_at")), default=upcoming)
    Schedule.objects.filter(pk=schedule.pk, lease_token=token).update(
        lease_until=None,
        lease_token="",
        next_run_at=upcoming,
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
