"""Screens for the account's merchants. Every view starts from the tenant's scope."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from api.outbound import webhook_endpoint_create
from api.screens import WebhookEndpointForm, webhook_endpoints_page
from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from merchants import selectors
from merchants.forms import InviteForm, MerchantForm, ProfileForm
from merchants.models import Merchant
from merchants.services import merchant_user_invite, user_invite


@tenant_required
def dashboard(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return render(
        request,
        "dashboard.html",
        {**_overview(tenant), "merchants": selectors.merchants_visible(tenant=tenant)},
    )


def _overview(tenant: Tenant, merchant: Merchant | None = None) -> dict[str, Any]:
    """Return what the dashboard shows, for the whole account or for one merchant."""
    from orders import selectors as order_selectors
    from sync import selectors as sync_selectors

    pk = merchant.pk if merchant else None
    activity = order_selectors.daily_activity(tenant=tenant, merchant=pk)
    peak = max(
        [1] + [max(d["downloaded"], d["delivered"], d["shipment_received"]) for d in activity]
    )
    return {
        "scope": merchant,
        "counts": order_selectors.status_counts(tenant=tenant, merchant=pk),
        "activity": activity,
        "peak": peak,
        "alerts": sync_selectors.alerts_open(tenant=tenant, merchant=pk)[:20],
        "unhealthy": sync_selectors.connections_unhealthy(tenant=tenant, merchant=pk),
        "failing": sync_selectors.schedules_failing(tenant=tenant, merchant=pk)[:10],
    }


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
            **_overview(tenant, merchant),
            "merchant": merchant,
            "members": members,
            "carts": merchant.carts.all(),
            "schedules": [(s, schedule_state(s)) for s in schedules],
            "endpoints": merchant.webhook_endpoints.all(),
        },
    )


@tenant_required
def merchant_new(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    if tenant.is_merchant_user:
        raise Http404("No such page.")
    form = MerchantForm(request.POST or None, account=tenant.account)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            merchant = form.save()
            if form.cleaned_data.get("invite_email"):
                merchant_user_invite(
                    merchant=merchant,
                    email=form.cleaned_data["invite_email"],
                    name=form.cleaned_data.get("invite_name", ""),
                    request=request,
                )
            endpoint = secret = None
            if form.cleaned_data.get("webhook_url"):
                endpoint, secret = webhook_endpoint_create(
                    merchant=merchant, url=form.cleaned_data["webhook_url"]
                )
        note = " An invitation is on its way." if form.cleaned_data.get("invite_email") else ""
        messages.success(request, f"Merchant {merchant} added.{note} Add its carts next.")
        if endpoint is not None:
            # The signing secret is shown once, so show it now rather than after a redirect.
            return webhook_endpoints_page(
                request, merchant, WebhookEndpointForm(), created=endpoint, secret=secret
            )
        return redirect("merchant_detail", pk=merchant.pk)
    return render(request, "merchants/form.html", {"form": form})


@tenant_required
def merchant_edit(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    merchant = get_for_tenant_or_404(tenant, Merchant, pk=pk)
    form = MerchantForm(request.POST or None, instance=merchant, account=tenant.account)
    if request.method == "POST" and form.is_valid():
        form.save()
        state = "" if merchant.active else " It is deactivated: its flows stopped."
        messages.success(request, f"Merchant {merchant} saved.{state}")
        return redirect("merchant_detail", pk=merchant.pk)
    return render(request, "merchants/form.html", {"form": form, "merchant": merchant})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("profile")
    return render(request, "merchants/profile.html", {"form": form})


@tenant_required
def users(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Account admins invite people, change roles and remove them."""
    if not tenant.is_admin:
        raise Http404("No such page.")
    form = InviteForm(request.POST or None, account=tenant.account)
    if request.method == "POST" and form.is_valid():
        user_invite(
            account=tenant.account,
            email=form.cleaned_data["email"],
            name=form.cleaned_data.get("name", ""),
            role=form.cleaned_data["role"],
            merchant=form.cleaned_data.get("merchant"),
            request=request,
        )
        messages.success(request, f"{form.cleaned_data['email']} is invited.")
        return redirect("users")
    members = selectors.members_visible(tenant=tenant)
    return render(request, "merchants/users.html", {"form": form, "members": members})


@tenant_required
@require_POST
def user_remove(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    from merchants.models import Membership

    if not tenant.is_admin:
        raise Http404("No such page.")
    membership = get_for_tenant_or_404(tenant, Membership.objects.select_related("user"), pk=pk)
    if membership.pk == tenant.membership.pk:
        messages.error(request, "You cannot remove yourself.")
    else:
        membership.delete()
        messages.success(request, f"{membership.user} no longer has access to the account.")
    return redirect("users")
