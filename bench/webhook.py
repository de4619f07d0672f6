"""Webhook to WMS: time from an order created in the emulated Shopify to the order at the WMS.

The hub runs as it does in production: gunicorn (2 workers), a Celery worker (threads) and
beat ticking every second, on this benchmark's database and the configured broker. The shop
(webhooks subscribed by the hub) and the Extensiv emulator (the REST WMS) run in this process;
a watcher notes when each order first appears at the WMS. Orders are created one at a time,
spread over a bounded window; figures are p50 and p95 of created → at WMS.

Baseline, same run: webhooks off and the download on its 5-minute schedule. Its latency is the
wait for the next scheduled download (uniform over 0-300 s for an order placed at a random
moment) plus the processing time from the download's start to the order at the WMS. The
processing time is measured here (orders created, then the download made due as the schedule
would); the wait is derived. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench import processes
from bench.common import ROOT, free_port, percentile, setup_django, wait_until

SCHEDULE_MINUTES = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--spread-seconds", type=float, default=40.0)
    parser.add_argument("--baseline-orders", type=int, default=20)
    args = parser.parse_args()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_QUEUE"] = queue
    port = free_port()
    os.environ["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    database = setup_django(fresh=True)

    from django.conf import settings

    from bench.shop import build_shop
    from sandbox.extensiv import ExtensivEmulator

    folder = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    env = processes.worker_env(
        queue, folder, SYNC_TICK_SECONDS="1", PUBLIC_URL=os.environ["PUBLIC_URL"]
    )
    shop = build_shop(0)
    warehouse = ExtensivEmulator()
    shop.start()
    warehouse.start()
    arrivals: dict[str, float] = {}
    stop_watching = threading.Event()
    watcher = threading.Thread(target=_watch, args=(warehouse, arrivals, stop_watching))
    watcher.start()
    started: list[subprocess.Popen] = []
    try:
        cart = _connect(warehouse.base_url, warehouse.credentials(), shop)
        started.append(_web(port, env, folder))
        started.append(processes.worker(queue, "threads", 16, env, folder / "worker.log"))
        started.append(processes.beat(env, folder))
        if not wait_until(lambda: _serving(port), timeout=60):
            raise RuntimeError("the web server did not start: " + _tail(folder / "web.log"))
        settings.PUBLIC_URL = os.environ["PUBLIC_URL"]
        from carts.services import cart_webhooks_register

        topics = cart_webhooks_register(cart)
        webhook = _measure(shop, cart, arrivals, args.orders, args.spread_seconds)
        # Baseline: no webhooks; the download runs when its schedule says.
        shop.webhooks.clear()
        processing = _measure_scheduled(shop, cart, arrivals, args.baseline_orders)
    finally:
        for process in reversed(started):
            processes.stop(process)
        stop_watching.set()
        watcher.join(5)
        shop.stop()
        warehouse.stop()
    waits = [SCHEDULE_MINUTES * 60 * (i + 0.5) / 100 for i in range(100)]
    derived = [w + p for w in waits for p in processing] if processing else []
    print(
        json.dumps(
            {
                "benchmark": "webhook",
                "database": database,
                "wms": "extensiv (REST emulator)",
                "webhook_topics": topics,
                "orders": args.orders,
                "spread_seconds": args.spread_seconds,
                "arrived": len(webhook),
                "p50_seconds": _round(percentile(webhook, 50)) if webhook else None,
                "p95_seconds": _round(percentile(webhook, 95)) if webhook else None,
                "max_seconds": _round(max(webhook)) if webhook else None,
                "baseline_orders": args.baseline_orders,
                "baseline_processing_p50_seconds": _round(percentile(processing, 50))
                if processing
                else None,
                "baseline_processing_p95_seconds": _round(percentile(processing, 95))
                if processing
                else None,
                "baseline_p50_seconds": _round(percentile(derived, 50)) if derived else None,
                "baseline_p95_seconds": _round(percentile(derived, 95)) if derived else None,
                "baseline_note": (
                    f"derived: uniform wait for a {SCHEDULE_MINUTES}-minute schedule "
                    "plus measured processing"
                ),
            }
        )
    )


def _connect(wms_url: str, credentials: dict[str, str], shop) -> object:  # type: ignore[no-untyped-def]
    from cartrover.management.commands.seed_demo import MAPPED_CODES, WMS_METHODS
    from carts.models import CartConnection
    from merchants.services import account_create, merchant_create
    from orders.models import ShipMethodMapping
    from sandbox.shopify import SANDBOX_ACCESS_TOKEN, SANDBOX_CLIENT_SECRET
    from wms.models import Warehouse, WmsConfig, WmsShipMethod

    account = account_create(name="Bench 3PL")
    merchant = merchant_create(account=account, name="Bench merchant")
    merchant.wms_settings = {"customer_id": 1}
    merchant.save()
    WmsConfig.objects.create(
        account=account,
        kind="extensiv",
        credentials=credentials,
        settings={"base_url": wms_url, "facility_id": 1},
    )
    Warehouse.objects.create(account=account, code="1", name="Main warehouse")
    methods = {
        code: WmsShipMethod.objects.create(
            account=account, code=code, description=description, carrier=carrier
        )
        for code, description, carrier in WMS_METHODS
    }
    for cart_code, method in MAPPED_CODES.items():
        ShipMethodMapping.objects.create(
            account=account, merchant=merchant, cart_code=cart_code, ship_method=methods[method]
        )
    return CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="shopify",
        order_source="Bench shop",
        credentials={
            "shop_url": shop.base_url,
            "access_token": SANDBOX_ACCESS_TOKEN,
            "webhook_secret": SANDBOX_CLIENT_SECRET,
        },
        download_interval=SCHEDULE_MINUTES,
        shipment_upload_interval=0,
    )


def _web(port: int, env: dict[str, str], folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "cartrover.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=(folder / "web.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _serving(port: int) -> bool:
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).ok
    except requests.RequestException:
        return False


def _watch(warehouse, arrivals: dict[str, float], stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Note the first time each reference is seen at the WMS, every 50 ms."""
    while not stop.wait(0.05):
        with warehouse.lock:
            references = [o["referenceNum"] for o in warehouse.orders.values()]
        now = time.monotonic()
        for reference in references:
            arrivals.setdefault(reference, now)


