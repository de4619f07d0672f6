"""Delivery: orders per second delivered as CSV over the emulated SFTP server.

20,000 new orders (3 lines each) wait in the database; the real delivery flow runs as a worker
runs it (the CSV file WMS, its default layout, batches of the adapter's size, one file each)
until none is left. Baseline, same run: the same orders read with their lines, written as one
CSV by the same layout engine, and uploaded once over the same SFTP server. Prints one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import setup_django, timed

USER = "hub-login"
PASSWORD = "Bench-Sftp-Pa55-word"  # noqa: S105 (a loopback emulator's login)
FOLDER = "bench"
RUN_BUDGET_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    database = setup_django(fresh=True)

    from sandbox.sftp_server import SftpEmulator

    root = Path(tempfile.mkdtemp(prefix="bench-sftp-"))
    server = SftpEmulator(root)
    folders = [f"{FOLDER}/{name}" for name in ("in", "out", "archive", "errors")]
    home = server.add_user(USER, password=PASSWORD, folders=folders)
    with server:
        merchant = _world(server, args.orders)
        baseline = _baseline(merchant)
        flow = _flow(merchant)
    files = list((home / FOLDER / "in").iterdir())
    print(
        json.dumps(
            {
                "benchmark": "delivery",
                "database": database,
                "orders": args.orders,
                "delivered": flow["delivered"],
                "runs": flow["runs"],
                "files": len(files) - 1,  # less the baseline's own file
                "seconds": round(flow["seconds"], 2),
                "orders_per_second": round(flow["delivered"] / flow["seconds"], 1),
                "baseline_seconds": round(baseline["seconds"], 2),
                "baseline_read_seconds": round(baseline["read"], 2),
                "baseline_write_seconds": round(baseline["write"], 2),
                "baseline_upload_seconds": round(baseline["upload"], 2),
                "baseline_bytes": baseline["bytes"],
                "baseline_orders_per_second": round(args.orders / baseline["seconds"], 1),
                "ratio_to_baseline": round(flow["seconds"] / baseline["seconds"], 1),
            }
        )
    )


def _world(server, count: int):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from carts.models import CartConnection
    from merchants.services import account_create, merchant_create
    from orders.models import Order, OrderLine
    from wms.models import WmsConfig, WmsShipMethod

    account = account_create(name="Bench 3PL")
    merchant = merchant_create(account=account, name="Bench merchant")
    merchant.wms_settings = {"folder": FOLDER}
    merchant.save()
    WmsConfig.objects.create(
        account=account,
        kind="csv_file",
        credentials={"password": PASSWORD},
        settings={
            "transport": "sftp",
            "host": server.host,
            "port": server.port,
            "username": USER,
            "root": "/",
            "host_key": server.host_key_line(),
        },
    )
    ground = WmsShipMethod.objects.create(account=account, code="GROUND", carrier="UPS")
    cart = CartConnection.objects.create(
        account=account, merchant=merchant, kind="dummy", order_source="Bench shop"
    )
    now = timezone.now()
    address = {
        "name": "Ada Buyer",
        "address1": "1 Main St",
        "city": "Reno",
        "state": "NV",
        "postal_code": "89501",
        "country": "US",
    }
    batch = 5000
    for start in range(0, count, batch):
        orders = Order.objects.bulk_create(
            [
                Order(
                    account=account,
                    merchant=merchant,
                    cart=cart,
                    external_id=str(n),
                    order_number=f"#{100000 + n}",
                    order_source="Bench shop",
                    placed_at=now - timezone.timedelta(seconds=count - n),
                    customer_email=f"buyer{n}@example.com",
                    ship_to=address,
                    ship_method=ground,
                    ship_method_code="standard",
                )
                for n in range(start, min(start + batch, count))
            ]
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    account=account,
                    order=order,
                    line_id=f"{order.external_id}-{k}",
                    sku=f"SKU-{(int(order.external_id) + k) % 500}",
                    wms_sku=f"SKU-{(int(order.external_id) + k) % 500}",
                    name="Bench item",
                    quantity=1 + k,
                    price="9.50",
                )
                for order in orders
                for k in range(3)
            ]
        )
    return merchant


def _baseline(merchant) -> dict:  # type: ignore[no-untyped-def]
    from orders.models import Order
    from sync.flows.context import merchant_ref
    from sync.outbox import wms_order
    from wms.models import WmsConfig
    from wms.services import wms_adapter

    adapter = wms_adapter(WmsConfig.objects.get(account_id=merchant.account_id))
    with timed() as read:
        orders = [
            wms_order(o)
            for o in Order.objects.filter(merchant=merchant)
            .select_related("ship_method", "cart", "merchant")
            .prefetch_related("lines")
            .order_by("placed_at", "id")
        ]
    from wms.files.layout import write_orders

    with timed() as write:
        data = write_orders(adapter._order_layout(), orders)
    ref = merchant_ref(merchant)
    with timed() as upload:
        transport = adapter.transport()
        try:
            transport.put(adapter.folder("orders_folder", ref), "baseline-all-orders.csv", data)
        finally:
            transport.close()
    return {
        "seconds": read["seconds"] + write["seconds"] + upload["seconds"],
        "read": read["seconds"],
        "write": write["seconds"],
        "upload": upload["seconds"],
        "bytes": len(data),
    }


def _flow(merchant) -> dict:  # type: ignore[no-untyped-def]
    from orders.models import Order
    from sync.models import Schedule
    from sync.scheduler import schedule_run_once

    schedule = Schedule.objects.get(merchant=merchant, cart=None, flow="delivery")
    pending = Order.objects.filter(merchant=merchant, status="new")
    runs = 0
    deadline = time.monotonic() + RUN_BUDGET_SECONDS
    with timed() as flow:
        # One run sends up to its batch limit; a worker would run it again at once.
        while pending.exists() and time.monotonic() < deadline and runs < 1000:
            run = schedule_run_once(schedule)
            runs += 1
            if run is None or run.outcome not in ("ok", "partial"):
                raise RuntimeError(f"delivery run failed: {run and run.error}")
    return {
        "seconds": flow["seconds"],
        "runs": runs,
        "delivered": Order.objects.filter(merchant=merchant, status="at_wms").count(),
    }


if __name__ == "__main__":
    main()
