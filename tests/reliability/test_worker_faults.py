"""Workers killed or stopped midway, and two beats at once: each order still arrives once.

Real `celery worker` and `celery beat` processes run the flows against the emulated Shopify
shop and Extensiv warehouse (loopback sockets in this process). A dead worker leaves its
schedule leased; the lease runs out (a few seconds here), the next tick claims the schedule
again, and the retried delivery finds what the dead one had already created.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest
from django.utils import timezone

from orders.models import Order, OrderStatus
from sandbox.server import Request, Response
from sync.models import JobRun, Outcome, Schedule
from tests.reliability.processes import (
    Processes,
    kill,
    poke,
    run_to_the_end,
    statuses,
    wait_for,
)
from tests.reliability.world import SocketHub, assert_exactly_once, socket_hub

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

S = OrderStatus
DEADLINE = 90.0


@pytest.fixture
def hub(world, settings):
    hub = socket_hub(world)
    yield hub
    hub.stop()


@pytest.fixture
def processes(tmp_path, hub):
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


def keep_going(hub: SocketHub, processes: Processes) -> Callable[[], None]:
    def between() -> None:
        processes.assert_alive()
        poke(hub.cart.merchant)

    return between


def order_posts(hub: SocketHub) -> Counter:
    """Count the order creations the warehouse answered, per reference (the hub's order key)."""
    with hub.warehouse.lock:
        return Counter(
            r.body["referenceNum"]
            for r in hub.warehouse.requests
            if r.method == "POST" and r.path == "/orders"
        )


def hang_order_posts(hub: SocketHub) -> tuple[threading.Event, threading.Event]:
    """Hold every order creation unanswered and unprocessed until the returned `release`.

    Returns (`held`, set once a creation is being held; `release`).
    """
    held, release = threading.Event(), threading.Event()
    answer = hub.warehouse.handle

    def handle(request: Request) -> Response | None:
        if request.method == "POST" and request.path == "/orders" and not release.is_set():
            held.set()
            release.wait(30)
            return None
        return answer(request)

    hub.warehouse.handle = handle  # type: ignore[method-assign]
    return held, release


def delivery_schedule(hub: SocketHub) -> Schedule:
    return Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow="delivery")


@pytest.mark.parametrize("moment", ["before", "after"])
def test_worker_killed_during_a_delivery_delivers_each_order_once(hub, processes, moment):
    """SIGKILL the worker while the warehouse holds the first order's creation.

    before: the warehouse never processed the request; after: it created the order and the
    answer never came back. Either way a new worker finishes the delivery, and no order is
    created twice.
    """
    hub.take_orders(3, notify=False)
    if moment == "before":
        held, release = hang_order_posts(hub)
        caught = held.is_set
    else:
        release = threading.Event()
        hub.warehouse.lose_next_answers(1, after=60)

        def caught() -> bool:
            with hub.warehouse.lock:
                return bool(hub.warehouse.orders)

    processes.beat()
    processes.worker()
    wait_for(
        caught,
        timeout=DEADLINE,
        what="the delivery reaching the warehouse",
        between=keep_going(hub, processes),
        details=processes.log_tails,
    )

    processes.kill("worker")
    release.set()
    interrupted = delivery_schedule(hub)
    assert interrupted.lease_until is not None, "the killed run should still hold its lease"
    assert statuses(hub.cart) == {S.SENDING: 3}
    processes.worker("worker-2")
    run_to_the_end(hub, processes, 3)

    assert_exactly_once(hub)
    keys = {o.key for o in Order.objects.filter(cart=hub.cart)}
    assert order_posts(hub) == dict.fromkeys(keys, 1)
    delivered = [
        run
        for run in JobRun.objects.filter(flow="delivery", outcome=Outcome.OK)
        if run.counts.get("delivered")
    ]
    assert sum(run.counts["delivered"] for run in delivered) == 3
    # The schedule was claimed again only once the dead worker's lease had run out.
    assert all(run.started_at >= interrupted.lease_until for run in delivered)
    assert not Order.objects.filter(cart=hub.cart, delivery_attempts__gt=0).exists()


def shop_updated_at(order: dict) -> datetime:
    return datetime.fromisoformat(order["updated_at"])


def download_pages_read(hub: SocketHub) -> int:
    with hub.shop.lock:
        return sum(1 for r in hub.shop.requests if r.path.endswith("/orders.json"))


