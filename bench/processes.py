"""Processes the benchmarks start: Celery worker and beat, the web server, emulator hosts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT


def celery(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `celery --app cartrover <args>` in its own process group, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "cartrover", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def worker(queue: str, pool: str, concurrency: int, env: dict[str, str], log: Path):  # type: ignore[no-untyped-def]
    """Start a worker on `queue` with `pool` and `concurrency`."""
    return celery(
        [
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        env,
        log,
    )


def beat(env: dict[str, str], folder: Path) -> subprocess.Popen:
    """Start beat with its schedule file in `folder`."""
    return celery(
        ["beat", "--schedule", str(folder / "beat-schedule"), "--loglevel", "WARNING"],
        env,
        folder / "beat.log",
    )


def stop(process: subprocess.Popen) -> None:
    """Ask the process group for a warm shutdown; kill it after 20 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def shop(
    orders: int, *, latency: float = 0.0, addresses: int = 1
) -> tuple[subprocess.Popen[str], str]:
    """Start `bench.shop` (a Shopify emulator) in its own process; return it and its URL(s)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.shop",
            "--orders",
            str(orders),
            "--latency",
            str(latency),
            "--addresses",
            str(addresses),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the shop serves, or the process ends
    if match := re.search(r" at (http://.+)$", line.strip()):
        return process, match.group(1)
    stop(process)
    raise RuntimeError(f"the Shopify emulator did not start: {line!r}")


def worker_env(queue: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """Return the environment of processes sharing this process's database and broker."""
    from django.conf import settings

    return {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
