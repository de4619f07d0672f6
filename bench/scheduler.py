"""Scheduler: claim and enqueue 10,000 due schedules of 100,000, and the lag at steady state.

Baseline, same run: django-celery-beat's DatabaseScheduler with the same 100,000 periodic tasks
(interval schedules, 10,000 of them due), measured doing what beat does to find and send the
due ones: loading its schedule, then ticking until every due entry is sent, then saving their
run times. Lag: the real tick (`tick_task`, claim + enqueue) runs every SYNC_TICK_SECONDS for a
bounded window over 100,000 schedules at a 5-minute interval with due times spread evenly;
each claimed row's lag is the claim time minus its `next_run_at`. What a worker does at the end
of a run (next run time, lease freed) is applied to the claimed rows in bulk, so the figure is
the scheduler's own. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from bench.common import percentile, setup_django, timed

# Beyond this, beat's send rate so far is projected to all the due entries (said in the output).
BEAT_BUDGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--lag-seconds", type=float, default=60.0)
    parser.add_argument("--lag-interval-minutes", type=int, default=5)
    args = parser.parse_args()
    os.environ["CELERY_QUEUE"] = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.beat_settings"
    database = setup_django(fresh=True)

    from django.conf import settings

    figures = {"benchmark": "scheduler", "database": database}
    figures["broker"] = settings.CELERY_BROKER_URL.split("://")[0]
    try:
        schedules = _make_schedules(args.schedules)
        figures |= _claim(schedules, args.due)
        figures |= _beat_baseline(args.schedules, args.due)
        figures |= _lag(schedules, args.lag_seconds, args.lag_interval_minutes)
    finally:
        figures["messages_purged"] = _purge()
    print(json.dumps(figures))


def _make_schedules(count: int) -> list[int]:
    from datetime import timedelta

    from django.utils import timezone

    from merchants.models import Merchant
    from merchants.services import account_create
    from sync.models import Schedule

    account = account_create(name="Bench 3PL")
    merchants = Merchant.objects.bulk_create(
        [Merchant(account=account, name=f"M{n}") for n in range(count // 3 + 1)],
        batch_size=5000,
    )
    later = timezone.now() + timedelta(hours=1)
    rows = [
        Schedule(account=account, merchant=m, flow=flow, interval=60, next_run_at=later)
        for m in merchants
        for flow in ("delivery", "ship_confirm", "inventory")
    ][:count]
    return [s.pk for s in Schedule.objects.bulk_create(rows, batch_size=5000)]


def _claim(schedules: list[int], due: int) -> dict:
    """Time one tick's two halves over `due` of the schedules: the claim, then the enqueue."""
    import random
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from sync.models import Schedule
    from sync.scheduler import schedules_claim
    from sync.tasks import schedules_enqueue

    due_ids = random.Random(5).sample(schedules, due)
    now = timezone.now()
    Schedule.objects.filter(pk__in=due_ids).update(next_run_at=now - timedelta(seconds=1))
    with timed() as plain:
        rows = list(
            Schedule.objects.filter(enabled=True, next_run_at__lte=timezone.now())
            .order_by("next_run_at")
            .values_list("pk", flat=True)[:due]
        )
    with timed() as claim:
        ids, token = schedules_claim(limit=due)
    with timed() as enqueue:
        schedules_enqueue(ids, token)
    # Leave every row idle for the lag measurement.
    Schedule.objects.update(lease_until=None, lease_token="")
    return {
        "schedules": len(schedules),
        "due": due,
        "claimed_and_enqueued": len(ids),
        "claim_seconds": round(claim["seconds"], 3),
        "enqueue_seconds": round(enqueue["seconds"], 3),
        "seconds": round(claim["seconds"] + enqueue["seconds"], 3),
        "plain_select_seconds": round(plain["seconds"], 3),
        "plain_select_rows": len(rows),
        "claim_limit_default": settings.SYNC_CLAIM_LIMIT,
    }


