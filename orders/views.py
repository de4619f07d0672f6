"""Order screens: the list (filters, search, keyset pages, bulk actions) and the detail."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cartrover.tenancy import Tenant, get_for_tenant_or_404, tenant_required
from orders import selectors, services
from orders.forms import OrderFilterForm
from orders.models import Order, OrderStatus, Shipment, ShipMethodMapping

S = OrderStatus

# Action name → (label, service, statuses it applies to, asks for confirmation).
ACTIONS: dict[str, tuple[str, Callable[[Order], bool], tuple[str, ...], bool]] = {
    "release": ("Release", lambda o: services.order_release(o), (S.HELD,), False),
    "resend": ("Resend to WMS", services.order_resend, (S.ERROR, S.AT_WMS), True),
    "cancel_sending": ("Cancel sending", services.order_cancel_sending, (S.NEW, S.HELD), True),
}


def actions_for(order: Order) -> list[tuple[str, str, bool]]:
    """Return (name, label, needs confirmation) of the actions allowed in the order's status."""
    return [
        (name, label, confirm)
        for name, (label, _, statuses, confirm) in ACTIONS.items()
        if order.status in statuses
    ]


def _back(request: HttpRequest) -> HttpResponse:
    """Redirect to the list the user came from, never to another site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect("order_list")


@tenant_required
def order_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    form = OrderFilterForm(request.GET or None, tenant=tenant)
    filters = form.filters() if request.GET else selectors.OrderFilters()
    orders, next_cursor = selectors.order_list(
        tenant=tenant, filters=filters, after=request.GET.get("after", "")
    )
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "orders/list.html",
        {
            "form": form,
            "orders": orders,
            "next_cursor": next_cursor,
            "query": query.urlencode(),
            "bulk_actions": ACTIONS,
        },
    )


@tenant_required
def order_detail(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    order = selectors.order_detail(tenant=tenant, pk=pk)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "actions": actions_for(order),
            "raw": json.dumps(order.raw_payload, indent=2, sort_keys=True, ensure_ascii=False),
        },
    )


@tenant_required
@require_POST
def order_action(request: HttpRequest, tenant: Tenant, pk: int, action: str) -> HttpResponse:
    order = get_for_tenant_or_404(tenant, Order, pk=pk)
    if action not in ACTIONS:
        messages.error(request, f"Unknown action {action!r}.")
        return redirect("order_detail", pk=order.pk)
    label, service, statuses, confirm = ACTIONS[action]
    if confirm and request.POST.get("confirmed") != "yes":
        return render(
            request,
            "orders/confirm.html",
            {
                "orders": [order],
                "action": action,
                "label": label,
            },
        )
    if order.status in statuses and service(order):
        messages.success(request, f"{label}: done for order {order}.")
    else:
        messages.error(
            request,
            f"{label} is not possible for order {order} in status "
            f"{order.get_status_display().lower()}.",
        )
    return redirect("order_detail", pk=order.pk)


@tenant_required
@require_POST
def orders_bulk(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    action = request.POST.get("action", "")
    ids = [int(i) for i in request.POST.getlist("order") if i.isdigit()]
    orders = list(selectors.orders_visible(tenant=tenant).filter(pk__in=ids))
    if action not in ACTIONS or not orders:
        messages.error(request, "Choose an action and at least one order.")
        return _back(request)
    label, service, statuses, confirm = ACTIONS[action]
    if confirm and request.POST.get("confirmed") != "yes":
        return render(
            request,
            "orders/confirm.html",
            {
                "orders": orders,
                "action": action,
                "label": label,
                "next": request.POST.get("next", ""),
            },
        )
    done = sum(1 for o in orders if o.status in statuses and service(o))
    skipped = len(orders) - done
    messages.success(
        request,
        f"{label}: {done} order(s) done"
        + (f", {skipped} skipped (not in a status that allows it)." if skipped else "."),
    )
    return _back(request)


@tenant_required
@require_POST
def shipment_resend(request: HttpRequest, tenant: Tenant, pk: int) -> HttpResponse:
    shipment = get_for_tenant_or_404(tenant, Shipment.objects.select_related("order"), pk=pk)
    if services.shipment_resend_tracking(shipment):
        messages.success(request, f"Tracking {shipment.tracking_number} will be uploaded again.")
    else:
        messages.error(request, "This cart takes no tracking.")
    return redirect("order_detail", pk=shipment.order_id)


@tenant_required
def holds(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """List unmapped ship codes with the orders they hold; map one in place."""
    from merchants.models import Merchant
    from wms.models import WmsShipMethod

    methods = WmsShipMethod.objects.visible_to(tenant).filter(active=True)
    if request.method == "POST":
        merchant = get_for_tenant_or_404(tenant, Merchant, pk=request.POST.get("merchant"))
        method = methods.filter(pk=request.POST.get("ship_method") or 0).first()
        code = request.POST.get("code", "")
        if method is None:
            messages.error(request, f"Choose the WMS ship method for {code!r}.")
        else:
            released = services.ship_method_map(
                merchant=merchant, cart_code=code, ship_method=method
            )
            from sync.ingest import unmapped_sync

            unmapped_sync(merchant)
            messages.success(
                request,
                f"{code!r} of {merchant} now ships as {method}: {released} order(s) released.",
            )
        return redirect("holds")
    codes, reasons = selectors.holds_overview(tenant=tenant)
    mappings = (
        ShipMethodMapping.objects.visible_to(tenant)
        .select_related("merchant", "ship_method")
        .order_by("merchant__name", "cart_code")
    )
    return render(
        request,
        "orders/holds.html",
        {
            "codes": codes,
            "reasons": reasons,
            "methods": methods,
            "mappings": mappings,
        },
    )


@tenant_required
def inventory(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Stock by SKU and warehouse, and per cart what the next upload would send and why."""
    from carts.models import CartConnection
    from orders.models import InventoryLevel
    from sync.flows.inventory import inventory_plan

    levels = InventoryLevel.objects.visible_to(tenant).select_related("merchant")
    q = request.GET.get("q", "").strip()
    if q:
        levels = levels.filter(sku__icontains=q)
    carts = CartConnection.objects.visible_to(tenant).select_related("merchant")
    cart = None
    plan = []
    if (cart_id := request.GET.get("cart", "")).isdigit():
        cart = get_for_tenant_or_404(tenant, carts, pk=int(cart_id))
        plan = inventory_plan(cart)
    return render(
        request,
        "orders/inventory.html",
        {
            "levels": levels.order_by("merchant__name", "sku", "warehouse")[:500],
            "q": q,
            "carts": carts,
            "cart": cart,
            "plan": plan,
        },
    )
