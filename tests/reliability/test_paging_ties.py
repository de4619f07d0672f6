"""Six hundred orders share one `updated_at` second across Shopify's 250-order pages, and the
merchant edits two of them while the hub is between pages: every order is stored once, none is
skipped, and both edited orders reach the warehouse with their newest content.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from orders.models import Order, OrderStatus
from sandbox.server import Request, Response
from sandbox.shopify import ShopifyEmulator
from sync.flows import Flow
from sync.models import JobRun, Schedule
from sync.scheduler import schedule_run_now
from tests.reliability.world import assert_exactly_once, socket_hub, tick, travel

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ORDERS = 600
PAGE = 250


class ShopEditedMidDownload(ShopifyEmulator):
    """A shop whose merchant edits orders while a client is reading the order pages."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Order-list page number (from the last arming) → (order id, new note) to apply
        # before serving that page.
        self.edits: dict[int, list[tuple[int, str]]] = {}
        self.order_pages = 0

    def edit_before_page(self, page: int, edits: list[tuple[int, str]]) -> None:
        """Give orders a new note just before the `page`-th order page from now is served."""
        with self.lock:
            self.order_pages = 0
            self.edits = {page: edits}

    def before(self, request: Request) -> Response | None:
        refusal = super().before(request)
        if refusal is None and request.path.endswith("/orders.json"):
            with self.lock:
                self.order_pages += 1
                due = self.edits.pop(self.order_pages, [])
            for order_id, note in due:
                self.update_order(order_id, note=note)
        return refusal


@pytest.fixture
def hub(world, settings, clock):
    hub = socket_hub(world, clock=clock, shop_class=ShopEditedMidDownload)
    hub.download_and_delivery_only()
    # Delivery keeps to its hourly schedule, so the next download comes before it.
    hub.cart.merchant.deliver_on_download = False
    hub.cart.merchant.save()
    clock.set(timezone.now())
    tick(clock.now())  # the first runs, of an empty shop; the next delivery is an hour away
    yield hub
    hub.stop()


def test_orders_sharing_one_second_across_pages_are_stored_once_and_edits_mid_download_kept(
    hub, clock
):
    taken = hub.take_orders(ORDERS, notify=False)
    assert len({order["updated_at"] for order in taken}) == 1
    on_first_page, on_last_page = taken[9]["id"], taken[2 * PAGE + 59]["id"]
    # The next download, five minutes later; the merchant edits while it waits for page two.
    hub.shop.edit_before_page(
        2, [(on_first_page, "Edited after page one"), (on_last_page, "Edited too")]
    )
    clock.advance(5 * 60)

    (first,) = tick(clock.now())

    assert (first.flow, first.counts["new"]) == (Flow.DOWNLOAD, ORDERS)
    assert hub.shop.order_pages == 3
    stored = dict(Order.objects.filter(cart=hub.cart).values_list("external_id", "notes"))
    assert sorted(stored) == sorted(str(order["id"]) for order in taken)
    assert stored[str(on_last_page)] == "Edited too"

    # The next scheduled download, then "Run now" on the delivery.
    travel(clock, clock.now() + timedelta(minutes=5))
    schedule_run_now(Schedule.objects.get(merchant=hub.cart.merchant, flow=Flow.DELIVERY))
    tick(clock.now())

    second = (
        JobRun.objects.filter(cart=hub.cart, flow=Flow.DOWNLOAD, started_at__gt=first.started_at)
        .order_by("started_at")
        .first()
    )
    assert second is not None and second.counts.get("updated") == 1
    orders = {o.external_id: o for o in Order.objects.filter(cart=hub.cart)}
    assert len(orders) == ORDERS
    assert orders[str(on_first_page)].notes == "Edited after page one"
    assert orders[str(on_last_page)].notes == "Edited too"
    assert {o.status for o in orders.values()} == {OrderStatus.AT_WMS}
    with hub.warehouse.lock:
        notes = {o["referenceNum"]: o.get("notes") for o in hub.warehouse.orders.values()}
    assert notes[orders[str(on_first_page)].key] == "Edited after page one"
    assert notes[orders[str(on_last_page)].key] == "Edited too"
    assert_exactly_once(hub)
