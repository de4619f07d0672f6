"""The scheduler: claims, leases, lost messages, dead workers, schedules kept in step."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from merchants.models import Merchant
from orders.models import Order, OrderStatus
from sync.models import JobRun, Schedule
from sync.scheduler import schedule_run, schedules_claim
from tests.hub import retry_time_passed

S = OrderStatus


def lease_expired():
    from django.conf import settings

    return timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS + 1)


@pytest.mark.django_db
def test_schedules_follow_the_settings_of_carts_and_merchants(hub):
    cart_flows = dict(Schedule.objects.filter(cart=hub.cart).values_list("flow", "enabled"))
    assert cart_flows == {"download": True, "shipment_upload": True, "inventory_upload": False}
    hub.cart.inventory_upload_interval = 60
    hub.cart.download_interval = 0
    hub.cart.save()
    cart_flows = dict(Schedule.objects.filter(cart=hub.cart).values_list("flow", "enabled"))
    assert cart_flows == {"download": False, "shipment_upload": True, "inventory_upload": True}

    merchant = hub.cart.merchant
    merchant.ship_confirm_interval = 60
    merchant.save()
    assert Schedule.objects.get(merchant=merchant, cart=None, flow="ship_confirm").interval == 60
    merchant.active = False
    merchant.save()
    assert not Schedule.objects.filter(merchant=merchant, enabled=True).exists()


@pytest.mark.django_db
def test_intervals_outside_the_flow_limits_are_refused(world):
    from django.core.exceptions import ValidationError

    merchant = Merchant(account=world.account, name="Fast", inventory_interval=5)
    with pytest.raises(ValidationError, match="from every 60 minutes to daily"):
        merchant.full_clean()


@pytest.mark.django_db
def test_a_claimed_schedule_is_not_claimed_again_while_leased(hub):
    first, _ = schedules_claim()
    assert first
    second, _ = schedules_claim()
    assert not set(first) & set(second)


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_never_claim_the_same_schedule(world, tmp_path):
    from tests.hub import make_cart
    from wms.models import WmsConfig

    WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "k"},
        settings={"ledger_dir": str(tmp_path)},
    )
    for n in range(30):
        make_cart(world.merchant_a, tmp_path, seed=f"s{n}")
    due = Schedule.objects.filter(enabled=True).count()
    assert due > 60
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def tick() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                ids, _ = schedules_claim(limit=7)
                claimed.append(ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every))  # nobody claimed a row twice
    assert len(every) == min(due, 4 * 5 * 7)


@pytest.mark.django_db
def test_a_lost_message_is_recovered_by_a_later_tick(hub):
    ids, _ = schedules_claim()  # the tick claimed, but the message never reached a worker
    schedule = hub.schedule("download")
    assert schedule.pk in ids
    assert schedule.pk not in schedules_claim()[0]
    later_ids, later_token = schedules_claim(now=lease_expired())
    assert schedule.pk in later_ids
    run = schedule_run(schedule.pk, later_token, now=lease_expired())
    assert run.counts["new"] == 6


@pytest.mark.django_db
def test_worker_killed_mid_delivery_leads_to_exactly_one_delivery(hub):
    hub.run("download")
    delivery = hub.schedule("delivery")
    Schedule.objects.filter(pk=delivery.pk).update(next_run_at=timezone.now())
    # The first worker takes the lease, gets the orders into the WMS and dies before it can
    # record anything (the WMS accepted; the answer never arrived).
    _, dead_token = schedules_claim()
    hub.wms.settings = {**hub.wms.settings, "failure": "timeout_after_accept"}
    hub.wms.save()
    from sync.flows.context import RunContext
    from sync.flows.delivery import orders_deliver

    with pytest.raises(Exception, match="timed out"):
        orders_deliver(
            RunContext(schedule=Schedule.objects.get(pk=delivery.pk), now=timezone.now())
        )
    retry_time_passed()  # the hour of backoff has passed
    hub.wms.settings = {**hub.wms.settings, "failure": "none"}
    hub.wms.save()
    # Its lease expires; the next tick gives the schedule to a live worker.
    later = lease_expired()
    ids, token = schedules_claim(now=later)
    assert delivery.pk in ids
    run = schedule_run(delivery.pk, token, now=later)
    assert run.counts["delivered"] == 6
    # The dead worker's message, delivered late, finds the lease is not its own.
    assert schedule_run(delivery.pk, dead_token) is None
    keys = Counter(r["key"] for r in hub.warehouse.records("order"))
    assert len(keys) == 6 and set(keys.values()) == {1}
    assert set(Order.objects.values_list("status", flat=True)) == {S.AT_WMS}


@pytest.mark.django_db
def test_a_run_sets_the_next_run_one_interval_after_its_start_and_frees_the_lease(hub):
    _, token = schedules_claim()
    schedule = hub.schedule("download")
    started = timezone.now()
    schedule_run(schedule.pk, token, now=started)
    schedule.refresh_from_db()
    assert schedule.lease_until is None and schedule.lease_token == ""
    assert schedule.next_run_at == started + timedelta(minutes=5)
    assert schedule.last_outcome == "ok"


@pytest.mark.django_db
def test_run_now_makes_the_schedule_due_and_the_run_records_its_trigger(
    hub, django_capture_on_commit_callbacks
):
    from sync.scheduler import schedule_run_now

    schedule = hub.schedule("download")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        schedule_run_now(schedule)
    ids, token = schedules_claim()
    assert schedule.pk in ids
    assert schedule_run(schedule.pk, token).trigger == "manual"


@pytest.mark.django_db
def test_a_download_with_new_orders_pokes_the_merchants_delivery(hub):
    delivery = hub.schedule("delivery")
    Schedule.objects.filter(pk=delivery.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    hub.run("download")
    delivery.refresh_from_db()
    assert delivery.next_run_at <= timezone.now()


@pytest.mark.django_db
def test_a_delivery_poked_while_it_runs_is_due_again_when_it_ends(hub):
    """New orders stored while a delivery runs are not left for the delivery's next interval."""
    delivery = hub.schedule("delivery")
    Schedule.objects.filter(pk=delivery.pk).update(next_run_at=timezone.now())
    started = timezone.now()
    ids, token = schedules_claim(now=started)
    assert delivery.pk in ids  # the delivery is running from here on
    Schedule.objects.filter(pk__in=ids).exclude(pk=delivery.pk).update(lease_until=None)

    hub.run("download")  # stores new orders meanwhile, and pokes the running delivery
    schedule_run(delivery.pk, token, now=started)

    delivery.refresh_from_db()
    assert delivery.lease_until is None
    assert delivery.next_run_at <= timezone.now(), "the poke was lost: orders wait an interval"
    # Without a poke, a run still sets its next run one interval after its start.
    ids, token = schedules_claim()
    assert delivery.pk in ids
    ran_at = timezone.now()
    schedule_run(delivery.pk, token, now=ran_at)
    delivery.refresh_from_db()
    assert delivery.next_run_at == ran_at + timedelta(minutes=delivery.interval)


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_closed_as_failed_when_the_schedule_runs_again(hub):
    schedule = hub.schedule("download")
    dead = JobRun.objects.create(
        account_id=schedule.account_id,
        merchant_id=schedule.merchant_id,
        cart_id=schedule.cart_id,
        schedule=schedule,
        flow=schedule.flow,
        started_at=timezone.now() - timedelta(minutes=10),
    )
    assert dead.outcome == "running"

    _, token = schedules_claim()
    schedule_run(schedule.pk, token)

    dead.refresh_from_db()
    assert dead.outcome == "failed" and dead.finished_at is not None
    assert "worker stopped before this run finished" in dead.error
    assert JobRun.objects.filter(schedule=schedule, outcome="running").count() == 0


