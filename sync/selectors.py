"""Reads about the engine's state for a tenant: alerts, runs, unhealthy connections."""

from __future__ import annotations

from django.db.models import QuerySet

from cartrover.tenancy import Tenant
from carts.models import CartConnection
from sync.models import Alert, JobRun, Schedule
from wms.models import Health, WmsConfig


def alerts_open(*, tenant: Tenant) -> QuerySet[Alert]:
    """Return the tenant's open alerts, newest first."""
    return (
        Alert.objects.visible_to(tenant)
        .filter(resolved_at__isnull=True)
        .select_related("merchant", "cart")
    )


def connections_unhealthy(*, tenant: Tenant) -> list[CartConnection | WmsConfig]:
    """Return the carts (and the WMS) that are not healthy, with their last error."""
    found: list[CartConnection | WmsConfig] = list(
        CartConnection.objects.visible_to(tenant)
        .exclude(health=Health.ACTIVE)
        .select_related("merchant")
    )
    found += list(WmsConfig.objects.visible_to(tenant).exclude(health=Health.ACTIVE))
    return found


def schedules_failing(*, tenant: Tenant) -> QuerySet[Schedule]:
    """Return the schedules whose last run failed."""
    return (
        Schedule.objects.visible_to(tenant)
        .filter(last_outcome="failed")
        .select_related("merchant", "cart")
        .order_by("-last_run_at")
    )


def job_runs(*, tenant: Tenant) -> QuerySet[JobRun]:
    """Return the tenant's job runs, newest first, with their targets."""
    return JobRun.objects.visible_to(tenant).select_related("merchant", "cart")
