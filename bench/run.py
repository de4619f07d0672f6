"""Run every benchmark, print a table of figures beside their baselines, and save JSON.

`make bench` runs this. Each benchmark runs in its own process (so its memory is its own) on
a database of its own: beside DATABASE_URL's when it is PostgreSQL, else a SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDERS = int(os.environ.get("BENCH_ORDERS", "20000"))
LIST_ORDERS = int(os.environ.get("BENCH_LIST_ORDERS", "200000"))


def run(module: str, *args: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if result.returncode != 0:
        return {"benchmark": module, "error": result.stderr.strip().splitlines()[-1:]}
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    results = [
        run("ingest", "--orders", str(ORDERS)),
        run("ingest", "--orders", str(ORDERS // 10)),
        run("scheduler"),
        run("order_list", "--orders", str(LIST_ORDERS)),
    ]
    ingest, small, scheduler, order_list = results
    rows = []
    if "error" not in ingest:
        rows.append(
            (
                f"ingest ({ingest['orders_stored']} orders)",
                f"{ingest['orders_per_second']} orders/s in {ingest['seconds']} s",
                f"raw fetch + bulk write {ingest['baseline_seconds']} s",
                f"{ingest['ratio_to_baseline']}x baseline time",
                _goal(
                    ingest["orders_per_second"] >= 5000 and ingest["ratio_to_baseline"] <= 2,
                    "≥ 5,000/s, ≤ 2x",
                ),
            )
        )
    if "error" not in ingest and "error" not in small:
        rows.append(
            (
                "worker memory (peak RSS)",
                f"{ingest['peak_rss_mb']} MB",
                f"{small['peak_rss_mb']} MB at {small['orders_stored']} orders",
                f"{round(ingest['peak_rss_mb'] / small['peak_rss_mb'], 2)}x",
                _goal(
                    ingest["peak_rss_mb"] <= 250
                    and ingest["peak_rss_mb"] <= small["peak_rss_mb"] * 1.2,
                    "≤ 250 MB, flat",
                ),
            )
        )
    if "error" not in scheduler:
        rows.append(
            (
                "scheduler: claim 10k of 100k",
                f"{scheduler['claim_seconds']} s",
                f"plain SELECT {scheduler['baseline_seconds']} s",
                f"enqueue {scheduler['enqueue_seconds']} s more",
                _goal(scheduler["claim_seconds"] <= 1, "claim ≤ 1 s"),
            )
        )
    if "error" not in order_list:
        rows.append(
            (
                f"order list ({order_list['orders']} orders)",
                f"p50 {order_list['p50_ms']} ms, p95 {order_list['p95_ms']} ms",
                f"trivial page p95 {order_list['baseline_p95_ms']} ms",
                f"{round(order_list['p95_ms'] / order_list['baseline_p95_ms'], 1)}x",
                _goal(order_list["p95_ms"] <= 150, "p95 ≤ 150 ms"),
            )
        )
    database = next((r["database"] for r in results if "database" in r), "?")
    print(f"Benchmarks on {database} ({os.cpu_count()} cores)\n")
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(5)]
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for r in results:
        if "error" in r:
            print(f"\n{r['benchmark']} failed: {r['error']}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(
        f"\nNot measured yet: idle polling, webhook to WMS, CSV delivery over SFTP.\nSaved {path}"
    )


HEADER = ("benchmark", "figure", "baseline (same run)", "ratio", "goal")


def _goal(met: bool, goal: str) -> str:
    return f"met ({goal})" if met else f"NOT met ({goal})"


if __name__ == "__main__":
    main()