@pytest.mark.parametrize("grace", ["waited", "cut_short"])
def test_worker_stopped_during_a_long_download_keeps_what_it_stored(hub, processes, grace):
    """SIGTERM the worker while it reads a slow shop page by page.

    waited: the warm shutdown finishes the running download before the worker exits.
    cut_short: the supervisor loses patience and kills it (SIGKILL) midway. Either way the
    cursor never moves past an order that was not stored, and a new worker finishes the job.
    """
    hub.cart.setup = {**hub.cart.setup, "page_size": 2}
    hub.cart.save()
    hub.take_orders(12, notify=False)
    hub.shop.set_latency(0.5)
    processes.beat()
    processes.worker()
    wait_for(
        lambda: download_pages_read(hub) >= 2,
        timeout=DEADLINE,
        what="the download reading its second page",
        between=processes.assert_alive,
        details=processes.log_tails,
    )

    stopping = processes.terminate("worker")
    if grace == "waited":
        assert stopping.wait(DEADLINE) == 0
    else:
        pages = download_pages_read(hub)
        wait_for(
            lambda: download_pages_read(hub) > pages,
            timeout=DEADLINE,
            what="one more page read after SIGTERM",
        )
        assert stopping.poll() is None, "the download ended before the supervisor's patience"
        kill(stopping)

    download = Schedule.objects.get(cart=hub.cart, flow="download")
    stored = set(Order.objects.filter(cart=hub.cart).values_list("external_id", flat=True))
    with hub.shop.lock:
        taken = {str(i): shop_updated_at(o) for i, o in hub.shop.orders.items()}
    if download.cursor is not None:
        behind_cursor = {i for i, updated in taken.items() if updated <= download.cursor}
        assert behind_cursor <= stored, "the cursor moved past orders that were never stored"
    runs = JobRun.objects.filter(cart=hub.cart, flow="download")
    if grace == "waited":
        assert stored == set(taken)
        assert [run.outcome for run in runs] == [Outcome.OK]
        assert download.cursor is not None
    else:
        assert [run.outcome for run in runs] == [Outcome.RUNNING]

    hub.shop.clear_faults()
    hub.cart.setup = {k: v for k, v in hub.cart.setup.items() if k != "page_size"}
    hub.cart.save()
    hub.take_orders(4, notify=False)
    processes.worker("worker-2")
    run_to_the_end(hub, processes, 16)

    assert_exactly_once(hub)


def test_two_beats_never_run_a_schedule_twice_for_one_due_time(hub, processes):
    """Two beats tick at once: every claim is exclusive, so each due time gives one run."""
    hub.take_orders(5, notify=False)
    processes.beat("beat-1")
    processes.beat("beat-2")
    processes.worker()
    enabled = Schedule.objects.filter(merchant=hub.cart.merchant, enabled=True)

    def round_done(since: datetime) -> Callable[[], bool]:
        def done() -> bool:
            processes.assert_alive()
            return not enabled.filter(lease_until__isnull=False).exists() and not (
                enabled.exclude(last_run_at__gte=since).exists()
            )

        return done

    # The first due time is the schedules' creation; a download finding orders also makes
    # the delivery due again, so rounds are counted from the first quiet one on.
    created = min(enabled.values_list("next_run_at", flat=True))
    wait_for(
        lambda: round_done(created)() and statuses(hub.cart) == {S.AT_WMS: 5},
        timeout=DEADLINE,
        what="the first round: 5 orders at the warehouse",
        details=processes.log_tails,
    )
    rounds = 3
    first_poke = timezone.now()
    for number in range(rounds):
        if number == 1:
            hub.ship_everything()
        poked = timezone.now()
        enabled.update(next_run_at=poked)
        wait_for(
            round_done(poked),
            timeout=DEADLINE,
            what=f"round {number + 1}: every schedule ran once",
            details=processes.log_tails,
        )

    runs = Counter(
        JobRun.objects.filter(schedule__in=enabled, started_at__gte=first_poke).values_list(
            "schedule__flow", flat=True
        )
    )
    assert runs == dict.fromkeys(enabled.values_list("flow", flat=True), rounds)
    assert statuses(hub.cart) == {S.CONFIRMED: 5}
    assert_exactly_once(hub)
