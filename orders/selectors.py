"""Reads about orders, always scoped to a tenant, built to stay fast on millions of rows."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from cartrover.tenancy import Tenant
from carts.models import CartConnection
from orders.models import Order, OrderLine, OrderStatus

PAGE_SIZE = 50
STATUS_GROUPS = {
    "open": (OrderStatus.NEW, OrderStatus.SENDING, OrderStatus.AT_WMS),
    "done": (OrderStatus.SHIPPED, OrderStatus.CONFIRMED),
    "attention": (OrderStatus.HELD, OrderStatus.ERROR),
}


@dataclass
class OrderFilters:
    """What the order list is narrowed by; every field optional."""

    merchant: int | None = None
    cart: int | None = None
    status: str = ""
    placed_from: date | None = None
    placed_to: date | None = None
    q: str = ""


def orders_visible(*, tenant: Tenant) -> QuerySet[Order]:
    """Return the orders the tenant may see."""
    return Order.objects.visible_to(tenant)


def order_list(
    *, tenant: Tenant, filters: OrderFilters, after: str = ""
) -> tuple[list[Order], str]:
    """Return one page of orders, newest first, and the cursor of the next page ('' if last).

    Paging is by keyset (created_at, id), so page 1,000 costs what page 1 costs.
    """
    # The raw payload is the biggest column and the list never shows it.
    qs = (
        orders_visible(tenant=tenant)
        .select_related("merchant", "cart", "ship_method")
        .defer("raw_payload")
    )
    if filters.merchant:
        qs = qs.filter(merchant_id=filters.merchant)
    if filters.cart:
        qs = qs.filter(cart_id=filters.cart)
    if filters.status in STATUS_GROUPS:
        qs = qs.filter(status__in=STATUS_GROUPS[filters.status])
    elif filters.status:
        qs = qs.filter(status=filters.status)
    zone = timezone.get_current_timezone()
    if filters.placed_from:
        qs = qs.filter(placed_at__gte=datetime.combine(filters.placed_from, time.min, zone))
    if filters.placed_to:
        end = datetime.combine(filters.placed_to + timedelta(days=1), time.min, zone)
        qs = qs.filter(placed_at__lt=end)
    if term := filters.q.strip():
        qs = qs.filter(pk__in=_search(term, account_id=tenant.membership.account_id))
    if after:
        created, _, pk = after.partition("_")
        # A cursor that does not parse (edited by hand) is ignored: page one is shown.
        with contextlib.suppress(ValueError):
            at = datetime.fromisoformat(created)
            qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=int(pk)))
    rows = list(qs.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    cursor = ""
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        cursor = f"{last.created_at.isoformat()}_{last.pk}"
    return rows, cursor


def _search(term: str, *, account_id: int) -> QuerySet[Any]:
    """Return the ids of the account's orders that `term` names exactly.

    A number (with or without "#"), the cart's order id, the customer's e-mail (any case) or
    a SKU on a line. Each is one index lookup; their union is small, so the list filters by
    it instead of testing every order of the account against each condition.
    """
    carts = CartConnection.objects.filter(account_id=account_id).values("pk")
    ids = [
        Order.objects.filter(account_id=account_id, order_number__in=[term, f"#{term}"]),
        Order.objects.filter(cart_id__in=carts, external_id=term),
        Order.objects.filter(account_id=account_id, customer_email__iexact=term),
    ]
    lines = OrderLine.objects.filter(account_id=account_id).filter(Q(sku=term) | Q(wms_sku=term))
    first, *rest = [q.order_by().values("pk") for q in ids]
    return first.union(*rest, lines.order_by().values("order_id"))


def order_detail(*, tenant: Tenant, pk: int) -> Order:
    """Return one order with everything its page shows, or raise Http404."""
    from cartrover.tenancy import get_for_tenant_or_404

    qs = Order.objects.select_related("merchant", "cart", "ship_method").prefetch_related(
        "lines", "events", "shipments__lines"
    )
    return get_for_tenant_or_404(tenant, qs, pk=pk)


def status_counts(*, tenant: Tenant, merchant: int | None = None) -> dict[str, int]:
    """Return how many of the tenant's orders are in each status."""
    from django.db.models import Count

    qs = orders_visible(tenant=tenant)
    if merchant:
        qs = qs.filter(merchant_id=merchant)
    counts: dict[str, Any] = dict(
        qs.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in OrderStatus.values}


DAILY_KINDS = {"downloaded": "Downloaded", "delivered": "Delivered", "shipment_received": "Shipped"}


def daily_activity(
    *, tenant: Tenant, merchant: int | None = None, days: int = 30
) -> list[dict[str, Any]]:
    """Return, per day of the last `days`, how many orders were downloaded, delivered, shipped.

    One grouped query over the timeline, whatever the number of orders; `merchant` narrows it
    to one merchant's orders.
    """
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from orders.models import OrderEvent

    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    events = OrderEvent.objects.visible_to(tenant)
    if merchant:
        events = events.filter(order__merchant_id=merchant)
    rows = (
        events.filter(
            kind__in=DAILY_KINDS,
            at__gte=datetime.combine(start, time.min, timezone.get_current_timezone()),
        )
        .annotate(day=TruncDate("at"))
        .values("day", "kind")
        .annotate(n=Count("id"))
    )
    counts = {(r["day"], r["kind"]): r["n"] for r in rows}
    return [
        {
            "day": start + timedelta(days=i),
            **{kind: counts.get((start + timedelta(days=i), kind), 0) for kind in DAILY_KINDS},
        }
        for i in range(days)
    ]


HOLD_FIXES = {
    "manual": "Held by hand: open the order and release it when it may go.",
    "cancel_sending": "Sending was canceled: release the order to send it after all.",
    "canceled_in_cart": "Canceled in the cart after delivery: cancel it in the WMS.",
}


def holds_overview(*, tenant: Tenant) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return unmapped ship codes (merchant, code, orders held) and the other hold reasons."""
    from collections import Counter

    from orders.models import HoldReason

    held = (
        orders_visible(tenant=tenant)
        .filter(status=OrderStatus.HELD)
        .values_list("merchant_id", "merchant__name", "ship_method_code", "hold_reasons")
    )
    unmapped: Counter[tuple[int, str, str]] = Counter()
    other: Counter[str] = Counter()
    for merchant_id, merchant_name, code, reasons in held:
        for reason in reasons:
            if reason == HoldReason.UNMAPPED_SHIP_METHOD:
                unmapped[(merchant_id, merchant_name, code)] += 1
            else:
                other[reason] += 1
    codes = [
        {"merchant_id": m, "merchant": name, "code": code, "held": n}
        for (m, name, code), n in sorted(unmapped.items(), key=lambda kv: (kv[0][1], kv[0][2]))
    ]
    reasons = [
        {
            "reason": reason,
            "label": HoldReason(reason).label,
            "held": n,
            "fix": HOLD_FIXES.get(reason, ""),
        }
        for reason, n in sorted(other.items())
    ]
    return codes, reasons