def _beat_baseline(count: int, due: int) -> dict:
    """Time django-celery-beat loading, finding and sending `due` of `count` periodic tasks."""
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
    from django_celery_beat.schedulers import DatabaseScheduler

    from cartrover.celery import app

    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    now = timezone.now()
    queue = os.environ["CELERY_QUEUE"]
    batch = 10_000
    for start in range(0, count, batch):
        PeriodicTask.objects.bulk_create(
            [
                PeriodicTask(
                    name=f"bench-{n}",
                    task="bench.noop",
                    interval=every,
                    queue=queue,
                    # Spread the due ones like the claim's: every count/due-th task.
                    last_run_at=now - timedelta(minutes=2) if n % (count // due) == 0 else now,
                )
                for n in range(start, min(start + batch, count))
            ]
        )
    PeriodicTasks.update_changed()
    with timed() as load:
        scheduler = DatabaseScheduler(app=app)
    sent = 0
    budget = time.monotonic() + BEAT_BUDGET_SECONDS
    with timed() as send:
        # Beat's loop: tick() sends one due entry and returns 0 while more are due. Each tick
        # also compares the whole schedule with the last one, so it is bounded in time here.
        for _ in range(due + 1000):
            if scheduler.tick() != 0 or time.monotonic() > budget:
                break
            sent += 1
    with timed() as save:
        scheduler.sync()
    finished = sent >= due
    send_seconds = send["seconds"] if finished else send["seconds"] * due / max(sent, 1)
    return {
        "beat_load_seconds": round(load["seconds"], 3),
        "beat_send_seconds": round(send_seconds, 3),
        "beat_send_measured_seconds": round(send["seconds"], 3),
        "beat_send_projected": not finished,
        "beat_save_seconds": round(save["seconds"], 3),
        "beat_seconds": round(load["seconds"] + send_seconds + save["seconds"], 3),
        "beat_sent": sent,
    }


def _lag(schedules: list[int], seconds: float, interval: int) -> dict:
    """Run the real tick every SYNC_TICK_SECONDS for `seconds`; return lag percentiles."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from sync.models import Schedule
    from sync.tasks import tick_task

    period = timedelta(minutes=interval)
    start = timezone.now()
    count = len(schedules)
    Schedule.objects.update(interval=interval)
    # Due times spread evenly over one interval (in 0.5 s steps): the steady state of
    # schedules that run on time.
    steps = max(1, round(period.total_seconds() * 2))
    size = -(-count // steps)
    for step in range(steps):
        Schedule.objects.filter(pk__in=schedules[step * size : (step + 1) * size]).update(
            next_run_at=start + period * ((step + 0.5) / steps)
        )
    lags: list[float] = []
    ticks = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick_started = time.monotonic()
        before = timezone.now()
        tick_task()
        ticks += 1
        claimed = Schedule.objects.filter(lease_until__isnull=False)
        lags += [
            max(0.0, (before - due_at).total_seconds())
            for due_at in claimed.values_list("next_run_at", flat=True)
        ]
        # What each run does when it ends: next run one interval after it started, lease freed.
        claimed.update(next_run_at=before + period, lease_until=None, lease_token="")
        pause = settings.SYNC_TICK_SECONDS - (time.monotonic() - tick_started)
        if pause > 0:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
    due_now = Schedule.objects.filter(next_run_at__lte=timezone.now()).count()
    return {
        "lag_schedules": count,
        "lag_interval_minutes": interval,
        "lag_due_per_second": round(count / period.total_seconds(), 1),
        "lag_window_seconds": seconds,
        "lag_tick_seconds": settings.SYNC_TICK_SECONDS,
        "lag_claim_limit": settings.SYNC_CLAIM_LIMIT,
        "lag_ticks": ticks,
        "lag_claims": len(lags),
        "lag_p50_seconds": round(percentile(lags, 50), 2) if lags else None,
        "lag_p99_seconds": round(percentile(lags, 99), 2) if lags else None,
        "lag_backlog_at_end": due_now,
    }


def _purge() -> int:
    from cartrover.celery import app

    with app.connection_for_write() as conn:
        return int(app.amqp.queues[os.environ["CELERY_QUEUE"]](conn.default_channel).purge() or 0)


if __name__ == "__main__":
    main()
