"""The broker lost for a minute, database connections cut: no order lost or doubled.

Celery and Redis only carry signals; schedules, leases and order states live in the database.
When every queued message is lost, leases run out and the next tick claims the schedules
again. When a process's database connection is cut, the task fails, Django connects again
for the next one, and the schedule's lease brings the unfinished work back.
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection
from django.utils import timezone

from sync.models import JobRun, Schedule
from tests.reliability.processes import (
    Processes,
    RedisServer,
    poke,
    run_to_the_end,
    uses_postgresql,
    wait_for,
)
from tests.reliability.world import assert_exactly_once, socket_hub

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEADLINE = 120.0
# The outage the hub must ride out: Redis gone for a minute, then back with nothing in it.
REDIS_OUTAGE_SECONDS = 60
# Rounds of cutting every database connection of the worker and beat, and the pause between.
CONNECTION_RESETS = 25
RESET_EVERY_SECONDS = 0.4
CUTS_AT_LEAST = 3
CUTTING_SECONDS_AT_MOST = 60.0


@pytest.fixture
def hub(world, settings):
    hub = socket_hub(world)
    yield hub
    hub.stop()


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.crash()


def test_redis_down_a_minute_and_back_empty_loses_and_doubles_no_order(hub, redis_server, tmp_path):
    processes = Processes(tmp_path, broker_url=redis_server.url, lease_seconds=10)
    try:
        hub.take_orders(4, notify=False)
        # One worker thread behind a slow shop: the tick's messages pile up in Redis.
        hub.shop.set_latency(1.0)
        processes.beat()
        processes.worker(concurrency=1)
        leased = Schedule.objects.filter(merchant=hub.cart.merchant, lease_until__isnull=False)
        wait_for(
            lambda: leased.count() >= 2 and redis_server.messages([processes.queue]) >= 2,
            timeout=DEADLINE,
            what="schedules leased and their messages queued in Redis",
            between=processes.assert_alive,
            details=processes.log_tails,
        )
        lost_leases = set(leased.values_list("pk", flat=True))

        redis_server.crash()
        hub.take_orders(3, notify=False)
        # The outage itself is the fault under test, so this wait is real time on purpose.
        time.sleep(REDIS_OUTAGE_SECONDS)
        hub.shop.clear_faults()
        redis_server.start()
        restarted_at = timezone.now()

        assert redis_server.kept_nothing(), "Redis could have reloaded the lost messages"
        run_to_the_end(hub, processes, 7)
        processes.assert_alive()
        # Each schedule whose message died with Redis ran again once its lease had run out.
        rerun = set(
            JobRun.objects.filter(schedule_id__in=lost_leases, started_at__gte=restarted_at)
            .values_list("schedule_id", flat=True)
            .distinct()
        )
        assert rerun == lost_leases
    finally:
        processes.stop_all()

    assert_exactly_once(hub)


# --- PostgreSQL ----------------------------------------------------------------------------


def needs_postgresql() -> None:
    if uses_postgresql():
        return
    reason = "cutting database connections needs PostgreSQL (set DATABASE_URL)"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def cut_other_connections() -> int:
    """Terminate every other session on the test database (the worker's and beat's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return int(cursor.fetchone()[0])


def test_database_connections_cut_during_ticks_lose_and_double_no_order(hub, tmp_path):
    needs_postgresql()
    processes = Processes(tmp_path, lease_seconds=5)
    try:
        hub.take_orders(6, notify=False)
        processes.beat()
        processes.worker()
        # Cut only once the worker is up and at work: on a busy machine its start alone can
        # outlast all the rounds, and then nothing would be cut.
        wait_for(
            lambda: JobRun.objects.filter(cart=hub.cart).exists(),
            timeout=90,
            what="the worker's first run",
            between=processes.assert_alive,
            details=processes.log_tails,
        )
        cut = 0
        for round_number in range(CONNECTION_RESETS):
            if round_number == CONNECTION_RESETS // 2:
                hub.take_orders(4, notify=False)
                hub.ship_everything()
            poke(hub.cart.merchant)
            cut += cut_other_connections()
            processes.assert_alive()
            time.sleep(RESET_EVERY_SECONDS)
        # The worker holds connections only while it is at work, so rounds may find none to
        # cut; go on (bounded) until some cuts have landed.
        deadline = time.monotonic() + CUTTING_SECONDS_AT_MOST
        while cut < CUTS_AT_LEAST and time.monotonic() < deadline:
            poke(hub.cart.merchant)
            cut += cut_other_connections()
            processes.assert_alive()
            time.sleep(RESET_EVERY_SECONDS / 4)

        assert cut > 0, "no connection of the worker was ever cut: the fault did not happen"
        run_to_the_end(hub, processes, 10)
        processes.assert_alive()
    finally:
        processes.stop_all()

    assert_exactly_once(hub)
