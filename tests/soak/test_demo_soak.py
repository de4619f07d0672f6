"""The demo on its embedded default, left running under order load: nothing stops, nothing is lost.

`make run` in a temporary folder, as a newcomer runs it: SQLite, the embedded broker, web,
worker, beat and the demo's emulated shops and warehouse, all started by the launcher. The
shops take a new order every few seconds for SOAK_SECONDS (60 unless set; CI sets 600). Then
new orders stop, the ship codes the demo leaves unmapped are mapped (as staff would on the Holds
page), and every order the shops took while the demo ran must be at the emulated warehouse
exactly once, except an order the warehouse refuses on purpose (a line without an SKU), which
must be one the hub holds back with the refusal.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.processes import free_port, kill, tail, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ORDER_EVERY_SECONDS = 3.0


def port_base() -> int:
    """Return a base port whose +1..+10 are all free on loopback (the demo's emulators)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 60000, 100)
        try:
            for offset in range(1, 11):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free block of ten loopback ports")


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


# Map every ship code the demo's shops sent that no one has mapped, as staff would on Holds.
MAP_THE_REST = """
from orders.models import Order, OrderStatus
from orders.services import ship_method_map
from wms.models import WmsShipMethod
for order in Order.objects.filter(status=OrderStatus.HELD).select_related("merchant"):
    method = WmsShipMethod.objects.get(account=order.account, code="GROUND")
    ship_method_map(merchant=order.merchant, cart_code=order.ship_method_code, ship_method=method)
"""


def test_the_demo_stays_up_under_order_load_and_every_order_reaches_the_warehouse(tmp_path):
    seconds = float(os.environ.get("SOAK_SECONDS", "60"))
    port, base = free_port(), port_base()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "REQUIRE_SERVICES"}
    }
    var = tmp_path / "var"
    env.update(
        VAR_DIR=str(var),
        DEBUG="true",
        DEMO="1",
        PORT=str(port),
        BIND_ADDRESS="127.0.0.1",
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DEMO_PORT_BASE=str(base),
        DEMO_ORDER_EVERY_SECONDS=str(ORDER_EVERY_SECONDS),
    )
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--url", f"http://127.0.0.1:{port}/")
    log = tmp_path / "launcher.log"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cartrover.launcher", "--procfile", "Procfile.demo"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ledger_file = var / "demo-ledger.json"
    try:
        wait_for(
            lambda: "Order hub is up" in log.read_text(errors="replace"),
            timeout=180,
            what="the launcher's banner (the web process answering)",
            details=lambda: tail(log),
        )
        assert "Broker: " in log.read_text()

        # The soak: nothing may stop while the shops take orders.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with pytest.raises(subprocess.TimeoutExpired):
                launcher.wait(timeout=min(10.0, max(0.1, deadline - time.monotonic())))
            stopped = [line for line in log.read_text().splitlines() if " stopped (" in line]
            assert not stopped, f"a process of the demo stopped:\n{tail(log)}"

        # Drain: no new orders, then map what the demo leaves unmapped.
        paused_at = time.time()
        (var / "demo-orders-paused").touch()
        wait_for(
            lambda: (
                ledger_file.exists()
                and ledger_file.stat().st_mtime > paused_at + 1.5 * ORDER_EVERY_SECONDS
            ),
            timeout=60,
            what="a ledger written after new orders stopped",
        )
        shops = json.loads(ledger_file.read_text())["shops"]
        created = sum(len(ids) for ids in shops.values())
        assert created > seconds / ORDER_EVERY_SECONDS / 3, f"too few orders under load: {created}"
        manage(env, "shell", "-c", MAP_THE_REST)

        database = var / "db.sqlite3"

        def missing() -> list[str]:
            warehouse = json.loads(ledger_file.read_text())["warehouse"]
            at_warehouse = Counter(o["reference"] for o in warehouse if not o["canceled"])
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
                rows = db.execute(
                    "SELECT c.order_source, o.external_id, o.id, o.status,"
                    " (SELECT COUNT(*) FROM orders_orderline l WHERE l.order_id = o.id"
                    "  AND l.sku = '') FROM orders_order o"
                    " JOIN carts_cartconnection c ON c.id = o.cart_id"
                ).fetchall()
            hub = {(source, external): row for source, external, *row in rows}
            problems = []
            for source, ids in shops.items():
                for external in ids:
                    found = hub.get((source, external))
                    if found is None:
                        problems.append(f"{source} order {external}: not in the hub")
                        continue
                    pk, status, lines_without_sku = found
                    copies = at_warehouse[f"H{pk}"]
                    if lines_without_sku and status in {"error", "failing", "new"}:
                        continue  # refused by the warehouse on purpose; checked below
                    if copies != 1:
                        problems.append(f"{source} order {external} ({status}): {copies} at WMS")
            return problems

        wait_for(
            lambda: not missing(),
            timeout=300,
            every=2,
            what="every shop order at the warehouse exactly once",
            details=lambda: "\n".join(missing()[:20]) + "\n" + tail(log),
        )
        stopped = [line for line in log.read_text().splitlines() if " stopped (" in line]
        assert not stopped, f"a process of the demo stopped:\n{tail(log)}"
        assert launcher.poll() is None
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)
            try:
                launcher.wait(60)
            except subprocess.TimeoutExpired:
                kill(launcher)
    assert launcher.returncode == 0, tail(log)
