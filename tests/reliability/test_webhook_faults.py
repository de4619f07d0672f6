"""Webhooks arrive twice, out of order, a day late or not at all: each order is stored once,
keeps its newest content, and reaches the warehouse once.

The Shopify emulator posts its signed webhooks over a real socket to the hub's intake on the
live server. A webhook only says "look at this cart now"; the download reads the order from
the shop's API, so an old webhook body can never write old content over new.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import EventKind, Order, OrderStatus
from sandbox.clock import ManualClock
from sync.flows import Flow
from sync.models import Schedule, WebhookEvent
from tests.reliability.world import assert_exactly_once, socket_hub, tick, travel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def hub(world, settings, clock, live_server):
    """Start the socket hub, subscribe its shop to the hub's intake, tick once quietly."""
    hub = socket_hub(world, clock=clock)
    hub.download_and_delivery_only()
    address = live_server.url + reverse("cart_webhook", args=[hub.cart.webhook_key])
    for topic in ("orders/create", "orders/updated"):
        hub.shop.subscribe(topic, address)
    tick_now(clock)  # the first download and delivery: nothing yet
    yield hub
    hub.stop()


def download_due(hub) -> bool:
    schedule = Schedule.objects.get(cart=hub.cart, flow=Flow.DOWNLOAD)
    return schedule.next_run_at <= timezone.now()


def resend(hub, delivery) -> None:
    """Post a webhook the shop sent (or held back) again, byte for byte, to the hub."""
    for attempt in hub.shop.post_webhook(delivery.url, delivery.body, delivery.headers):
        assert attempt.status == 200, attempt.error


def tick_now(clock: ManualClock) -> None:
    """Tick at the test clock, first brought up to the wall clock if it is behind: a webhook
    makes its download due by the wall clock."""
    clock.set(max(clock.now(), timezone.now()))
    tick(clock.now())


def test_duplicated_reordered_and_dropped_webhooks_store_each_order_once_with_newest_content(
    hub, clock
):
    hub.shop.drop_webhooks(2)
    (placed,) = hub.take_orders(1)
    clock.advance(60)
    hub.shop.update_order(placed["id"], note="Leave it at the back door")
    created, updated = hub.shop.deliveries[-2:]
    assert (created.dropped, updated.dropped) == (True, True)
    assert not WebhookEvent.objects.filter(cart=hub.cart).exists()

    # orders/updated arrives first, twice; the download reads the order as it is now.
    hub.shop.duplicate_webhooks(1)
    resend(hub, updated)
    assert WebhookEvent.objects.filter(cart=hub.cart).count() == 1
    assert download_due(hub)
    tick_now(clock)
    order = Order.objects.get(cart=hub.cart, external_id=str(placed["id"]))
    assert order.notes == "Leave it at the back door"

    # orders/create arrives last: a new event, but nothing new to store.
    resend(hub, created)
    assert WebhookEvent.objects.filter(cart=hub.cart).count() == 2
    tick_now(clock)
    order.refresh_from_db()
    assert order.notes == "Leave it at the back door"
    assert order.events.filter(kind=EventKind.DOWNLOADED).count() == 1

    # An order whose only webhook never arrives waits for the next scheduled download.
    hub.shop.drop_webhooks(1)
    (unannounced,) = hub.take_orders(1)
    assert not download_due(hub)
    travel(clock, clock.now() + timedelta(minutes=5))

    assert Order.objects.filter(cart=hub.cart, external_id=str(unannounced["id"])).exists()
    assert Order.objects.filter(cart=hub.cart).count() == 2
    assert set(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        OrderStatus.AT_WMS
    }
    assert_exactly_once(hub)


def test_a_webhook_replayed_a_day_late_is_ignored_and_an_old_body_never_overwrites_newer_content(
    hub, clock
):
    # Delivery keeps to its hourly schedule, so the order is still editable while it changes.
    merchant = hub.cart.merchant
    merchant.deliver_on_download = False
    merchant.save()
    (placed,) = hub.take_orders(1)
    tick_now(clock)
    clock.advance(60)
    hub.shop.update_order(placed["id"], note="Ring twice")
    first_update = hub.shop.deliveries[-1]
    tick_now(clock)
    clock.advance(60)
    hub.shop.update_order(placed["id"], note="Ring twice, then knock")
    tick_now(clock)
    order = Order.objects.get(cart=hub.cart, external_id=str(placed["id"]))
    assert order.notes == "Ring twice, then knock"
    newest = order.payload_hash

    # A day later; the hub's tick runs what fell due meanwhile (the hourly delivery).
    clock.advance(timedelta(days=1).total_seconds())
    tick_now(clock)
    order.refresh_from_db()
    assert order.status == OrderStatus.AT_WMS
    runs_before = Schedule.objects.get(cart=hub.cart, flow=Flow.DOWNLOAD).runs.count()

    # The same delivery again, a day later: its event id is known, so nothing happens.
    resend(hub, first_update)
    assert WebhookEvent.objects.filter(cart=hub.cart).count() == 3
    assert not download_due(hub)
    # The old body under a new event id: the hub downloads, and the shop's order is newer.
    hub.shop.send_webhook("orders/updated", first_update.json)
    assert WebhookEvent.objects.filter(cart=hub.cart).count() == 4
    assert download_due(hub)
    tick_now(clock)

    assert Schedule.objects.get(cart=hub.cart, flow=Flow.DOWNLOAD).runs.count() == runs_before + 1
    order.refresh_from_db()
    assert order.notes == "Ring twice, then knock"
    assert order.raw_payload["note"] == "Ring twice, then knock"
    assert order.payload_hash == newest
    assert order.events.filter(kind=EventKind.UPDATED).count() == 2
    assert order.events.filter(kind=EventKind.DELIVERED).count() == 1
    assert_exactly_once(hub)
