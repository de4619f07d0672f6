"""Tracking uploads claimed package by package: two runs at once, or a run that died midway,
still post each tracking number to the shop exactly once.

The hub talks to the emulated Shopify shop and Extensiv warehouse over loopback sockets and
runs its flows in this process, the way a worker runs them. Before each cart call a run claims
the package in one conditional update (`uploading`, with a claim that expires); a run that
lost its schedule's lease stops before its next cart call. "Exactly once" is judged by the
shop's own fulfillments.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from carts.services import cart_adapter
from orders.models import Order, OrderStatus, Shipment, UploadState
from sandbox.server import Request, Response
from sync.flows import CART_FLOWS, Flow
from sync.flows.shipments import cart_package
from sync.models import JobRun, Outcome, Schedule
from sync.scheduler import schedule_run_once
from tests.reliability.world import SocketHub, assert_exactly_once, socket_hub

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

S = OrderStatus
SPLIT = "1ZSPLIT00001"
WAIT = 30.0


@pytest.fixture
def hub(world):
    hub = socket_hub(world)
    yield hub
    hub.stop()


def run(hub: SocketHub, flow: str) -> JobRun:
    """Run one flow of the hub's merchant or cart now, as a worker would for its schedule."""
    if flow in CART_FLOWS:
        schedule = Schedule.objects.get(cart=hub.cart, flow=flow)
    else:
        schedule = Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow=flow)
    job = schedule_run_once(schedule)
    assert job is not None, f"{flow} could not take its lease"
    return job


def orders_at_warehouse(hub: SocketHub, count: int) -> None:
    """Have the shop take `count` orders and the hub download and deliver them."""
    hub.take_orders(count, notify=False)
    run(hub, Flow.DOWNLOAD)
    run(hub, Flow.DELIVERY)
    assert Counter(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        S.AT_WMS: count
    }


def trackings_at_shop(hub: SocketHub) -> Counter:
    """Count the shop's fulfillments per tracking number."""
    with hub.shop.lock:
        return Counter(
            number
            for fulfillment in hub.shop.fulfillments.values()
            for number in fulfillment.get("tracking_numbers") or []
        )


def hold_first_fulfillment_of(
    hub: SocketHub, tracking: str
) -> tuple[threading.Event, threading.Event]:
    """Hold the shop's first fulfillment request for `tracking`, unprocessed, until `release`.

    Returns (`held`, set once the request is being held; `release`). Later requests pass.
    """
    held, release = threading.Event(), threading.Event()
    taken = threading.Lock()
    answer = hub.shop.handle

    def handle(request: Request) -> Response | None:
        body = request.body if isinstance(request.body, dict) else {}
        number = (body.get("fulfillment") or {}).get("tracking_info", {}).get("number")
        if request.method == "POST" and request.path.endswith("/fulfillments.json"):
            with taken:
                first = number == tracking and not held.is_set()
                if first:
                    held.set()
            if first:
                release.wait(WAIT)
        return answer(request)

    hub.shop.handle = handle  # type: ignore[method-assign]
    return held, release


