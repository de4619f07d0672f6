"""Ingest: orders per second through the real download flow from the Shopify emulator.

The shop runs in its own process (`bench.shop`: 250 orders a page, no rate limit, 3 lines an
order on average). The flow runs first, in this process as a worker runs it, so the peak RSS
printed is the flow's own (Django set-up included). Baseline, same run, afterwards: fetching
the same pages raw (requests, no mapping) plus a COPY of the same rows into PostgreSQL (or
executemany into SQLite). Run as a module; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import peak_rss_mb, setup_django, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    database = setup_django(fresh=True)

    from bench import processes
    from sandbox.shopify import ShopifyEmulator

    # The shop runs in its own process, as a real one would: it must not share our GIL.
    defaults = ShopifyEmulator()
    with timed() as generation:
        shop_process, base = processes.shop(args.orders)
    try:
        measure(args.orders, database, base, defaults, generation["seconds"])
    finally:
        processes.stop(shop_process)


def measure(orders: int, database: str, base: str, defaults: Any, generation: float) -> None:
    """Measure the baseline and the real flow against the running shop; print the figures."""
    import requests

    from carts.models import CartConnection
    from merchants.services import account_create, merchant_create
    from orders.models import Order, OrderLine
    from sync.models import Schedule
    from sync.scheduler import schedule_run_once

    account = account_create(name="Bench 3PL")
    merchant = merchant_create(account=account, name="Bench merchant")
    cart = CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="shopify",
        order_source="Bench shop",
        credentials={
            "shop_url": base,
            "access_token": defaults.access_token,
            "webhook_secret": defaults.client_secret,
        },
        setup={
            "page_size": 250,
            "initial_lookback_days": 60,
            "financial_statuses": ["any"],
            "fulfillment_status": "any",
            "include_non_shipping_lines": True,
        },
    )

    # The real flow, as a worker runs it; first, so the peak RSS is its own.
    schedule = Schedule.objects.get(cart=cart, flow="download")
    with timed() as flow:
        run = schedule_run_once(schedule)
    flow_rss = peak_rss_mb()
    stored = Order.objects.filter(cart=cart).count()

    # Baseline 1: the raw pages.
    pages = []
    with timed() as fetch:
        url = f"{base}/admin/api/2024-10/orders.json?status=any&limit=250"
        headers = {"X-Shopify-Access-Token": defaults.access_token}
        session = requests.Session()
        while url:
            response = session.get(url, headers=headers, timeout=60)
            pages.append(response.json()["orders"])
            url = response.links.get("next", {}).get("url", "")
    fetched = sum(len(p) for p in pages)

    # Baseline 2: the same rows written in bulk.
    rows = [(str(o["id"]), o["name"], json.dumps(o)) for page in pages for o in page]
    lines = [
        (str(o["id"]), li.get("sku") or "", li["quantity"])
        for page in pages
        for o in page
        for li in o["line_items"]
    ]
    with timed() as copy:
        _bulk_write(rows, lines)

    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "database": database,
                "orders_in_shop": orders,
                "orders_fetched_raw": fetched,
                "orders_stored": stored,
                "lines_stored": OrderLine.objects.filter(order__cart=cart).count(),
                "outcome": run.outcome if run else "not run",
                "seconds": round(flow["seconds"], 2),
                "orders_per_second": round(stored / flow["seconds"], 1),
                "baseline_seconds": round(fetch["seconds"] + copy["seconds"], 2),
                "baseline_fetch_seconds": round(fetch["seconds"], 2),
                "baseline_write_seconds": round(copy["seconds"], 2),
                "ratio_to_baseline": round(
                    flow["seconds"] / (fetch["seconds"] + copy["seconds"]), 2
                ),
                "emulator_generation_seconds": round(generation, 2),
                "peak_rss_mb": round(flow_rss, 1),
                "lines_per_order": round(
                    sum(len(o["line_items"]) for page in pages for o in page) / max(fetched, 1), 2
                ),
            }
        )
    )


def _bulk_write(rows: list[tuple[str, str, str]], lines: list[tuple[str, str, int]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_orders (id text, name text, raw text)")
        cursor.execute("CREATE TEMP TABLE bench_lines (order_id text, sku text, qty int)")
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg cursor, for COPY
            with raw.copy("COPY bench_orders (id, name, raw) FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)
            with raw.copy("COPY bench_lines (order_id, sku, qty) FROM STDIN") as out:
                for line in lines:
                    out.write_row(line)
        else:
            cursor.executemany("INSERT INTO bench_orders VALUES (%s, %s, %s)", rows)
            cursor.executemany("INSERT INTO bench_lines VALUES (%s, %s, %s)", lines)


if __name__ == "__main__":
    main()
