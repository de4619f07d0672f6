"""Shared set-up of the benchmarks: a database of their own, Django, timing and RSS helpers."""

from __future__ import annotations

import atexit
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url() -> str:
    """Return the URL of the benchmark database: beside DATABASE_URL's, or a SQLite file.

    The name derives from DATABASE_URL's, so two checkouts sharing a server never collide.
    """
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(base)
        name = parsed.path.strip("/") or "cartrover"
        if "_bench" not in name:
            # One database per benchmark, so benchmarks may run side by side.
            name = f"{name}_bench_{_benchmark_name()}"
        return urlunparse(parsed._replace(path=f"/{name}"))
    # One file per benchmark process: benchmarks run side by side must not share one.
    return f"sqlite:///{ROOT / 'var' / f'bench-{_benchmark_name()}-{os.getpid()}.sqlite3'}"


def _benchmark_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return (spec.name if spec else "run").rsplit(".", 1)[-1]


def setup_django(*, fresh: bool) -> str:
    """Point Django at the benchmark database (recreated when `fresh`) and migrate it."""
    # A terminated benchmark still runs its `finally` blocks, which stop what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = bench_database_url()
    if fresh:
        _recreate(url)
        if url.startswith("sqlite"):
            atexit.register(_recreate, url, create=False)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartrover.settings")
    os.environ.setdefault("ALLOW_PRIVATE_NETWORK_TARGETS", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return "PostgreSQL" if url.startswith("postgres") else "SQLite"


def _recreate(url: str, *, create: bool = True) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parsed.path.strip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Measure wall time of the block into result["seconds"]."""
    result: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition, *, timeout: float, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    """Poll `condition` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