def test_two_upload_runs_at_once_post_each_tracking_to_the_shop_once(hub):
    """Run A's lease runs out while the shop holds its first request; run B takes over.

    The held request is a split package (one unit of a line of two), which the shop would
    accept twice: B must leave it to A, which claimed it, and A must stop at its next cart
    call, since the schedule is B's now.
    """
    orders_at_warehouse(hub, 2)
    with hub.warehouse.lock:
        orders = dict(hub.warehouse.orders)
    split = next(i for i, o in orders.items() if any(it["qty"] >= 2 for it in o["orderItems"]))
    item = next(it for it in orders[split]["orderItems"] if it["qty"] >= 2)
    hub.warehouse.ship(split, [{"tracking": SPLIT, "items": [(item["itemIdentifier"]["sku"], 1)]}])
    full = hub.ship_everything()
    run(hub, Flow.SHIP_CONFIRM)
    assert Shipment.objects.filter(upload_state=UploadState.PENDING).count() == 2
    held, release = hold_first_fulfillment_of(hub, SPLIT)
    runs_of_a: list[JobRun | None] = []
    errors_of_a: list[BaseException] = []

    def run_a() -> None:
        try:
            runs_of_a.append(run(hub, Flow.SHIPMENT_UPLOAD))
        except BaseException as exc:
            errors_of_a.append(exc)
        finally:
            connection.close()

    a = threading.Thread(target=run_a, name="upload-run-a")
    a.start()
    try:
        assert held.wait(WAIT), f"run A never posted {SPLIT}: {errors_of_a}"
        # The stalled worker's lease runs out and the next tick gives the schedule to B.
        upload = Schedule.objects.get(cart=hub.cart, flow=Flow.SHIPMENT_UPLOAD)
        Schedule.objects.filter(pk=upload.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        run_b = run(hub, Flow.SHIPMENT_UPLOAD)
    finally:
        release.set()
        a.join(WAIT)
    assert not a.is_alive(), "run A never finished"
    assert not errors_of_a, errors_of_a

    assert run_b.outcome == Outcome.OK, run_b.log
    assert trackings_at_shop(hub) == dict.fromkeys([SPLIT, *full], 1)
    assert set(Shipment.objects.values_list("upload_state", flat=True)) == {UploadState.UPLOADED}
    split_order = Shipment.objects.get(tracking_number=SPLIT).order
    assert split_order.status == S.SHIPPED  # the rest of its line is still to ship
    assert Order.objects.exclude(pk=split_order.pk).get().status == S.CONFIRMED


def test_a_package_whose_run_died_after_the_shop_took_it_is_uploaded_again_once(hub):
    """The dead run posted the package and never recorded it: the package is left
    `uploading` with a claim that has run out. The next run uploads it again; the shop
    recognises the tracking number and keeps one fulfillment."""
    orders_at_warehouse(hub, 1)
    [tracking] = hub.ship_everything()
    run(hub, Flow.SHIP_CONFIRM)
    shipment = Shipment.objects.select_related("order").get(tracking_number=tracking)
    cart_adapter(hub.cart).upload_shipment(cart_package(shipment))
    Shipment.objects.filter(pk=shipment.pk).update(
        upload_state=UploadState.UPLOADING,
        upload_claimed_until=timezone.now() - timedelta(seconds=1),
    )
    assert trackings_at_shop(hub) == {tracking: 1}

    upload = run(hub, Flow.SHIPMENT_UPLOAD)

    assert upload.outcome == Outcome.OK, upload.log
    assert upload.counts.get("uploaded") == 1
    assert trackings_at_shop(hub) == {tracking: 1}
    shipment.refresh_from_db()
    assert shipment.upload_state == UploadState.UPLOADED
    assert shipment.upload_claimed_until is None
    assert Order.objects.get(pk=shipment.order_id).status == S.CONFIRMED
    assert_exactly_once(hub)


def test_a_package_another_run_is_uploading_is_left_alone_until_its_claim_runs_out(hub):
    orders_at_warehouse(hub, 1)
    [tracking] = hub.ship_everything()
    run(hub, Flow.SHIP_CONFIRM)
    claimed = Shipment.objects.filter(tracking_number=tracking)
    claimed.update(
        upload_state=UploadState.UPLOADING,
        upload_claimed_until=timezone.now() + timedelta(hours=1),
    )

    left_alone = run(hub, Flow.SHIPMENT_UPLOAD)

    assert left_alone.outcome == Outcome.OK, left_alone.log
    assert trackings_at_shop(hub) == {}
    assert claimed.get().upload_state == UploadState.UPLOADING
    assert Order.objects.get(cart=hub.cart).status == S.SHIPPED

    claimed.update(upload_claimed_until=timezone.now() - timedelta(seconds=1))
    taken_up = run(hub, Flow.SHIPMENT_UPLOAD)

    assert taken_up.counts.get("uploaded") == 1
    assert trackings_at_shop(hub) == {tracking: 1}
    assert claimed.get().upload_state == UploadState.UPLOADED
    assert Order.objects.get(cart=hub.cart).status == S.CONFIRMED
    assert_exactly_once(hub)


def test_an_order_is_not_confirmed_while_one_of_its_packages_is_still_uploading(hub):
    """Two packages of one order: another run holds the first; this run uploads the second.

    The order is confirmed only once the first reached the shop too.
    """
    orders_at_warehouse(hub, 2)
    with hub.warehouse.lock:
        orders = dict(hub.warehouse.orders)
    split = next(i for i, o in orders.items() if len(o["orderItems"]) >= 2)
    first, *rest = orders[split]["orderItems"]
    hub.warehouse.ship(
        split,
        [
            {"tracking": "1ZPART00001", "items": [(first["itemIdentifier"]["sku"], first["qty"])]},
            {
                "tracking": "1ZPART00002",
                "items": [(item["itemIdentifier"]["sku"], item["qty"]) for item in rest],
            },
        ],
    )
    hub.ship_everything()
    run(hub, Flow.SHIP_CONFIRM)
    claimed = Shipment.objects.filter(tracking_number="1ZPART00001")
    claimed.update(
        upload_state=UploadState.UPLOADING,
        upload_claimed_until=timezone.now() + timedelta(hours=1),
    )
    split_order = claimed.get().order

    run(hub, Flow.SHIPMENT_UPLOAD)

    assert trackings_at_shop(hub)["1ZPART00002"] == 1
    assert "1ZPART00001" not in trackings_at_shop(hub)
    assert Order.objects.get(pk=split_order.pk).status == S.SHIPPED

    claimed.update(upload_claimed_until=timezone.now() - timedelta(seconds=1))
    run(hub, Flow.SHIPMENT_UPLOAD)

    assert Order.objects.get(pk=split_order.pk).status == S.CONFIRMED
    assert_exactly_once(hub)
