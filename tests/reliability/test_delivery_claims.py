"""Deliveries under concurrency: claims before the WMS call, runs that own their lease.

Each scenario holds the emulated warehouse at a chosen moment (a test-side wrapper around its
request handler), does something at the same time (a cancel in the shop, a second delivery of
the same task, a second worker claiming the schedule) and ends with the exactly-once oracle.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from orders.models import HoldReason, Order, OrderStatus
from sandbox.server import Request, Response
from sync.models import Alert, DeliveryBatch, JobRun, Outcome, Schedule
from sync.scheduler import schedule_run, schedule_run_once, schedules_claim
from tests.hub import retry_time_passed
from tests.reliability.world import SocketHub, assert_exactly_once, socket_hub

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

S = OrderStatus


@pytest.fixture
def hub(world, settings):
    hub = socket_hub(world)
    hub.download_and_delivery_only()
    yield hub
    hub.stop()


class Gate:
    """Hold the warehouse's order creations until the test lets them through.

    `arrived()` waits for the next held creation; `let_one()` lets one through; `open()` lets
    every one through from now on. Every wait is bounded.
    """

    def __init__(self, hub: SocketHub) -> None:
        self._arrived = threading.Semaphore(0)
        self._passes = threading.Semaphore(0)
        self._open = threading.Event()
        answer = hub.warehouse.handle

        def handle(request: Request) -> Response | None:
            if request.method == "POST" and request.path == "/orders":
                self._arrived.release()
                deadline = time.monotonic() + 30
                while not self._open.is_set() and time.monotonic() < deadline:
                    if self._passes.acquire(timeout=0.05):
                        break
            return answer(request)

        hub.warehouse.handle = handle  # type: ignore[method-assign]

    def arrived(self) -> None:
        assert self._arrived.acquire(timeout=30), "no order creation reached the warehouse"

    def let_one(self) -> None:
        self._passes.release()

    def open(self) -> None:
        self._open.set()


class InThread:
    """Run `work` in a thread with its own database connection; `join()` returns its result."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = work()
            except BaseException as exc:
                self.error = exc
            finally:
                connection.close()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self) -> Any:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the run did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def schedule_of(hub: SocketHub, flow: str) -> Schedule:
    if flow == "download":
        return Schedule.objects.get(cart=hub.cart, flow=flow)
    return Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow=flow)


def run(hub: SocketHub, flow: str) -> JobRun:
    """Run one flow now, in this thread, as a worker would."""
    schedule = schedule_of(hub, flow)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
    ran = schedule_run_once(Schedule.objects.get(pk=schedule.pk))
    assert ran is not None
    return ran


def created_at_warehouse(hub: SocketHub) -> Counter:
    with hub.warehouse.lock:
        return Counter(o["referenceNum"] for o in hub.warehouse.orders.values())


def test_a_cancel_arriving_while_its_batch_is_at_the_wms_is_alerted_not_lost(hub):
    taken = hub.take_orders(3, notify=False)
    run(hub, "download")
    gate = Gate(hub)
    delivery = InThread(lambda: run(hub, "delivery"))
    gate.arrived()  # the first order is on its way to the warehouse

    hub.shop.cancel_order(taken[0]["id"])
    run(hub, "download")  # sees the cancel while the batch is at the WMS
    canceled = Order.objects.get(cart=hub.cart, external_id=str(taken[0]["id"]))
    assert canceled.status == S.SENDING
    assert HoldReason.CANCELED_IN_CART in canceled.hold_reasons
    gate.open()
    assert delivery.join().outcome == Outcome.OK

    canceled.refresh_from_db()
    # The warehouse has it: the hub says so, and a person is told to cancel it there.
    assert created_at_warehouse(hub)[canceled.key] == 1
    assert canceled.status == S.AT_WMS
    alert = Alert.objects.get(kind="canceled_after_delivery", resolved_at__isnull=True)
    assert str(canceled) in alert.message
    assert canceled.events.filter(kind="canceled").exists()
    assert_exactly_once(hub)


def test_a_cancel_of_an_order_the_wms_then_refuses_cancels_it(hub):
    taken = hub.take_orders(1, notify=False)
    run(hub, "download")
    gate = Gate(hub)
    delivery = InThread(lambda: run(hub, "delivery"))
    gate.arrived()
    hub.shop.cancel_order(taken[0]["id"])
    run(hub, "download")
    hub.warehouse.fail_next(1, status=400)  # the creation being held is refused
    gate.open()
    delivery.join()

    order = Order.objects.get(cart=hub.cart)
    assert order.status == S.CANCELED
    assert created_at_warehouse(hub) == Counter()
    assert not Alert.objects.filter(kind="canceled_after_delivery", resolved_at__isnull=True)
    assert_exactly_once(hub)


def test_a_redelivered_task_finds_the_run_going_and_touches_nothing(hub):
    hub.take_orders(3, notify=False)
    run(hub, "download")
    schedule = schedule_of(hub, "delivery")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
    ids, token = schedules_claim()
    assert schedule.pk in ids
    gate = Gate(hub)
    first = InThread(lambda: schedule_run(schedule.pk, token))
    gate.arrived()

    # The broker hands the same message to a second worker (its visibility timeout passed).
    assert schedule_run(schedule.pk, token) is None
    assert JobRun.objects.get(schedule=schedule).outcome == Outcome.RUNNING
    gate.open()

    assert first.join().outcome == Outcome.OK
    assert JobRun.objects.filter(schedule=schedule).count() == 1
    assert set(created_at_warehouse(hub).values()) == {1}
    assert_exactly_once(hub)


