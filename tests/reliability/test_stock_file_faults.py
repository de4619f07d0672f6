"""A worker killed between reading a file and committing what it held: the file stays.

The account's WMS hands over stock as CSV files in a local folder. A real `celery worker`
(with a beat to claim the schedule) runs the inventory flow; the test holds a lock on the
stock table, so the worker reads the file and then waits on its first write. It is killed
there (SIGKILL). The file must still be in the stock folder, and the next run stores its
levels and only then archives it. The same holds for a CSV cart's order files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.utils import timezone

from carts.models import CartConnection
from orders.models import InventoryLevel, Order
from sync.flows import Flow
from sync.models import Outcome, Schedule
from sync.scheduler import schedule_run_once
from tests import factories
from tests.carts.test_csv_cart import order_file
from tests.reliability.processes import Processes, uses_postgresql, wait_for
from wms.models import WmsConfig

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FOLDER = "merchant-a"
STOCK_FILE = "inv_1.csv"
STOCK = b"SKU,Quantity,Warehouse\r\nSKU-1,7,\r\nSKU-2,3,\r\n"
DEADLINE = 90.0


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    """The folders the hub and the warehouse share, with one stock file waiting."""
    root = tmp_path / "exchange"
    for name in ("in", "out", "archive", "errors"):
        (root / FOLDER / name).mkdir(parents=True)
    (root / FOLDER / "out" / STOCK_FILE).write_bytes(STOCK)
    return root


@pytest.fixture
def hub(exchange: Path) -> SimpleNamespace:
    """One merchant whose WMS exchanges CSV files in `exchange`; only its stock flow runs."""
    account = factories.AccountFactory(name="North")
    merchant = factories.MerchantFactory(
        account=account,
        wms_settings={"folder": FOLDER},
        delivery_interval=0,
        ship_confirm_interval=0,
    )
    WmsConfig.objects.create(
        account=account,
        kind="csv_file",
        credentials={},
        settings={"transport": "local", "root": str(exchange)},
    )
    inventory = Schedule.objects.get(merchant=merchant, cart=None, flow=Flow.INVENTORY)
    assert inventory.enabled
    assert not Schedule.objects.filter(enabled=True).exclude(pk=inventory.pk).exists()
    return SimpleNamespace(merchant=merchant, inventory=inventory)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    # A run is always shorter than its lease: with the 5 s lease of these processes, 4 s.
    processes = Processes(tmp_path, SYNC_RUN_SECONDS="4")
    yield processes
    processes.stop_all()


def files(root: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (root / FOLDER / folder).iterdir() if p.is_file())


def levels(merchant: object) -> dict[str, int]:
    return dict(InventoryLevel.objects.filter(merchant=merchant).values_list("sku", "quantity"))


def writes_waiting_on_the_stock_table() -> int:
    """Count database sessions waiting on a lock to write stock levels."""
    return writes_waiting_on(InventoryLevel._meta.db_table)


def writes_waiting_on(table: str) -> int:
    """Count database sessions waiting on a lock to insert into `table` (or COPY into it)."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps showing its first look at the activity.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND (query ILIKE %s OR query ILIKE %s)",
            [f"%INSERT INTO%{table}%", f"%COPY%{table}%"],
        )
        return int(cursor.fetchone()[0])


def test_worker_killed_before_the_levels_are_committed_leaves_the_stock_file_to_read_again(
    hub, exchange, processes
):
    if not uses_postgresql():
        pytest.skip("holds a PostgreSQL table lock to stop the worker at its first write")
    with transaction.atomic():
        # Reads go on; the worker's first write of levels waits for this lock.
        with connection.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{InventoryLevel._meta.db_table}" IN EXCLUSIVE MODE')
        processes.beat()
        processes.worker()
        wait_for(
            writes_waiting_on_the_stock_table,
            timeout=DEADLINE,
            what="the worker writing the stock levels it read",
            between=processes.assert_alive,
            details=processes.log_tails,
        )
        processes.kill("worker")
        processes.kill("beat")

    assert files(exchange, "out") == [STOCK_FILE], "the file was archived before its levels"
    assert files(exchange, "archive") == []
    assert levels(hub.merchant) == {}
    wait_for(
        lambda: (
            (Schedule.objects.get(pk=hub.inventory.pk).lease_until or timezone.now())
            <= timezone.now()
        ),
        timeout=DEADLINE,
        what="the killed worker's lease running out",
    )

    run = schedule_run_once(hub.inventory)

    assert run is not None and run.outcome == Outcome.OK, run and run.log
    assert levels(hub.merchant) == {"SKU-1": 7, "SKU-2": 3}
    assert files(exchange, "out") == []
    assert files(exchange, "archive") == [STOCK_FILE]
    assert f"{FOLDER}/out/{STOCK_FILE}: 2 stock levels → {FOLDER}/archive/" in run.log


ORDER_FILE = "wholesale_1.csv"
ORDERS = order_file(
    {"OrderNumber": "W-1", "ShipToName": "Ana Ruiz", "SKU": "SKU-1", "Quantity": "2"},
    {"OrderNumber": "W-2", "ShipToName": "Zoe Chen", "SKU": "SKU-2"},
)


def test_worker_killed_before_a_cart_file_s_orders_are_committed_leaves_the_file_to_read_again(
    tmp_path, processes
):
    if not uses_postgresql():
        pytest.skip("holds a PostgreSQL table lock to stop the worker at its first write")
    root = tmp_path / "cart-files"
    for name in ("orders", "archive", "errors"):
        (root / name).mkdir(parents=True)
    (root / "orders" / ORDER_FILE).write_bytes(ORDERS)
    account = factories.AccountFactory(name="North")
    merchant = factories.MerchantFactory(
        account=account, delivery_interval=0, ship_confirm_interval=0, inventory_interval=0
    )
    cart = CartConnection.objects.create(
        account=account,
        merchant=merchant,
        kind="csv_file",
        order_source="Wholesale files",
        credentials={},
        setup={"transport": "local", "root": str(root)},
        shipment_upload_interval=0,
        inventory_upload_interval=0,
    )
    download = Schedule.objects.get(cart=cart, flow=Flow.DOWNLOAD)
    table = Order._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        processes.beat()
        processes.worker()
        wait_for(
            lambda: writes_waiting_on(table),
            timeout=DEADLINE,
            what="the worker storing the orders it read",
            between=processes.assert_alive,
            details=processes.log_tails,
        )
        processes.kill("worker")
        processes.kill("beat")

    assert sorted(p.name for p in (root / "orders").iterdir()) == [ORDER_FILE]
    assert not Order.objects.filter(cart=cart).exists()
    wait_for(
        lambda: (
            (Schedule.objects.get(pk=download.pk).lease_until or timezone.now()) <= timezone.now()
        ),
        timeout=DEADLINE,
        what="the killed worker's lease running out",
    )

    run = schedule_run_once(download)

    assert run is not None and run.outcome == Outcome.OK, run and run.log
    assert sorted(Order.objects.filter(cart=cart).values_list("order_number", flat=True)) == [
        "W-1",
        "W-2",
    ]
    assert list((root / "orders").iterdir()) == []
    assert sorted(p.name for p in (root / "archive").iterdir()) == [ORDER_FILE]
