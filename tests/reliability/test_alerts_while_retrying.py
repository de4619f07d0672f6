"""Someone hears of a refusal while the hub still retries it, and health follows real calls."""

from __future__ import annotations

import pytest
from django.utils import timezone

from orders.models import Shipment
from sync.models import Alert, Schedule
from sync.scheduler import schedule_run_once
from tests.hub import retry_time_passed
from tests.reliability.world import assert_exactly_once, socket_hub
from wms.models import Health, WmsConfig

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(world, clock):
    hub = socket_hub(world, clock=clock)
    yield hub
    hub.stop()


def run(hub, flow: str):
    if flow in ("download", "shipment_upload", "inventory_upload"):
        schedule = Schedule.objects.get(cart=hub.cart, flow=flow)
    else:
        schedule = Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow=flow)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
    ran = schedule_run_once(Schedule.objects.get(pk=schedule.pk))
    assert ran is not None
    return ran


def open_alerts(kind: str):
    return Alert.objects.filter(kind=kind, resolved_at__isnull=True)


def test_a_tracking_number_the_cart_refuses_opens_an_alert_until_it_is_taken(hub):
    hub.take_orders(2, notify=False)
    for flow in ("download", "delivery"):
        run(hub, flow)
    hub.ship_everything()
    run(hub, "ship_confirm")
    hub.shop.fail_next(1, status=422)

    refused = run(hub, "shipment_upload")

    assert refused.outcome == "partial"
    [alert] = open_alerts("tracking_retrying")
    assert "refused by the cart" in alert.message and "422" in alert.message
    Shipment.objects.update(next_attempt_at=None)  # the retry hour has passed
    run(hub, "shipment_upload")
    assert not open_alerts("tracking_retrying").exists()
    assert_exactly_once(hub)


def test_a_degraded_wms_stays_degraded_until_a_run_really_reaches_it(hub):
    hub.take_orders(1, notify=False)
    run(hub, "download")
    hub.warehouse.fail_next(3, status=503)
    run(hub, "delivery")
    assert WmsConfig.objects.get().health == Health.DEGRADED

    idle = run(hub, "delivery")  # the order waits an hour: nothing is sent

    assert idle.outcome == "ok"
    assert WmsConfig.objects.get().health == Health.DEGRADED
    hub.warehouse.clear_faults()
    retry_time_passed()
    run(hub, "delivery")
    assert WmsConfig.objects.get().health == Health.ACTIVE
    assert_exactly_once(hub)
