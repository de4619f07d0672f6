"""A cart that throttles, hangs or fails for an hour: runs wait or back off, people are told
after a few failures, and once the cart answers again every order arrives once.

The throttling scenario runs in real time, because the hub honours `Retry-After` with a real
clock (the rate limiter blocks the shop for that many seconds). The others travel in time: the
emulators and the hub read one test clock and the tick jumps from one due schedule to the next.
"""

from __future__ import annotations

import time
from datetime import timedelta
from itertools import pairwise

import pytest
import requests
from django.utils import timezone

from carts.models import CartConnection
from orders.models import Order, OrderStatus, Shipment
from sync.flows import Flow
from sync.models import Alert, JobRun, Outcome, Schedule
from sync.scheduler import schedule_run_now
from tests.reliability.world import assert_exactly_once, socket_hub, tick, travel
from wms.models import Health

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

RETRY_AFTER = "1.5"
DOWN = 10**6  # requests the shop fails: more than any outage here makes


@pytest.fixture
def hub(world, clock):
    """Start the socket hub in test time; only download and delivery run (those at stake)."""
    hub = socket_hub(world, clock=clock)
    hub.download_and_delivery_only()
    clock.set(timezone.now())  # the schedules just made are due
    yield hub
    hub.stop()


def download_schedule(hub) -> Schedule:
    return Schedule.objects.get(cart=hub.cart, flow=Flow.DOWNLOAD)


def download_runs(hub) -> list[JobRun]:
    return list(JobRun.objects.filter(cart=hub.cart, flow=Flow.DOWNLOAD).order_by("started_at"))


def failing_alert(hub) -> Alert | None:
    return Alert.objects.filter(
        kind="flow_failing", cart=hub.cart, resolved_at__isnull=True
    ).first()


# --- Throttled: 429 with Retry-After on every other request ---------------------------------


def wait_until_due(schedule: Schedule, *, seconds: float = 20.0) -> None:
    """Wait (bounded) until the schedule is due by the real clock."""
    deadline = time.monotonic() + seconds
    while Schedule.objects.get(pk=schedule.pk).next_run_at > timezone.now():
        assert time.monotonic() < deadline, f"{schedule} never became due"
        time.sleep(0.05)


def run_until(schedule: Schedule, outcome: str, *, rounds: int = 10) -> list[JobRun]:
    """Tick in real time until the schedule has a run with `outcome`; return its runs."""
    runs: list[JobRun] = []
    for _ in range(rounds):
        wait_until_due(schedule)
        mine = [r for r in tick(timezone.now()) if r.schedule_id == schedule.pk]
        runs += mine
        if any(r.outcome == outcome for r in mine):
            return runs
    raise AssertionError(f"{schedule} had no {outcome} run in {rounds} rounds: {runs}")


@pytest.fixture
def live_hub(world):
    """Start the socket hub in real time, with a shop asking for 1.5 s when it throttles."""
    hub = socket_hub(world, shop_options={"retry_after": RETRY_AFTER})
    CartConnection.objects.filter(pk=hub.cart.pk).update(inventory_upload_interval=0)
    yield hub
    hub.stop()


def test_a_cart_throttling_every_other_request_defers_runs_until_retry_after_and_loses_nothing(
    live_hub,
):
    hub = live_hub
    hub.take_orders(3, notify=False)
    hub.shop.throttle_every_other()
    probe = requests.get(
        hub.shop.url("/admin/api/2024-10/orders.json"),
        headers={"X-Shopify-Access-Token": hub.shop.access_token},
        timeout=5,
    )
    assert probe.status_code == 429
    assert probe.headers["Retry-After"] == RETRY_AFTER
    hub.shop.throttle_every_other()  # the hub's first request is the next 429
    download = download_schedule(hub)

    deferred = next(r for r in tick(timezone.now()) if r.flow == Flow.DOWNLOAD)
    assert (deferred.flow, deferred.outcome) == (Flow.DOWNLOAD, Outcome.DEFERRED)
    download.refresh_from_db()
    assert download.next_run_at == deferred.started_at + timedelta(seconds=1.5)
    assert download.consecutive_failures == 0
    run_until(download, Outcome.OK)
    delivery = Schedule.objects.get(merchant=hub.cart.merchant, cart=None, flow=Flow.DELIVERY)
    run_until(delivery, Outcome.OK)
    assert Order.objects.filter(cart=hub.cart, status=OrderStatus.AT_WMS).count() == 3

    hub.ship_everything()
    ship_confirm = Schedule.objects.get(
        merchant=hub.cart.merchant, cart=None, flow=Flow.SHIP_CONFIRM
    )
    schedule_run_now(ship_confirm)
    run_until(ship_confirm, Outcome.OK)
    upload = Schedule.objects.get(cart=hub.cart, flow=Flow.SHIPMENT_UPLOAD)
    schedule_run_now(upload)
    # Every upload needs three calls in a row; while every other one is refused, each run
    # is deferred at its second call.
    throttled = run_until(upload, Outcome.DEFERRED) + run_until(upload, Outcome.DEFERRED)
    hub.shop.throttle_every_other(False)
    run_until(upload, Outcome.OK)

    for run in throttled:
        assert run.outcome == Outcome.DEFERRED
        assert "asked us to slow down (HTTP 429)" in run.error or "nothing was sent" in run.error
    runs = JobRun.objects.filter(account=hub.cart.account)
    assert not runs.filter(outcome=Outcome.FAILED).exists()
    assert not Schedule.objects.filter(account=hub.cart.account, consecutive_failures__gt=0)
    assert not Shipment.objects.filter(order__cart=hub.cart, upload_attempts__gt=0).exists()
    assert not Order.objects.filter(cart=hub.cart, delivery_attempts__gt=0).exists()
    assert not Alert.objects.filter(account=hub.cart.account).exists()
    assert set(Order.objects.filter(cart=hub.cart).values_list("status", flat=True)) == {
        OrderStatus.CONFIRMED
    }
    assert_exactly_once(hub)


