"""Schedules across daylight-saving changes in the account's time zone: one run per period,
none skipped or doubled, and the next run shown in the account's local time.

The product schedules by elapsed time: each run is due one interval after the last one
started (`next_run_at = start + interval`, in UTC). An hourly schedule therefore runs every 60
real minutes whatever the clocks on the wall do, and a daily one every 24 real hours, so its
local time moves by an hour when the clocks change. Screens show local wall-clock time with the
zone's abbreviation, so the two runs in the hour that happens twice in autumn read apart."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from sandbox.clock import ManualClock
from sync.flows import DAILY, Flow
from sync.models import JobRun, Schedule
from tests.reliability.world import assert_exactly_once, socket_hub, travel

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

HOURLY_CASES = {
    # zone, first run (UTC), the next run shown after each of five hourly runs
    "new-york-spring-forward": (
        "America/New_York",
        datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
        [
            "2026-03-08 00:30:00 EST",
            "2026-03-08 01:30:00 EST",
            "2026-03-08 03:30:00 EDT",
            "2026-03-08 04:30:00 EDT",
            "2026-03-08 05:30:00 EDT",
        ],
    ),
    "new-york-fall-back": (
        "America/New_York",
        datetime(2026, 11, 1, 3, 30, tzinfo=UTC),
        [
            "2026-11-01 00:30:00 EDT",
            "2026-11-01 01:30:00 EDT",
            "2026-11-01 01:30:00 EST",
            "2026-11-01 02:30:00 EST",
            "2026-11-01 03:30:00 EST",
        ],
    ),
    "berlin-spring-forward": (
        "Europe/Berlin",
        datetime(2026, 3, 28, 22, 30, tzinfo=UTC),
        [
            "2026-03-29 00:30:00 CET",
            "2026-03-29 01:30:00 CET",
            "2026-03-29 03:30:00 CEST",
            "2026-03-29 04:30:00 CEST",
            "2026-03-29 05:30:00 CEST",
        ],
    ),
    "berlin-fall-back": (
        "Europe/Berlin",
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
        [
            "2026-10-25 00:30:00 CEST",
            "2026-10-25 01:30:00 CEST",
            "2026-10-25 02:30:00 CEST",
            "2026-10-25 02:30:00 CET",
            "2026-10-25 03:30:00 CET",
        ],
    ),
}

DAILY_CASES = {
    # zone, first run (UTC), the next run shown after each of three daily runs
    "new-york-spring-forward": (
        "America/New_York",
        datetime(2026, 3, 6, 14, 0, tzinfo=UTC),
        ["2026-03-07 09:00:00 EST", "2026-03-08 10:00:00 EDT", "2026-03-09 10:00:00 EDT"],
    ),
    "new-york-fall-back": (
        "America/New_York",
        datetime(2026, 10, 30, 13, 0, tzinfo=UTC),
        ["2026-10-31 09:00:00 EDT", "2026-11-01 08:00:00 EST", "2026-11-02 08:00:00 EST"],
    ),
    "berlin-spring-forward": (
        "Europe/Berlin",
        datetime(2026, 3, 27, 8, 0, tzinfo=UTC),
        ["2026-03-28 09:00:00 CET", "2026-03-29 10:00:00 CEST", "2026-03-30 10:00:00 CEST"],
    ),
    "berlin-fall-back": (
        "Europe/Berlin",
        datetime(2026, 10, 23, 7, 0, tzinfo=UTC),
        ["2026-10-24 09:00:00 CEST", "2026-10-25 08:00:00 CET", "2026-10-26 08:00:00 CET"],
    ),
}


def start_hub(world, settings, *, zone: str, start: datetime, interval: int):
    """Connect merchant A in `zone`, downloading and delivering every `interval` minutes from
    `start` (the other flows off), with the emulators' clock at `start`."""
    world.account.time_zone = zone
    world.account.save()
    clock = ManualClock(start)
    hub = socket_hub(world, clock=clock)
    merchant = hub.cart.merchant
    merchant.delivery_interval = interval
    merchant.ship_confirm_interval = merchant.inventory_interval = 0
    merchant.save()
    cart = hub.cart
    cart.download_interval = interval
    cart.shipment_upload_interval = 0
    # The first download reads from the start of the year, before the simulated days.
    cart.earliest_order_date = date(2026, 1, 1)
    cart.save()
    Schedule.objects.filter(account=world.account, enabled=True).update(next_run_at=start)
    return hub, clock


def next_run_shown(client, hub) -> str:
    """Return the download's "Next run" as the cart screen shows it."""
    schedule = Schedule.objects.get(cart=hub.cart, flow=Flow.DOWNLOAD)
    page = client.get(reverse("cart_detail", args=[hub.cart.pk])).content.decode()
    row = re.search(rf'<tr data-schedule="{schedule.pk}".*?</tr>', page, re.S)
    assert row is not None
    cell = re.search(r'<td data-field="next">(.*?)</td>', row.group(0), re.S)
    assert cell is not None
    return cell.group(1).strip()


def download_starts(hub) -> list[datetime]:
    return list(
        JobRun.objects.filter(cart=hub.cart, flow=Flow.DOWNLOAD)
        .order_by("started_at")
        .values_list("started_at", flat=True)
    )


def run_periods(hub, clock, client, *, periods: int, length: timedelta) -> list[str]:
    """Take an order, then travel one period, `periods` times; return the next runs shown."""
    shown = []
    start = clock.now()
    for n in range(periods):
        hub.take_orders(1, notify=False)
        # Stop just short of the next period's start: each step ends right after one run.
        travel(clock, start + n * length + length - timedelta(seconds=1))
        shown.append(next_run_shown(client, hub))
    return shown


@pytest.mark.parametrize("case", HOURLY_CASES)
def test_an_hourly_schedule_runs_once_every_hour_across_the_clock_change(
    case, world, settings, client
):
    zone, start, expected = HOURLY_CASES[case]
    hub, clock = start_hub(world, settings, zone=zone, start=start, interval=60)
    client.force_login(world.staff)
    try:
        shown = run_periods(hub, clock, client, periods=5, length=timedelta(hours=1))

        # Every 60 real minutes: an hour the clocks skip costs no run, one they repeat
        # brings no extra run.
        starts = download_starts(hub)
        assert starts == [start + timedelta(hours=n) for n in range(5)]
        assert shown == expected
        assert hub.cart.orders.count() == 5
        assert_exactly_once(hub)
    finally:
        hub.stop()


@pytest.mark.parametrize("case", DAILY_CASES)
def test_a_daily_schedule_runs_once_every_24_hours_across_the_clock_change(
    case, world, settings, client
):
    zone, start, expected = DAILY_CASES[case]
    hub, clock = start_hub(world, settings, zone=zone, start=start, interval=DAILY)
    client.force_login(world.staff)
    try:
        shown = run_periods(hub, clock, client, periods=3, length=timedelta(days=1))

        # Every 24 real hours, so the local time of the run moves with the clocks.
        starts = download_starts(hub)
        assert starts == [start + timedelta(days=n) for n in range(3)]
        assert shown == expected
        assert hub.cart.orders.count() == 3
        assert_exactly_once(hub)
    finally:
        hub.stop()
