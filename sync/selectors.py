"""Reads about the engine's state for a tenant: alerts, runs, unhealthy connections."""

from __future__ import annotations

from django.db.models import QuerySet

from cartrover.tenancy import Tenant
from carts.models import CartConnection
from sync.models import Alert, JobRun, Schedule
from wms.models import Health, WmsConfig


def alerts_open(*, tenant: Tenant, merchant: int | None = None) -> QuerySet[Alert]:
    """Return the tenant's open alerts, newest first; `merchant` keeps that merchant's."""
    alerts = Alert.objects.visible_to(tenant).filter(resolved_at__isnull=True)
    if merchant:
        alerts = alerts.filter(merchant_id=merchant)
    return alerts.select_related("merchant", "cart")


def connections_unhealthy(
    *, tenant: Tenant, merchant: int | None = None
) -> list[CartConnection | WmsConfig]:
    """Return the carts (and the WMS, which every merchant depends on) that are not healthy."""
    carts = CartConnection.objects.visible_to(tenant).exclude(health=Health.ACTIVE)
    if merchant:
        carts = carts.filter(merchant_id=merchant)
    found: list[CartConnection | WmsConfig] = list(carts.select_related("merchant"))
    found += list(WmsConfig.objects.visible_to(tenant).exclude(health=Health.ACTIVE))
    return found


def schedules_failing(*, tenant: Tenant, merchant: int | None = None) -> QuerySet[Schedule]:
    """Return the schedules whose last run failed; `merchant` keeps that merchant's."""
    schedules = Schedule.objects.visible_to(tenant).filter(last_outcome="failed")
    if merchant:
        schedules = schedules.filter(merchant_id=merchant)
    return schedules.select_related("merchant", "cart").order_by("-last_run_at")


def job_runs(*, tenant: Tenant) -> QuerySet[JobRun]:
    """Return the tenant's job runs, newest first, with their targets."""
    return JobRun.objects.visible_to(tenant).select_related("merchant", "cart")