def _new_order(shop) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    created = time.monotonic()
    order = shop.add_order()  # fires orders/create to the hub's intake
    return order["id"], created


def _latencies(cart, created: dict[int, float], arrivals: dict[str, float]) -> list[float]:  # type: ignore[no-untyped-def]
    return [latency for _, latency in _by_id(cart, created, arrivals)]


def _all_arrived(cart, created: dict[int, float], arrivals: dict[str, float]) -> bool:  # type: ignore[no-untyped-def]
    return len(_latencies(cart, created, arrivals)) == len(created)


def _measure(shop, cart, arrivals, count: int, spread: float) -> list[float]:  # type: ignore[no-untyped-def]
    """Create `count` orders evenly over `spread` seconds; return their latencies."""
    created: dict[int, float] = {}
    began = time.monotonic()
    for n in range(count):
        pause = began + spread * n / count - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        order_id, at = _new_order(shop)
        created[order_id] = at
    wait_until(lambda: _all_arrived(cart, created, arrivals), timeout=120, interval=0.5)
    return _latencies(cart, created, arrivals)


def _measure_scheduled(shop, cart, arrivals, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Create orders without webhooks, make the download due; return due → at WMS times."""
    from datetime import timedelta

    from django.utils import timezone

    from sync.models import Schedule

    schedule = Schedule.objects.filter(cart=cart, flow="download")
    wait_until(lambda: schedule.filter(lease_until__isnull=True).exists(), timeout=60)
    schedule.update(next_run_at=timezone.now() + timedelta(minutes=SCHEDULE_MINUTES))
    created = dict(_new_order(shop) for _ in range(count))
    due = time.monotonic()
    schedule.update(next_run_at=timezone.now())
    wait_until(lambda: _all_arrived(cart, created, arrivals), timeout=120, interval=0.5)
    return [latency - (due - created[i]) for i, latency in _by_id(cart, created, arrivals)]


def _by_id(cart, created, arrivals):  # type: ignore[no-untyped-def]
    from orders.models import Order

    keys = {
        int(o.external_id): o.key
        for o in Order.objects.filter(cart=cart, external_id__in=[str(i) for i in created])
    }
    return [
        (i, arrivals[keys[i]] - at)
        for i, at in created.items()
        if i in keys and keys[i] in arrivals
    ]


def _tail(path: Path) -> str:
    return path.read_text()[-2000:] if path.exists() else ""


def _round(value: float) -> float:
    return round(value, 2)


if __name__ == "__main__":
    main()
