"""Screens for the account's merchants. Every view starts from the tenant's scope."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from merchants import selectors
from merchants.models import Merchant


@tenant_required
def dashboard(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    from orders import selectors as order_selectors
    from sync import selectors as sync_selectors

    activity = order_selectors.daily_activity(tenant=tenant)
    peak = max(
        [1] + [max(d["downloaded"], d["delivered"], d["shipment_received"]) for d in activity]
    )
    return render(
        request,
        "dashboard.html",
        {
            "merchants": selectors.merchants_visible(tenant=tenant),
            "counts": order_selectors.status_counts(tenant=tenant),
            "activity": activity,
            "peak": peak,
            "alerts": sync_selectors.alerts_open(tenant=tenant)[:20],
            "unhealthy": sync_selectors.connections_unhealthy(tenant=tenant),
            "failing": sync_selectors.schedules_failing(tenant=tenant)[:10],
        },
    )


@tenant_required
def merchant_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    merchants = selectors.merchants_visible(tenant=tenant)
    return render(request, "merchants/list.html", {"merchants": merchants})


@tenant_required
def merchant_detail(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    from carts.views import schedule_state
    from sync.models import Schedule

    merchant = get_for_tenant_or_404(tenant, Merchant, pk=pk)
    members = selectors.members_visible(tenant=tenant).filter(merchant=merchant)
    schedules = Schedule.objects.filter(merchant=merchant, cart__isnull=True).order_by("flow")
    return render(
        request,
        "merchants/detail.html",
        {
            "merchant": merchant,
            "members": members,
            "carts": merchant.carts.all(),
            "schedules": [(s, schedule_state(s)) for s in schedules],
        },
    )