@pytest.mark.django_db
def test_housekeeping_deletes_old_runs_and_expired_webhook_ids_and_keeps_the_rest(hub, settings):
    from sync.housekeeping import records_prune
    from sync.models import WebhookEvent

    settings.JOB_RUN_RETENTION_DAYS = 30
    settings.WEBHOOK_MAX_AGE_SECONDS = 3600
    now = timezone.now()
    schedule = hub.schedule("download")
    for age in (timedelta(days=31), timedelta(days=29)):
        JobRun.objects.create(
            account_id=schedule.account_id,
            merchant_id=schedule.merchant_id,
            cart_id=schedule.cart_id,
            schedule=schedule,
            flow=schedule.flow,
            started_at=now - age,
            outcome="ok",
        )
    for n, age in enumerate((timedelta(hours=3), timedelta(hours=1))):
        WebhookEvent.objects.create(
            account_id=hub.cart.account_id, cart=hub.cart, event_id=f"e{n}", received_at=now - age
        )

    deleted = records_prune(now=now)

    assert deleted == {"job_runs": 1, "webhook_events": 1}
    assert [r.started_at for r in JobRun.objects.all()] == [now - timedelta(days=29)]
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["e1"]


@pytest.mark.django_db
def test_a_tick_claims_again_while_claims_come_back_full(
    hub, settings, django_capture_on_commit_callbacks
):
    from sync.tasks import tick_task

    settings.SYNC_CLAIM_LIMIT = 2
    now = timezone.now()
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).count()
    assert due > 4

    with django_capture_on_commit_callbacks(execute=False) as sends:
        claimed = tick_task()

    assert claimed == due
    assert len(sends) == due // 2 + 1  # full claims, then the one that came back short
    assert not Schedule.objects.filter(
        enabled=True, next_run_at__lte=now, lease_until__isnull=True
    ).exists()