# --- Hanging: the cart takes the request and never answers ---------------------------------


def test_a_cart_that_never_answers_fails_the_run_on_timeout_backs_off_alerts_and_recovers(
    hub, clock
):
    hub.take_orders(2, notify=False)
    # The first request is held longer than the hub's read timeout (30 s), the next two are
    # cut off unanswered: the cart takes requests and never answers any.
    hub.shop.hang_next(1, limit=60)

    timed_out = next(r for r in tick(clock.now()) if r.flow == Flow.DOWNLOAD)

    assert timed_out.outcome == Outcome.FAILED
    assert "did not answer in time" in timed_out.error
    download = download_schedule(hub)
    assert download.consecutive_failures == 1
    assert download.next_run_at == timed_out.started_at + timedelta(minutes=1)
    assert CartConnection.objects.get(pk=hub.cart.pk).health == Health.DEGRADED
    assert failing_alert(hub) is None

    hub.shop.hang_next(2, limit=0.1)
    travel(clock, clock.now() + timedelta(minutes=3))

    runs = download_runs(hub)
    assert [r.outcome for r in runs] == [Outcome.FAILED] * 3
    # Backing off: one minute, then two, then the run that opens the alert.
    gaps = [b.started_at - a.started_at for a, b in pairwise(runs)]
    assert gaps == [timedelta(minutes=1), timedelta(minutes=2)]
    alert = failing_alert(hub)
    assert alert is not None
    assert "failed 3 times in a row" in alert.message
    assert not Order.objects.filter(cart=hub.cart).exists()

    travel(clock, clock.now() + timedelta(minutes=10))

    assert download_runs(hub)[-1].outcome == Outcome.OK
    assert failing_alert(hub) is None
    assert CartConnection.objects.get(pk=hub.cart.pk).health == Health.ACTIVE
    assert Order.objects.filter(cart=hub.cart, status=OrderStatus.AT_WMS).count() == 2
    assert_exactly_once(hub)


# --- Failing: HTTP 500 for an hour -----------------------------------------------------------


def test_a_cart_failing_for_an_hour_backs_off_alerts_then_recovers_and_resolves_the_alert(
    hub, clock
):
    hub.take_orders(3, notify=False)
    hub.shop.fail_next(DOWN, status=500)
    start = clock.now()

    travel(clock, start + timedelta(minutes=30))
    hub.take_orders(2, notify=False)
    travel(clock, start + timedelta(hours=1))

    runs = download_runs(hub)
    assert {r.outcome for r in runs} == {Outcome.FAILED}
    assert all("failed with HTTP 500" in r.error for r in runs)
    # Backing off (1, 2, 4 minutes, then the five-minute interval): a bounded number of
    # runs, never two within a minute.
    assert 10 <= len(runs) <= 16
    gaps = [b.started_at - a.started_at for a, b in pairwise(runs)]
    assert min(gaps) >= timedelta(minutes=1)
    alert = failing_alert(hub)
    assert alert is not None
    assert f"failed {len(runs)} times in a row" in alert.message
    cart = CartConnection.objects.get(pk=hub.cart.pk)
    assert cart.health == Health.DEGRADED
    assert "HTTP 500" in cart.last_error

    hub.shop.clear_faults()
    travel(clock, clock.now() + timedelta(minutes=10))

    assert download_runs(hub)[-1].outcome == Outcome.OK
    assert failing_alert(hub) is None
    assert Alert.objects.filter(kind="flow_failing", cart=hub.cart).count() == 1
    assert CartConnection.objects.get(pk=hub.cart.pk).health == Health.ACTIVE
    assert Order.objects.filter(cart=hub.cart, status=OrderStatus.AT_WMS).count() == 5
    assert_exactly_once(hub)
