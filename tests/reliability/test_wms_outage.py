"""The warehouse goes down for days: orders wait and are retried hourly, people are told, and
when it comes back every order arrives once; past the retry horizon orders go to error and a
resend delivers them once.

Time travels: the emulators and the hub read one test clock, and the tick jumps from one due
schedule to the next (`travel`), so two days or two weeks take seconds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from orders.models import EventKind, Order, OrderStatus
from sync.flows import DAILY
from sync.models import Alert, JobRun, Outcome
from tests.reliability.world import assert_exactly_once, socket_hub, travel
from wms.models import Health, WmsConfig

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DOWN = 10**6  # requests the warehouse fails: more than any outage here makes


@pytest.fixture
def hub(world, settings, clock):
    hub = socket_hub(world, clock=clock)
    yield hub
    hub.stop()


def open_alert_kinds(hub) -> set[str]:
    return set(
        Alert.objects.filter(account=hub.cart.account, resolved_at__isnull=True).values_list(
            "kind", flat=True
        )
    )


def delivery_runs(hub, outcome: str) -> int:
    return JobRun.objects.filter(
        merchant=hub.cart.merchant, flow="delivery", outcome=outcome
    ).count()


def test_wms_down_for_two_days_is_retried_hourly_then_every_order_arrives_once(hub, clock):
    merchant, cart = hub.cart.merchant, hub.cart
    # Hourly delivery and shipment confirmations; what plays no part here runs daily or not
    # at all, so two simulated days stay quick to compute.
    merchant.delivery_interval = merchant.ship_confirm_interval = 60
    merchant.inventory_interval = 0
    merchant.save()
    cart.download_interval = DAILY
    cart.shipment_upload_interval = 0
    cart.save()
    hub.take_orders(4, notify=False)
    hub.warehouse.fail_next(DOWN, status=503)
    start = clock.now()

    travel(clock, start + timedelta(days=2))

    orders = list(Order.objects.filter(cart=cart))
    assert len(orders) == 4
    # Claimed in one batch, which is sent again as it was: never selected anew.
    assert {o.status for o in orders} == {OrderStatus.SENDING}
    assert len({o.delivery_batch_id for o in orders}) == 1
    # Hourly, not in a hot loop and not given up: about one attempt per hour of the outage.
    attempts = {o.delivery_attempts for o in orders}
    assert len(attempts) == 1 and 44 <= min(attempts) <= 49
    assert 44 <= delivery_runs(hub, Outcome.FAILED) <= 49
    assert not hub.warehouse.orders
    assert {"delivery_retrying", "flow_failing"} <= open_alert_kinds(hub)
    retrying = Alert.objects.get(kind="delivery_retrying", resolved_at__isnull=True)
    assert "4 order(s) could not be delivered" in retrying.message

    hub.warehouse.clear_faults()
    travel(clock, clock.now() + timedelta(hours=2))

    assert set(Order.objects.filter(cart=cart).values_list("status", flat=True)) == {
        OrderStatus.AT_WMS
    }
    assert {o.delivery_attempts for o in Order.objects.filter(cart=cart)} == attempts
    assert open_alert_kinds(hub) == set()
    assert WmsConfig.objects.get(account=cart.account).health == Health.ACTIVE
    assert_exactly_once(hub)


def test_wms_down_past_the_retry_horizon_puts_orders_in_error_and_a_resend_delivers_once(
    hub, clock, client, world
):
    merchant = hub.cart.merchant
    # A merchant delivering daily: two weeks of outage are a few dozen runs. Flows that play
    # no part here are off.
    merchant.delivery_interval = DAILY
    merchant.ship_confirm_interval = merchant.inventory_interval = 0
    merchant.save()
    hub.cart.download_interval = DAILY
    hub.cart.shipment_upload_interval = 0
    hub.cart.save()
    hub.take_orders(3, notify=False)
    hub.warehouse.fail_next(DOWN, status=503)
    start = clock.now()

    travel(clock, start + timedelta(days=settings.DELIVERY_RETRY_HORIZON_DAYS + 1))

    orders = list(Order.objects.filter(cart=hub.cart))
    assert {o.status for o in orders} == {OrderStatus.ERROR}
    for order in orders:
        assert "503" in order.last_error
        gave_up = order.events.get(kind=EventKind.ERROR)
        assert gave_up.message.startswith(f"Gave up delivering after {order.delivery_attempts}")
        assert "resend the order" in gave_up.message
    errors = Alert.objects.get(kind="order_errors", resolved_at__isnull=True)
    assert "3 order(s) in error" in errors.message
    assert "delivery_retrying" not in open_alert_kinds(hub)

    hub.warehouse.clear_faults()
    client.force_login(world.staff)
    answer = client.post(
        reverse("orders_bulk"),
        {"action": "resend", "confirmed": "yes", "order": [o.pk for o in orders]},
    )
    assert answer.status_code == 302
    assert set(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        OrderStatus.NEW
    }
    travel(clock, clock.now() + timedelta(days=1, minutes=5))

    assert set(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        OrderStatus.AT_WMS
    }
    assert "order_errors" not in open_alert_kinds(hub)
    assert_exactly_once(hub)
