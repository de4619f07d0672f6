"""Cart services: test connection and webhook subscription."""

from __future__ import annotations

import pytest

from carts.services import cart_test_connection, cart_webhooks_register
from sync.models import Alert, Schedule
from sync.scheduler import schedule_run_once
from wms.models import Health

pytestmark = pytest.mark.django_db


def test_a_failed_test_says_what_to_fix_and_a_passing_one_resumes_the_cart(hub):
    hub.cart.setup = {**hub.cart.setup, "failure": "auth"}
    hub.cart.save()
    schedule_run_once(hub.schedule("download"))
    ok, message = cart_test_connection(hub.cart)
    assert not ok
    assert "refused the API key" in message
    hub.cart.setup = {**hub.cart.setup, "failure": "none"}
    hub.cart.save()
    ok, message = cart_test_connection(hub.cart)
    assert ok and "Connected to sandbox store" in message
    hub.cart.refresh_from_db()
    assert hub.cart.health == Health.ACTIVE
    assert Schedule.objects.get(cart=hub.cart, flow="download").enabled
    assert not Alert.objects.filter(resolved_at__isnull=True, kind="needs_reauth").exists()


def test_webhooks_are_subscribed_at_the_hubs_public_address_once(hub, settings):
    settings.PUBLIC_URL = "https://hub.example.com/"
    assert cart_webhooks_register(hub.cart) == ["orders/create", "orders/updated"]
    cart_webhooks_register(hub.cart)
    subscriptions = list(hub.store.records("webhook_subscription"))
    assert [s["address"] for s in subscriptions] == [
        f"https://hub.example.com/hooks/carts/{hub.cart.webhook_key}/"
    ]


def test_no_public_address_means_no_subscription(hub, settings):
    settings.PUBLIC_URL = ""
    assert cart_webhooks_register(hub.cart) == []
    assert not list(hub.store.records("webhook_subscription"))
