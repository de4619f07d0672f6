"""Activity (job runs with their logs) and alerts, scoped to the tenant."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from sync import selectors
from sync.flows import Flow
from sync.models import JobRun, Outcome

PAGE = 100


@tenant_required
def activity(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    runs = selectors.job_runs(tenant=tenant)
    flow, outcome = request.GET.get("flow", ""), request.GET.get("outcome", "")
    if flow in Flow.values:
        runs = runs.filter(flow=flow)
    if outcome in Outcome.values:
        runs = runs.filter(outcome=outcome)
    if merchant := request.GET.get("merchant", ""):
        runs = runs.filter(merchant_id=merchant) if merchant.isdigit() else runs
    return render(
        request,
        "sync/activity.html",
        {
            "runs": runs.defer("log")[:PAGE],
            "flows": Flow.choices,
            "outcomes": Outcome.choices,
            "flow": flow,
            "outcome": outcome,
        },
    )


@tenant_required
def job_run_detail(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    run = get_for_tenant_or_404(tenant, JobRun.objects.select_related("merchant", "cart"), pk=pk)
    return render(request, "sync/job_run.html", {"run": run})


@tenant_required
def alerts(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    from sync.models import Alert

    every = Alert.objects.visible_to(tenant).select_related("merchant", "cart")
    return render(
        request,
        "sync/alerts.html",
        {
            "open": every.filter(resolved_at__isnull=True)[:200],
            "resolved": every.filter(resolved_at__isnull=False).order_by("-resolved_at")[:100],
        },
    )
