"""Scheduler: time for one tick to claim and enqueue 10,000 due schedules out of 100,000.

Baseline, same run: a plain SELECT of the same due rows (no lock, no lease, no enqueue), the
least any scheduler reading these rows could spend. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid

from bench.common import setup_django, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["CELERY_QUEUE"] = f"bench-{uuid.uuid4().hex[:8]}"
    database = setup_django(fresh=True)

    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from cartrover.celery import app
    from merchants.models import Merchant
    from merchants.services import account_create
    from sync.models import Schedule
    from sync.scheduler import schedules_claim
    from sync.tasks import run_schedule_task

    account = account_create(name="Bench 3PL")
    merchants = Merchant.objects.bulk_create(
        [Merchant(account=account, name=f"M{n}") for n in range(args.schedules // 3 + 1)],
        batch_size=5000,
    )
    later = timezone.now() + timedelta(hours=1)
    rows = [
        Schedule(account=account, merchant=m, flow=flow, interval=60, next_run_at=later)
        for m in merchants
        for flow in ("delivery", "ship_confirm", "inventory")
    ][: args.schedules]
    Schedule.objects.bulk_create(rows, batch_size=5000)
    due_ids = list(Schedule.objects.order_by("?").values_list("pk", flat=True)[: args.due])
    now = timezone.now()
    Schedule.objects.filter(pk__in=due_ids).update(next_run_at=now - timedelta(seconds=1))

    with timed() as baseline:
        plain = list(
            Schedule.objects.filter(enabled=True, next_run_at__lte=timezone.now())
            .order_by("next_run_at")
            .values_list("pk", flat=True)[: args.due]
        )
    settings.SYNC_CLAIM_LIMIT = args.due
    # What tick_task does, in its two halves, timed apart.
    with timed() as claim:
        ids, token = schedules_claim()
    with timed() as enqueue:
        for schedule_id in ids:
            run_schedule_task.delay(schedule_id, token)
    enqueued = len(ids)
    leased = Schedule.objects.filter(lease_until__isnull=False).count()
    with app.connection_for_write() as conn:
        purged = app.amqp.queues[os.environ["CELERY_QUEUE"]](conn.default_channel).purge()
    print(
        json.dumps(
            {
                "benchmark": "scheduler",
                "database": database,
                "broker": settings.CELERY_BROKER_URL.split("://")[0],
                "schedules": args.schedules,
                "due": len(due_ids),
                "claimed_and_enqueued": enqueued,
                "leased": leased,
                "baseline_rows": len(plain),
                "seconds": round(claim["seconds"] + enqueue["seconds"], 3),
                "claim_seconds": round(claim["seconds"], 3),
                "enqueue_seconds": round(enqueue["seconds"], 3),
                "baseline_seconds": round(baseline["seconds"], 3),
                "claim_ratio_to_baseline": round(
                    claim["seconds"] / max(baseline["seconds"], 1e-6), 1
                ),
                "messages_purged": purged,
            }
        )
    )


if __name__ == "__main__":
    main()
