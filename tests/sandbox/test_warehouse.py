"""The warehouse simulator: order files in, shipment and stock files out, each order once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cartrover.adapters import Address, WmsOrder, WmsOrderLine
from sandbox.sftp_server import SftpEmulator
from sandbox.warehouse import WarehouseSimulator
from wms.adapters.csv_file.files import INVENTORY_LAYOUT, ORDER_LAYOUT, SHIPMENT_LAYOUT
from wms.files.layout import (
    InventoryLayout,
    OrderLayout,
    ShipmentLayout,
    read_inventory,
    read_shipments,
    write_orders,
)
from wms.files.transports.local import LocalFolderTransport
from wms.files.transports.sftp import SftpTransport


def order(n: int, *lines: tuple[str, int]) -> WmsOrder:
    return WmsOrder(
        key=f"H{n}",
        order_number=f"#{1000 + n}",
        order_source="Store",
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        ship_to=Address(name="Ana Ruiz", address1="1 Harbor Road", city="Dayton", country="US"),
        ship_method="GROUND",
        carrier="UPS",
        lines=[WmsOrderLine(sku=sku, quantity=qty, price=Decimal("9.95")) for sku, qty in lines],
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder in ("in", "out", "archive", "errors"):
        (tmp_path / folder).mkdir()
    return tmp_path


def make(root: Path, **options) -> WarehouseSimulator:
    transport = LocalFolderTransport(
        credentials={}, settings={"root": str(root)}, connection_key="warehouse"
    )
    return WarehouseSimulator(
        transport,
        order_layout=ORDER_LAYOUT,
        shipment_layout=SHIPMENT_LAYOUT,
        inventory_layout=INVENTORY_LAYOUT,
        **options,
    )


def drop(root: Path, name: str, *orders: WmsOrder) -> None:
    data = write_orders(OrderLayout.from_dict(ORDER_LAYOUT), list(orders))
    (root / "in" / name).write_bytes(data)


def out_files(root: Path, prefix: str) -> list[Path]:
    return sorted(p for p in (root / "out").iterdir() if p.name.startswith(prefix))


def test_a_pass_archives_order_files_and_writes_shipments_and_stock(root):
    warehouse = make(root, stock={"SKU-1": 10, "SKU-2": 5})
    drop(root, "orders_1.csv", order(1, ("SKU-1", 2), ("SKU-2", 1)), order(2, ("SKU-1", 1)))

    result = warehouse.step()

    assert result.files_read == ["orders_1.csv"]
    assert sorted(p.name for p in (root / "archive").iterdir()) == ["orders_1.csv"]
    assert result.shipped == ["H1", "H2"]
    [shipment_file] = out_files(root, "shp_")
    shipments = read_shipments(
        ShipmentLayout.from_dict(SHIPMENT_LAYOUT), shipment_file.read_bytes()
    )
    assert shipments.errors == []
    assert [(s.order_key, len(s.items)) for s in shipments.shipments] == [("H1", 2), ("H2", 1)]
    assert all(s.tracking_number.startswith("1ZSIM") for s in shipments.shipments)
    [stock_file] = out_files(root, "inv_")
    stock = read_inventory(InventoryLayout.from_dict(INVENTORY_LAYOUT), stock_file.read_bytes())
    assert {lv.sku: lv.quantity for lv in stock.levels} == {"SKU-1": 7, "SKU-2": 4}


def test_orders_wait_for_the_shipping_delay(root):
    clock = [1_000.0]
    warehouse = make(root, ship_after_seconds=60, clock=lambda: clock[0])
    drop(root, "orders_1.csv", order(1, ("SKU-1", 1)))

    early = warehouse.step()
    clock[0] += 61
    later = warehouse.step()

    assert early.orders_received == 1 and early.shipped == []
    assert later.shipped == ["H1"]
    assert len(out_files(root, "shp_")) == 1


def test_an_order_sent_twice_is_shipped_once(root):
    warehouse = make(root)
    drop(root, "orders_1.csv", order(1, ("SKU-1", 1)))
    warehouse.step()
    drop(root, "orders_1_again.csv", order(1, ("SKU-1", 1)))

    again = warehouse.step()

    assert again.duplicates == 1 and again.shipped == []
    assert Counter(warehouse.received) == {"H1": 2}
    assert len(warehouse.shipments) == 1


def test_split_packages_ship_orders_of_several_lines_in_two_boxes(root):
    warehouse = make(root, split_packages=True)
    drop(root, "orders_1.csv", order(1, ("SKU-1", 1), ("SKU-2", 1), ("SKU-3", 1)))

    warehouse.step()

    boxes = [[i.sku for i in s.items] for s in warehouse.shipments]
    assert boxes == [["SKU-1", "SKU-2"], ["SKU-3"]]
    assert len({s.tracking_number for s in warehouse.shipments}) == 2


def test_an_unreadable_order_file_goes_to_errors(root):
    warehouse = make(root)
    (root / "in" / "orders_bad.csv").write_bytes(b"\xff\xfe not utf-8 \xff")

    result = warehouse.step()

    assert [p.name for p in (root / "errors").iterdir()] == ["orders_bad.csv"]
    assert result.bad_orders and result.shipped == []


def test_started_in_the_background_it_ships_until_stopped(root):
    warehouse = make(root, interval=0.05)
    drop(root, "orders_1.csv", order(1, ("SKU-1", 1)))

    warehouse.start()
    try:
        for _ in range(200):
            if warehouse.shipments:
                break
            time.sleep(0.05)
    finally:
        warehouse.stop()

    assert [s.order_key for s in warehouse.shipments] == ["H1"]
    assert warehouse.last_error == ""


def test_it_works_through_sftp_too(tmp_path, settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    server = SftpEmulator(tmp_path / "sftp")
    home = server.add_user("warehouse", password="Wh-Sftp-pass-77")
    with server:
        transport = SftpTransport(
            credentials={"password": "Wh-Sftp-pass-77"},
            settings={
                "host": server.host,
                "port": server.port,
                "username": "warehouse",
                "host_key": server.host_key_line(),
            },
            connection_key="warehouse-sftp",
        )
        with WarehouseSimulator(
            transport,
            order_layout=ORDER_LAYOUT,
            shipment_layout=SHIPMENT_LAYOUT,
            inventory_layout=INVENTORY_LAYOUT,
        ) as warehouse:
            drop(home, "orders_1.csv", order(1, ("SKU-1", 1)))
            result = warehouse.step()

    assert result.shipped == ["H1"]
    assert [p.name for p in (home / "archive").iterdir()] == ["orders_1.csv"]
    assert len(out_files(home, "shp_")) == 1 and len(out_files(home, "inv_")) == 1
