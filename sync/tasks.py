"""Celery tasks: thin wrappers that take ids and call the scheduler."""

from __future__ import annotations

from celery import shared_task

from sync import scheduler


@shared_task(ignore_result=True)
def tick_task() -> int:
    """Claim due schedules and enqueue one run per claimed row; return how many."""
    ids, token = scheduler.schedules_claim()
    for schedule_id in ids:
        run_schedule_task.delay(schedule_id, token)
    return len(ids)


@shared_task(ignore_result=True, acks_late=True)
def run_schedule_task(schedule_id: int, lease_token: str) -> None:
    """Run one leased schedule; a stale or foreign lease makes this a no-op."""
    scheduler.schedule_run(schedule_id, lease_token)
