"""Idle polling: download jobs per second through a real Celery worker and Redis.

N Shopify carts, each at its own loopback address of one emulated shop in its own process
(the hub keeps one rate-limit bucket per shop address, as Shopify does per shop). The shop
answers every call after 200 ms and has no orders. Beat ticks every second; this process
makes every idle schedule due again twice a second (as "run now" does), so N carts stand for
many more on a 5-minute schedule. Measured: JobRun rows finished `ok` per second over a
bounded window, first with a thread pool, then (the baseline) with `--pool prefork
--concurrency 2`. Needs Redis (CELERY_BROKER_URL); prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from bench import processes
from bench.common import setup_django, wait_until

LATENCY = 0.2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--carts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "rediss://")):
        print(
            json.dumps(
                {
                    "benchmark": "idle_polling",
                    "skipped": "needs Redis: set CELERY_BROKER_URL=redis://…",
                }
            )
        )
        return
    database = setup_django(fresh=True)
    # One address per cart: the hub rate-limits per shop address, as Shopify does per shop.
    shop, urls = processes.shop(0, latency=LATENCY, addresses=args.carts)
    try:
        _make_carts(urls.split())
        threads = _measure("threads", args.threads, args.window)
        prefork = _measure("prefork", 2, args.window)
    finally:
        processes.stop(shop)
    print(
        json.dumps(
            {
                "benchmark": "idle_polling",
                "database": database,
                "carts": args.carts,
                "shop_latency_seconds": LATENCY,
                "window_seconds": args.window,
                "threads": args.threads,
                "jobs_per_second": threads["jobs_per_second"],
                "jobs_ok": threads["jobs_ok"],
                "jobs_not_ok": threads["jobs_not_ok"],
                "first_error": threads["first_error"],
                "baseline_jobs_per_second": prefork["jobs_per_second"],
                "baseline_jobs_ok": prefork["jobs_ok"],
                "baseline_jobs_not_ok": prefork["jobs_not_ok"],
                "ratio_to_baseline": round(
                    threads["jobs_per_second"] / max(prefork["jobs_per_second"], 1e-9), 1
                ),
                "carts_at_5_minutes": round(threads["jobs_per_second"] * 300),
            }
        )
    )


def _make_carts(urls: list[str]) -> None:
    from carts.models import CartConnection
    from merchants.models import Merchant
    from merchants.services import account_create
    from sandbox.shopify import SANDBOX_ACCESS_TOKEN, SANDBOX_CLIENT_SECRET
    from sync.models import Schedule

    account = account_create(name="Bench 3PL")
    merchants = Merchant.objects.bulk_create(
        [Merchant(account=account, name=f"Merchant {n}") for n in range(max(1, len(urls) // 20))]
    )
    for n, base in enumerate(urls):
        CartConnection.objects.create(
            account=account,
            merchant=merchants[n % len(merchants)],
            kind="shopify",
            order_source=f"Shop {n}",
            credentials={
                "shop_url": base,
                "access_token": SANDBOX_ACCESS_TOKEN,
                "webhook_secret": SANDBOX_CLIENT_SECRET,
            },
            setup={"page_size": 250, "initial_lookback_days": 1},
            shipment_upload_interval=0,
        )
    # Only the downloads run: nothing else is due in this benchmark.
    Schedule.objects.exclude(flow="download").update(enabled=False)


def _measure(pool: str, concurrency: int, window: float) -> dict:
    from django.utils import timezone

    from sync.models import JobRun, Schedule

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix=f"bench-poll-{pool}-"))
    env = processes.worker_env(queue, folder, SYNC_TICK_SECONDS="1")
    JobRun.objects.all().delete()
    Schedule.objects.update(lease_until=None, lease_token="", next_run_at=timezone.now())
    worker = processes.worker(queue, pool, concurrency, env, folder / "worker.log")
    beat = processes.beat(env, folder)

    def poke() -> None:
        Schedule.objects.filter(
            enabled=True, lease_until__isnull=True, next_run_at__gt=timezone.now()
        ).update(next_run_at=timezone.now())

    try:
        started = wait_until(
            lambda: JobRun.objects.filter(outcome="ok").exists(), timeout=60, interval=0.5
        )
        if not started:
            raise RuntimeError(
                f"no download finished within 60 s ({pool} pool): "
                + (folder / "worker.log").read_text()[-2000:]
            )
        # Warm up for a few seconds before the window opens.
        warm_until = time.monotonic() + 5
        while time.monotonic() < warm_until:
            poke()
            time.sleep(0.5)
        opened = timezone.now()
        close_at = time.monotonic() + window
        while time.monotonic() < close_at:
            poke()
            time.sleep(0.5)
        closed = timezone.now()
    finally:
        processes.stop(beat)
        processes.stop(worker)
    in_window = JobRun.objects.filter(finished_at__gte=opened, finished_at__lt=closed)
    ok = in_window.filter(outcome="ok").count()
    seconds = (closed - opened).total_seconds()
    failed = in_window.exclude(outcome="ok")
    return {
        "jobs_per_second": round(ok / seconds, 1),
        "jobs_ok": ok,
        "jobs_not_ok": failed.count(),
        "first_error": (failed.values_list("outcome", "error").first() or ("", ""))[1][:300],
    }


if __name__ == "__main__":
    main()
