"""Shared set-up of the benchmarks: a database of their own, Django, timing and RSS helpers."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url() -> str:
    """Return the URL of the benchmark database: beside DATABASE_URL's, or a SQLite file."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        parsed = urlparse(base)
        return urlunparse(parsed._replace(path="/cartrover_bench"))
    return f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"


def setup_django(*, fresh: bool) -> str:
    """Point Django at the benchmark database (recreated when `fresh`) and migrate it."""
    url = bench_database_url()
    if fresh:
        _recreate(url)
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


def _recreate(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS cartrover_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE cartrover_bench")


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
