"""Real worker and beat processes, and a private Redis, for tests that break them on purpose.

The processes share the test database (`database_url()`) and run on a queue of their own, so
two test files never take each other's messages. Each runs in its own process group: `stop()`
asks for a warm shutdown (SIGTERM), `kill()` is the power cut (SIGKILL to the whole group).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from orders.models import Order, OrderStatus
from sync.models import Schedule

ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL = 3000


def database_url() -> str:
    """Return the URL of the database the running test uses, for processes to share it."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def uses_postgresql() -> bool:
    """Return whether the test database is PostgreSQL."""
    return connection.vendor == "postgresql"


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `celery --app cartrover <args>` in its own process group, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "cartrover", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    """Ask for a warm shutdown; kill the group when it takes longer than 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            kill(process)


def kill(process: subprocess.Popen) -> None:
    """Kill the process and every child of its group at once, as a power cut would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def tail(log: Path) -> str:
    """Return the end of a process log, for failure messages."""
    try:
        return log.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return "(no log)"


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """The worker and beat processes of one test: their environment, logs and life cycle."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        broker_url: str | None = None,
        lease_seconds: int = 5,
        tick_seconds: float = 1.0,
        **extra_env: str,
    ) -> None:
        self.tmp_path = tmp_path
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
            "CELERY_QUEUE": self.queue,
            # With the file-system broker, worker and beat must share the broker folders.
            "VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "ALLOW_PRIVATE_NETWORK_TARGETS": "true",
            "SYNC_TICK_SECONDS": str(tick_seconds),
            "SYNC_LEASE_SECONDS": str(lease_seconds),
            **extra_env,
        }
        self.running: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.exited: dict[str, int] = {}

    def worker(self, name: str = "worker", *, concurrency: int = 4) -> subprocess.Popen:
        """Start a worker on this test's queue (a thread pool, like production)."""
        args = [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--queues",
            self.queue,
            "--hostname",
            f"{name}-{self.queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        return self._start(name, args)

    def beat(self, name: str = "beat") -> subprocess.Popen:
        """Start a beat with a schedule file of its own."""
        args = ["beat", "--schedule", str(self.tmp_path / f"{name}-schedule"), "--loglevel", "INFO"]
        return self._start(name, args)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        assert name not in self.running, f"{name} is running already"
        log = self.tmp_path / f"{name}-{len(self.logs)}.log"
        self.logs[name] = log
        process = start(args, self.env, log)
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        """Kill one process's whole group (SIGKILL)."""
        kill(self.running.pop(name))

    def terminate(self, name: str) -> subprocess.Popen:
        """Send SIGTERM (warm shutdown) to one process and return it, without waiting."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGTERM)
        return process

    def dead(self) -> dict[str, int]:
        """Return the processes that exited by themselves, with their exit codes."""
        for name, process in list(self.running.items()):
            if process.poll() is not None:
                self.exited[name] = process.returncode
                del self.running[name]
        return dict(self.exited)

    def assert_alive(self) -> None:
        """Fail, with their logs, when a process exited on its own."""
        dead = self.dead()
        assert not dead, "\n".join(
            f"{name} exited with {code}:\n{tail(self.logs[name])}" for name, code in dead.items()
        )

    def log_tails(self) -> str:
        """Return the end of every log, for failure messages."""
        return "\n".join(f"--- {name}\n{tail(log)}" for name, log in self.logs.items())

    def stop_all(self) -> None:
        """Stop every process still running: beats first, so nothing new is queued."""
        beats = [p for name, p in self.running.items() if name.startswith("beat")]
        others = [p for name, p in self.running.items() if not name.startswith("beat")]
        for group in (beats, others):
            for process in group:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in group:
                stop(process)
        self.running.clear()


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float,
    what: str,
    every: float = 0.2,
    between: Callable[[], None] | None = None,
    details: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds.

    `between` runs after each false poll (to check processes, or to poke schedules).
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}\n{details() if details else ''}")
        if between is not None:
            between()
        time.sleep(every)


# --- Driving the flows ---------------------------------------------------------------------


def poke(merchant: object, *, idle_seconds: float = 1.0) -> int:
    """Make the merchant's idle schedules due now, like pressing "run now" on each.

    A schedule that started a run less than `idle_seconds` ago is left alone, so polling
    loops do not hammer the emulators (and their rate limits) with back-to-back runs.
    """
    now = timezone.now()
    recent = now - timedelta(seconds=idle_seconds)
    return (
        Schedule.objects.filter(merchant=merchant, enabled=True, lease_until__isnull=True)
        .filter(Q(last_run_at__isnull=True) | Q(last_run_at__lt=recent))
        .update(next_run_at=now)
    )


def statuses(cart: object) -> Counter:
    """Count the cart's orders per status."""
    return Counter(Order.objects.filter(cart=cart).values_list("status", flat=True))


def run_to_the_end(
    hub: object, processes: Processes, expected: int, *, timeout: float = 120.0
) -> None:
    """Let the processes download, deliver, ship and confirm `expected` orders of `hub`.

    `hub` is a SocketHub: its warehouse ships whatever reached it while this waits.
    """
    cart = hub.cart  # type: ignore[attr-defined]
    settled = {OrderStatus.AT_WMS, OrderStatus.SHIPPED, OrderStatus.CONFIRMED}

    def confirmed() -> bool:
        now = statuses(cart)
        if sum(now.values()) == expected and set(now) <= settled:
            hub.ship_everything()  # type: ignore[attr-defined]
        return now == {OrderStatus.CONFIRMED: expected}

    def between() -> None:
        processes.assert_alive()
        poke(cart.merchant)

    wait_for(
        confirmed,
        timeout=timeout,
        what=f"{expected} orders confirmed",
        between=between,
        details=lambda: f"{unsettled(cart)}\n{processes.log_tails()}",
    )


def unsettled(cart: object) -> str:
    """Describe the cart's orders that are not confirmed yet, for failure messages."""
    lines = [f"orders {dict(statuses(cart))}"]
    for order in Order.objects.filter(cart=cart).exclude(status=OrderStatus.CONFIRMED)[:10]:
        lines.append(
            f"  {order.order_number} {order.status} attempts={order.delivery_attempts} "
            f"error={order.last_error!r}"
        )
        for shipment in order.shipments.all():
            lines.append(
                f"    tracking {shipment.tracking_number} {shipment.upload_state} "
                f"attempts={shipment.upload_attempts} next={shipment.next_attempt_at} "
                f"error={shipment.last_error!r}"
            )
    return "\n".join(lines)


# --- A private Redis -----------------------------------------------------------------------


def redis_server_binary() -> str:
    """Return the redis-server executable; skip the test without one (fail when required)."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return binary


class RedisServer:
    """A throw-away redis-server on a loopback port that keeps nothing on disk."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = redis_server_binary()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (empty) and wait until it answers PING."""
        self.starts += 1
        log = self.workdir / f"redis-{self.starts}.log"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            self.answers,
            timeout=20,
            what=f"redis-server answering on port {self.port}",
            details=lambda: tail(log),
        )

    def answers(self) -> bool:
        """Return whether the server answers PING now."""
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def client(self):  # type: ignore[no-untyped-def]
        """Return a client of this server, for looking at queues."""
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)

    def crash(self) -> None:
        """Kill the server: every queued and unacknowledged message is gone with it."""
        if self.process is not None:
            kill(self.process)
            self.process = None

    def kept_nothing(self) -> bool:
        """Return whether no snapshot or append-only file exists that a restart could load."""
        return not any(self.workdir.glob("*.rdb")) and not any(self.workdir.glob("appendonly*"))

    def messages(self, queues: Iterable[str]) -> int:
        """Return the messages waiting in `queues` plus those delivered but not acknowledged."""
        client = self.client()
        waiting = sum(int(client.llen(queue)) for queue in queues)
        return waiting + int(client.hlen("unacked"))
