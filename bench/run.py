"""Run every benchmark, print a table of figures beside their baselines, and save JSON.

`make bench` runs this. Each benchmark runs in its own process (so its memory is its own) on
a database of its own: beside DATABASE_URL's when it is PostgreSQL, else a SQLite file. Sizes
are the spec's unless lowered by environment variables (BENCH_ORDERS, BENCH_LIST_ORDERS,
BENCH_DELIVERY_ORDERS, BENCH_WEBHOOK_ORDERS); BENCH_ONLY=ingest,scheduler runs a subset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))
# SQLite builds rows through the ORM, too slow for the spec's million within the time budget.
LIST_ORDERS = int(os.environ.get("BENCH_LIST_ORDERS", "1000000" if POSTGRESQL else "200000"))
DELIVERY_ORDERS = int(os.environ.get("BENCH_DELIVERY_ORDERS", "20000"))
WEBHOOK_ORDERS = int(os.environ.get("BENCH_WEBHOOK_ORDERS", "200"))
TIMEOUT_SECONDS = 1500

HEADER = ("benchmark", "figure", "baseline (same run)", "ratio", "goal")


def run(name: str, module: str, *args: str) -> dict[str, Any]:
    """Run `bench.<module>` in its own process; return its JSON figures or its error."""
    started = time.perf_counter()
    print(f"… {name}", file=sys.stderr, flush=True)
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()  # lets the benchmark stop the processes it started
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        return {"benchmark": name, "error": [f"did not finish within {TIMEOUT_SECONDS} s"]}
    lines = stdout.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"benchmark": name, "error": stderr.strip().splitlines()[-3:]}
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["name"] = name
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _goal(met: bool, goal: str) -> str:
    return f"goal met ({goal})" if met else f"goal NOT met ({goal})"


def _ingest(r: dict[str, Any], small: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = [
        (
            f"ingest ({r['orders_stored']:,} of {r['orders_in_shop']:,} orders kept, "
            f"{r['lines_per_order']} lines each)",
            f"{r['orders_per_second']:,} orders/s in {r['seconds']} s",
            f"raw fetch {r['baseline_fetch_seconds']} s + COPY {r['baseline_write_seconds']} s",
            f"{r['ratio_to_baseline']}x baseline time",
            _goal(
                r["orders_per_second"] >= 5000 and r["ratio_to_baseline"] <= 2,
                "≥ 5,000/s, ≤ 2x baseline",
            ),
        )
    ]
    if "error" not in small:
        ratio = r["peak_rss_mb"] / small["peak_rss_mb"]
        rows.append(
            (
                f"worker memory (peak RSS, {r['orders_stored']:,} orders)",
                f"{r['peak_rss_mb']} MB",
                f"{small['peak_rss_mb']} MB at {small['orders_stored']:,} orders",
                f"{ratio:.2f}x",
                _goal(r["peak_rss_mb"] <= 250 and ratio <= 1.2, "≤ 250 MB, flat (≤ 1.2x)"),
            )
        )
    return rows


def _scheduler(r: dict[str, Any]) -> list[tuple[str, ...]]:
    projected = " (projected)" if r["beat_send_projected"] else ""
    return [
        (
            f"scheduler: claim {r['due']:,} of {r['schedules']:,}",
            f"claim {r['claim_seconds']} s + enqueue {r['enqueue_seconds']} s",
            f"celery-beat: load {r['beat_load_seconds']} s + send "
            f"{r['beat_send_seconds']} s{projected} + save {r['beat_save_seconds']} s",
            f"{r['seconds'] / r['beat_seconds']:.3f}x beat time",
            _goal(
                r["claim_seconds"] <= 1 and r["seconds"] < r["beat_seconds"],
                "claim ≤ 1 s, ahead of beat",
            ),
        ),
        (
            f"scheduler lag ({r['lag_schedules']:,} schedules, {r['lag_due_per_second']}/s due)",
            f"p50 {r['lag_p50_seconds']} s, p99 {r['lag_p99_seconds']} s",
            f"tick {r['lag_tick_seconds']} s, claim limit {r['lag_claim_limit']}",
            f"{r['lag_claims']:,} claims in {r['lag_window_seconds']:.0f} s, "
            f"{r['lag_backlog_at_end']:,} due at the end",
            # Steady state: no more is due at the end than one tick interval brings. A backlog
            # the ticks cannot clear grows past that, and then the p99 means nothing.
            _goal(
                r["lag_p99_seconds"] is not None
                and r["lag_p99_seconds"] <= 30
                and r["lag_backlog_at_end"] <= r["lag_due_per_second"] * r["lag_tick_seconds"],
                "p99 ≤ 30 s, backlog ≤ one tick's arrivals",
            ),
        ),
    ]


def _idle(r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            f"idle polling ({r['carts']:,} carts, shop answers in {r['shop_latency_seconds']} s)",
            f"{r['jobs_per_second']} jobs/s (threads {r['threads']})",
            f"prefork 2: {r['baseline_jobs_per_second']} jobs/s",
            f"{r['ratio_to_baseline']}x",
            _goal(r["jobs_per_second"] >= 200, "≥ 200 jobs/s"),
        )
    ]


def _webhook(r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            f"webhook to WMS ({r['arrived']}/{r['orders']} orders, {r['wms']})",
            f"p50 {r['p50_seconds']} s, p95 {r['p95_seconds']} s",
            f"5-min schedule: p50 {r['baseline_p50_seconds']} s, p95 "
            f"{r['baseline_p95_seconds']} s (derived)",
            f"{r['baseline_p95_seconds'] / r['p95_seconds']:.0f}x faster at p95"
            if r["p95_seconds"] and r["baseline_p95_seconds"]
            else "-",
            _goal(
                r["arrived"] == r["orders"] and (r["p95_seconds"] or 99) <= 10,
                "all arrive, p95 ≤ 10 s",
            ),
        )
    ]


def _order_list(r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            f"order list ({r['orders']:,} orders, 50 merchants)",
            f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms",
            f"trivial page p95 {r['baseline_p95_ms']} ms",
            f"{r['p95_ms'] / r['baseline_p95_ms']:.1f}x",
            _goal(r["p95_ms"] <= 150, "p95 ≤ 150 ms"),
        )
    ]


def _delivery(r: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            f"delivery ({r['delivered']:,} of {r['orders']:,} orders, CSV over SFTP)",
            f"{r['orders_per_second']:,} orders/s in {r['seconds']} s ({r['files']} files)",
            f"one CSV + one upload: {r['baseline_seconds']} s "
            f"({r['baseline_orders_per_second']:,} orders/s)",
            f"{r['ratio_to_baseline']}x baseline time",
            _goal(r["orders_per_second"] >= 5000, "≥ 5,000 orders/s"),
        )
    ]


def main() -> None:
    only = {n for n in os.environ.get("BENCH_ONLY", "").split(",") if n}
    plan: list[tuple[str, str, list[str]]] = [
        ("ingest", "ingest", ["--orders", str(ORDERS)]),
        ("ingest_small", "ingest", ["--orders", str(max(1, ORDERS // 10))]),
        ("scheduler", "scheduler", []),
        ("idle_polling", "idle_polling", []),
        ("webhook", "webhook", ["--orders", str(WEBHOOK_ORDERS)]),
        ("order_list", "order_list", ["--orders", str(LIST_ORDERS)]),
        ("delivery", "delivery", ["--orders", str(DELIVERY_ORDERS)]),
    ]
    if only:
        plan = [p for p in plan if p[0] in only or p[0].split("_small")[0] in only]
    started = time.perf_counter()
    results = {name: run(name, module, *args) for name, module, args in plan}
    rows: list[tuple[str, ...]] = []
    builders: list[tuple[str, Callable[[dict[str, Any]], list[tuple[str, ...]]]]] = [
        ("scheduler", _scheduler),
        ("idle_polling", _idle),
        ("webhook", _webhook),
        ("order_list", _order_list),
        ("delivery", _delivery),
    ]
    ingest = results.get("ingest", {"error": "not run"})
    if "error" not in ingest:
        rows += _ingest(ingest, results.get("ingest_small", {"error": "not run"}))
    for name, build in builders:
        result = results.get(name)
        if result and "error" not in result and "skipped" not in result:
            try:
                rows += build(result)
            except (KeyError, TypeError, ZeroDivisionError) as exc:
                result["error"] = [f"incomplete figures ({exc!r}): {json.dumps(result)[:300]}"]
    database = next((r["database"] for r in results.values() if "database" in r), "?")
    print(f"Benchmarks on {database}, {os.cpu_count()} cores\n")
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(5)]
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for name, result in results.items():
        if "error" in result:
            print(f"\n{name} failed: {' / '.join(result['error'])}")
        elif "skipped" in result:
            print(f"\n{name} skipped: {result['skipped']}")
    notes = []
    if ORDERS != 100_000:
        notes.append(f"ingest ran {ORDERS:,} orders (spec: 100,000; BENCH_ORDERS)")
    if LIST_ORDERS != 1_000_000:
        explicit = POSTGRESQL or "BENCH_LIST_ORDERS" in os.environ
        why = "BENCH_LIST_ORDERS" if explicit else "SQLite builds rows through the ORM"
        notes.append(f"order list ran {LIST_ORDERS:,} orders (spec: 1,000,000; {why})")
    if DELIVERY_ORDERS != 20_000:
        notes.append(f"delivery ran {DELIVERY_ORDERS:,} orders (spec: 20,000)")
    if WEBHOOK_ORDERS != 200:
        notes.append(f"webhook ran {WEBHOOK_ORDERS} orders (spec: 200)")
    scheduler = results.get("scheduler", {})
    if scheduler.get("beat_send_projected"):
        notes.append(
            f"celery-beat sent {scheduler['beat_sent']:,} of {scheduler['due']:,} due entries "
            f"in {scheduler['beat_send_measured_seconds']} s; its send time is projected"
        )
    for note in notes:
        print(f"Note: {note}.")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(list(results.values()), indent=2))
    print(
        f"\nAll benchmarks: {time.perf_counter() - started:.0f} s. Saved {path.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