def test_a_wms_slower_than_the_lease_keeps_the_run_its_own(hub, settings):
    settings.SYNC_LEASE_SECONDS = 2
    settings.SYNC_RUN_SECONDS = 1
    hub.take_orders(4, notify=False)
    run(hub, "download")
    hub.warehouse.set_latency(0.5)  # eight requests: about four seconds, twice the lease
    schedule = schedule_of(hub, "delivery")
    gate = Gate(hub)
    first = InThread(lambda: run(hub, "delivery"))
    gate.arrived()  # the run is at work
    gate.open()

    # Meanwhile other workers' ticks look for due schedules, for as long as the run goes.
    claimed_by_others = []
    deadline = time.monotonic() + 30
    while first.thread.is_alive() and time.monotonic() < deadline:
        Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
        ids, token = schedules_claim()
        if schedule.pk in ids:
            claimed_by_others.append(schedule_run(schedule.pk, token))
        time.sleep(0.2)
    first.join()
    hub.warehouse.set_latency(0)

    assert claimed_by_others == []
    assert set(created_at_warehouse(hub).values()) == {1}
    assert Order.objects.filter(cart=hub.cart, status=S.AT_WMS).count() == 4
    assert_exactly_once(hub)


def fail_at_order_3_of_4(hub: SocketHub) -> tuple[list[dict[str, Any]], JobRun]:
    """Take four orders and deliver them while the warehouse fails at the third."""
    taken = hub.take_orders(4, notify=False)
    run(hub, "download")
    gate = Gate(hub)
    delivery = InThread(lambda: run(hub, "delivery"))
    for _created in range(2):  # orders 1 and 2 are created
        gate.arrived()
        gate.let_one()
    gate.arrived()
    hub.warehouse.fail_next(1, status=503)  # the warehouse fails at order 3
    gate.let_one()
    failed = delivery.join()
    gate.open()
    return taken, failed


def test_a_failure_at_order_k_settles_the_orders_before_it(hub):
    _taken, failed = fail_at_order_3_of_4(hub)

    assert failed.outcome == Outcome.FAILED
    orders = list(Order.objects.filter(cart=hub.cart).order_by("placed_at", "id"))
    assert [o.status for o in orders] == [S.AT_WMS, S.AT_WMS, S.SENDING, S.SENDING]
    assert [o.delivery_attempts for o in orders] == [0, 0, 1, 1]
    batch = DeliveryBatch.objects.get()
    assert batch.state == "retrying"

    retry_time_passed()
    assert run(hub, "delivery").counts["delivered"] == 2
    assert set(created_at_warehouse(hub).values()) == {1}
    assert DeliveryBatch.objects.get().state == "done"
    assert_exactly_once(hub)


def test_a_cart_cancel_after_delivery_is_passed_on_to_the_wms(hub):
    taken = hub.take_orders(2, notify=False)
    run(hub, "download")
    run(hub, "delivery")
    hub.shop.cancel_order(taken[0]["id"])
    run(hub, "download")
    canceled = Order.objects.get(cart=hub.cart, external_id=str(taken[0]["id"]))
    assert canceled.status == S.AT_WMS
    assert Alert.objects.filter(kind="canceled_after_delivery", resolved_at__isnull=True)

    passed_on = run(hub, "delivery")

    assert passed_on.counts["canceled_at_wms"] == 1
    canceled.refresh_from_db()
    assert canceled.status == S.CANCELED
    [at_warehouse] = hub.warehouse.orders_with_reference(canceled.key)
    assert at_warehouse["readOnly"]["status"] == 2  # canceled at the warehouse
    assert not Alert.objects.filter(kind="canceled_after_delivery", resolved_at__isnull=True)
    assert run(hub, "delivery").counts.get("canceled_at_wms", 0) == 0
    assert_exactly_once(hub)


def test_a_cart_cancel_the_wms_cannot_follow_keeps_the_alert_with_its_reason(hub):
    taken = hub.take_orders(1, notify=False)
    run(hub, "download")
    run(hub, "delivery")
    hub.ship_everything()  # the warehouse ships before the hub hears of the cancel
    hub.shop.cancel_order(taken[0]["id"])
    run(hub, "download")

    refused = run(hub, "delivery")

    assert refused.outcome == Outcome.PARTIAL
    order = Order.objects.get(cart=hub.cart)
    assert order.status == S.AT_WMS and "shipped" in order.last_error
    alert = Alert.objects.get(kind="canceled_after_delivery", resolved_at__isnull=True)
    assert "did not cancel it" in alert.message
    # Asked again only after the retry time, not on every run.
    assert run(hub, "delivery").counts.get("failed", 0) == 0


def test_a_retried_batch_never_creates_again_an_order_canceled_at_the_wms_since(hub):
    taken, _failed = fail_at_order_3_of_4(hub)
    first = Order.objects.get(cart=hub.cart, external_id=str(taken[0]["id"]))
    assert first.status == S.AT_WMS
    hub.shop.cancel_order(taken[0]["id"])
    run(hub, "download")
    retry_time_passed()

    retried = run(hub, "delivery")  # cancels order 1 at the WMS, then sends the batch again

    assert retried.counts["canceled_at_wms"] == 1 and retried.counts["delivered"] == 2
    first.refresh_from_db()
    assert first.status == S.CANCELED
    assert [o["readOnly"]["status"] for o in hub.warehouse.orders_with_reference(first.key)] == [2]
    assert DeliveryBatch.objects.get().state == "done"
    assert_exactly_once(hub)
