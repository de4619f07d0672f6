"""A new order in the shop reaches the hub by webhook within seconds; the schedule is the net.

The Shopify emulator posts its signed webhooks over a real socket to the hub's live server;
the test then plays the tick (claim due schedules, run them) as beat and a worker would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from carts.models import CartConnection
from sync.models import Schedule, WebhookEvent
from sync.scheduler import schedule_run, schedules_claim
from tests.carts.test_shopify import credentials, start_shop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    shop = start_shop(rate_limit=False)
    yield shop
    shop.stop()


@pytest.fixture
def cart(world, shop, live_server):
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="shopify",
        order_source="Shopify",
        credentials=credentials(shop),
    )
    address = live_server.url + reverse("cart_webhook", args=[cart.webhook_key])
    for topic in ("orders/create", "orders/updated"):
        shop.subscribe(topic, address)
    # The first download has run; the next scheduled one is far away.
    Schedule.objects.filter(cart=cart, flow="download").update(
        next_run_at=timezone.now() + timedelta(minutes=5), cursor=timezone.now()
    )
    return cart


def tick() -> int:
    """Claim due schedules and run the downloads among them, as beat and a worker would."""
    ids, token = schedules_claim()
    for schedule_id in ids:
        schedule_run(schedule_id, token)
    return len(ids)


def test_a_webhook_makes_the_new_order_downloaded_at_the_next_tick(shop, cart):
    order = shop.add_order()
    assert WebhookEvent.objects.filter(cart=cart).count() == 1
    tick()
    assert cart.orders.filter(external_id=str(order["id"])).exists()


def test_a_duplicated_webhook_changes_nothing(shop, cart):
    shop.duplicate_webhooks(1)
    shop.add_order()
    assert len([d for d in shop.deliveries if not d.dropped]) == 2
    assert WebhookEvent.objects.filter(cart=cart).count() == 1
    tick()
    assert cart.orders.count() == 1


def test_a_dropped_webhook_is_caught_by_the_schedule(shop, cart):
    shop.drop_webhooks(1)
    order = shop.add_order()
    assert not WebhookEvent.objects.filter(cart=cart).exists()
    tick()
    assert not cart.orders.exists()  # nothing was due yet
    Schedule.objects.filter(cart=cart, flow="download").update(next_run_at=timezone.now())
    tick()
    assert cart.orders.filter(external_id=str(order["id"])).exists()
