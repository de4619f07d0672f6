"""A real Celery worker and beat run the six flows on their schedules, each order exactly once.

The processes use the same database and broker as the suite (PostgreSQL and Redis in CI, the
embedded SQLite and file-system broker otherwise), on a queue of their own.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.utils import timezone

from orders.models import CartStock, InventoryLevel, Order, OrderStatus
from sync.models import JobRun, Schedule
from tests.hub import make_cart
from tests.reliability.processes import database_url, start, stop
from wms.models import WmsConfig, WmsShipMethod

DEADLINE_SECONDS = 120


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_and_beat_run_every_flow_and_each_order_arrives_exactly_once(world, tmp_path):
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={"name": "e2e", "ledger_dir": str(tmp_path), "split_packages": True},
    )
    WmsShipMethod.objects.create(account=world.account, code="GROUND", carrier="UPS")
    carts = [
        make_cart(world.merchant_a, tmp_path, seed="alpha", order_count=7, page_size=3),
        make_cart(world.merchant_b, tmp_path, seed="beta", order_count=5, page_size=2),
    ]
    for cart in carts:
        cart.inventory_upload_interval = 60
        cart.save()

    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "SYNC_TICK_SECONDS": "1",
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # Worker and beat must share the broker folders, so point both at one var dir.
        env["VAR_DIR"] = str(tmp_path / "var")
    worker = start(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        env,
        tmp_path / "worker.log",
    )
    beat = start(
        ["beat", "--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "INFO"],
        env,
        tmp_path / "beat.log",
    )

    def done() -> bool:
        orders = Order.objects.filter(cart__in=carts)
        return (
            orders.count() == 12
            and not orders.exclude(status=OrderStatus.CONFIRMED).exists()
            and InventoryLevel.objects.exists()
            and all(CartStock.objects.filter(cart=c).exists() for c in carts)
        )

    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and not done():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-3000:]
            # Like pressing "run now" on every flow: the schedules stay the only trigger.
            Schedule.objects.filter(enabled=True, lease_until__isnull=True).update(
                next_run_at=timezone.now()
            )
            time.sleep(0.5)
    finally:
        stop(beat)
        stop(worker)

    failed_runs = list(JobRun.objects.exclude(outcome="ok").values_list("flow", "outcome", "error"))
    assert done(), (
        f"not finished in {DEADLINE_SECONDS} s: "
        f"orders {Counter(Order.objects.values_list('status', flat=True))}, "
        f"levels {InventoryLevel.objects.count()}, stock sent {CartStock.objects.count()}, "
        f"runs not ok {failed_runs[:10]}\n" + (tmp_path / "worker.log").read_text()[-3000:]
    )
    from carts.adapters.dummy.adapter import ledger_for as store_ledger
    from wms.adapters.dummy.adapter import ledger_for as warehouse_ledger

    delivered = Counter(r["key"] for r in warehouse_ledger(wms.settings).records("order"))
    assert sorted(delivered) == sorted(o.key for o in Order.objects.all())
    assert set(delivered.values()) == {1}
    for cart in carts:
        uploaded = Counter(r["tracking"] for r in store_ledger(cart.setup).records("shipment"))
        expected = set(cart.orders.values_list("shipments__tracking_number", flat=True).distinct())
        assert set(uploaded) == expected
        assert set(uploaded.values()) == {1}
    ran = set(JobRun.objects.filter(outcome="ok").values_list("flow", flat=True))
    assert ran == {
        "download",
        "delivery",
        "ship_confirm",
        "shipment_upload",
        "inventory",
        "inventory_upload",
    }
