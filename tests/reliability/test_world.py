"""The exactly-once check holds on a quiet day and names what broke when something doubles."""

from __future__ import annotations

import pytest

from sync.models import Schedule
from sync.scheduler import schedule_run_once
from tests.reliability.world import assert_exactly_once, exactly_once_problems, socket_hub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(world, clock):
    hub = socket_hub(world, clock=clock)
    yield hub
    hub.stop()


def run(hub, flow: str) -> None:
    schedule = Schedule.objects.get(
        flow=flow,
        **(
            {"cart": hub.cart}
            if flow in ("download", "shipment_upload", "inventory_upload")
            else {"merchant": hub.cart.merchant, "cart": None}
        ),
    )
    assert schedule_run_once(schedule) is not None


def test_every_order_reaches_the_warehouse_and_every_tracking_the_shop_once(hub):
    hub.take_orders(5)
    for flow in ("download", "delivery"):
        run(hub, flow)
    hub.ship_everything()
    for flow in ("ship_confirm", "shipment_upload"):
        run(hub, flow)

    assert_exactly_once(hub)


def test_an_order_posted_twice_to_the_warehouse_is_reported(hub):
    hub.take_orders(1)
    for flow in ("download", "delivery"):
        run(hub, flow)
    order = hub.cart.orders.get()
    hub.warehouse.orders[999] = {**hub.warehouse.order(min(hub.warehouse.orders))}

    assert exactly_once_problems(hub) == [
        f"order {order.order_number} ({order.key}) is at the WMS 2 times"
    ]


def test_an_order_never_downloaded_is_reported(hub):
    hub.take_orders(1)

    problems = exactly_once_problems(hub)

    assert len(problems) == 1
    assert problems[0].startswith("orders the shop took but the hub never stored")
