"""A warehouse that takes CSV order files and answers with shipment and stock files.

It watches an order folder through any file transport (a local folder, usually the directory
behind the SFTP or FTP emulator, or an SFTP/FTP/e-mail transport), reads each order file with
an order layout, moves the file to its archive folder (its errors folder when no order in it
could be read), and once an order has waited `ship_after_seconds` writes a shipment file with
a package per order (two when `split_packages` and it has several lines; tracking numbers
"1ZSIM…") and a stock file whose figures go down as orders ship. It knows an order it already
has by its reference (the hub key when the layout has one) and ships it once, as a real
warehouse refuses a duplicate reference; `received` lists every reference as it arrived, so a
test can tell a resent order.

`step()` does one pass (tests call it); `start()`/`stop()` run passes on a thread, sleeping
`interval` seconds between them, for the demo. Nothing here touches the database.

Run one over a folder (the SFTP emulator's user folder, for example) with
`python -m sandbox.warehouse --root var/exchange --folder 1 --ship-after 30`.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from cartrover.adapters import (
    AdapterError,
    BadPayload,
    CartOrder,
    ShipmentItem,
    StockLevel,
    WmsShipment,
)
from wms.files.layout import (
    InventoryLayout,
    OrderLayout,
    ShipmentLayout,
    UnreadableFile,
    read_orders,
    write_inventory,
    write_shipments,
)
from wms.files.transports.base import FileVanished, Transport

logger = logging.getLogger("sandbox.warehouse")

# A started simulator stops by itself after this many passes, so a forgotten one cannot run on.
MAX_PASSES = 100_000


@dataclass
class _Held:
    order: CartOrder
    received_at: float
    shipped: bool = False


@dataclass
class StepResult:
    """What one pass did."""

    files_read: list[str] = field(default_factory=list)
    orders_received: int = 0
    duplicates: int = 0
    bad_orders: list[str] = field(default_factory=list)
    shipment_file: str = ""
    inventory_file: str = ""
    shipped: list[str] = field(default_factory=list)


L = TypeVar("L", OrderLayout, ShipmentLayout, InventoryLayout)


def _layout(value: L | Mapping[str, Any], cls: type[L]) -> L:
    return value if isinstance(value, cls) else cls.from_dict(value)


class WarehouseSimulator:
    """One warehouse login: an order folder in, shipment and stock files out."""

    def __init__(
        self,
        transport: Transport,
        *,
        order_layout: OrderLayout | Mapping[str, Any],
        shipment_layout: ShipmentLayout | Mapping[str, Any],
        inventory_layout: InventoryLayout | Mapping[str, Any],
        orders_folder: str = "in",
        out_folder: str = "out",
        archive_folder: str = "archive",
        errors_folder: str = "errors",
        ship_after_seconds: float = 0.0,
        split_packages: bool = False,
        stock: Mapping[str, int] | None = None,
        default_stock: int = 100,
        warehouse: str = "MAIN",
        carrier: str = "UPS",
        interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.order_layout = _layout(order_layout, OrderLayout)
        self.shipment_layout = _layout(shipment_layout, ShipmentLayout)
        self.inventory_layout = _layout(inventory_layout, InventoryLayout)
        self.orders_folder = orders_folder
        self.out_folder = out_folder
        self.archive_folder = archive_folder
        self.errors_folder = errors_folder
        self.ship_after_seconds = ship_after_seconds
        self.split_packages = split_packages
        self.stock: dict[str, int] = dict(stock or {})
        self.default_stock = default_stock
        self.warehouse = warehouse
        self.carrier = carrier
        self.interval = max(0.05, float(interval))
        self.clock = clock
        self.orders: dict[str, _Held] = {}
        self.received: list[str] = []
        self.shipments: list[WmsShipment] = []
        self.last_error = ""
        self.passes = 0
        self._tracking = itertools.count(1)
        self._files = itertools.count(1)
        self._stock_dirty = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass -----------------------------------------------------------------------------

    def step(self, now: float | None = None) -> StepResult:
        """Read new order files, ship what is due, write shipment and stock files."""
        with self._lock:
            now = self.clock() if now is None else now
            result = StepResult()
            self._receive(now, result)
            self._ship(now, result)
            self._report_stock(result)
            self.passes += 1
            return result

    def _receive(self, now: float, result: StepResult) -> None:
        for name in self.transport.list(self.orders_folder):
            try:
                data = self.transport.get(self.orders_folder, name)
            except FileVanished:
                continue
            try:
                items: list[CartOrder | BadPayload] = read_orders(self.order_layout, data)
            except UnreadableFile as exc:
                result.bad_orders.append(f"{name}: {exc}")
                self.transport.move(self.orders_folder, name, self.errors_folder)
                continue
            good = 0
            for item in items:
                if isinstance(item, BadPayload):
                    result.bad_orders.append(f"{name}: {item.message}")
                    continue
                good += 1
                self.received.append(item.external_id)
                if item.external_id in self.orders:
                    result.duplicates += 1
                    continue
                self.orders[item.external_id] = _Held(item, now)
                result.orders_received += 1
            target = self.archive_folder if good or not items else self.errors_folder
            self.transport.move(self.orders_folder, name, target)
            result.files_read.append(name)

    def _packages(self, order: CartOrder) -> list[list[ShipmentItem]]:
        items = [ShipmentItem(sku=li.sku, quantity=li.quantity) for li in order.lines]
        if self.split_packages and len(items) > 1:
            half = (len(items) + 1) // 2
            return [items[:half], items[half:]]
        return [items]

    def _ship(self, now: float, result: StepResult) -> None:
        due = [
            held
            for held in self.orders.values()
            if not held.shipped and now - held.received_at >= self.ship_after_seconds
        ]
        if not due:
            return
        shipped_at = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        packages: list[WmsShipment] = []
        for held in due:
            order = held.order
            keyed = self.order_layout.mapped("order.key")
            for items in self._packages(order):
                packages.append(
                    WmsShipment(
                        order_key=order.external_id if keyed else "",
                        order_number=order.order_number,
                        tracking_number=f"1ZSIM{next(self._tracking):010d}",
                        carrier=self.carrier,
                        service=order.ship_method_code,
                        shipped_at=shipped_at,
                        warehouse=self.warehouse,
                        items=items,
                    )
                )
                for item in items:
                    on_hand = self.stock.get(item.sku, self.default_stock)
                    self.stock[item.sku] = on_hand - item.quantity
        name = f"shp_{next(self._files)}_{shipped_at:%Y%m%d%H%M%S}.csv"
        self.transport.put(self.out_folder, name, write_shipments(self.shipment_layout, packages))
        # Marked shipped only once the file is out: a failed upload ships them next pass.
        for held in due:
            held.shipped = True
        self.shipments += packages
        self._stock_dirty = True
        result.shipment_file = name
        result.shipped = [held.order.external_id for held in due]

    def _report_stock(self, result: StepResult) -> None:
        if not self._stock_dirty or not (self.stock or self.orders):
            return
        levels = [
            StockLevel(sku=sku, quantity=quantity, warehouse=self.warehouse)
            for sku, quantity in sorted(self.stock.items())
        ]
        stamp = datetime.fromtimestamp(self.clock(), UTC)
        name = f"inv_{next(self._files)}_{stamp:%Y%m%d%H%M%S}.csv"
        self.transport.put(self.out_folder, name, write_inventory(self.inventory_layout, levels))
        self._stock_dirty = False
        result.inventory_file = name

    # --- in the background --------------------------------------------------------------------

    def start(self, *, max_passes: int = MAX_PASSES) -> None:
        """Run passes on a daemon thread every `interval` seconds until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(max_passes,), name="sandbox-warehouse", daemon=True
        )
        self._thread.start()

    def _run(self, max_passes: int) -> None:
        for _ in range(max_passes):
            try:
                self.step()
                self.last_error = ""
            except AdapterError as exc:
                # The warehouse keeps going, as a real one would; the next pass tries again.
                self.last_error = exc.message
                logger.warning("warehouse simulator pass failed: %s", exc.message)
            if self._stop.wait(self.interval):
                return

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background passes (the current one finishes); safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self.transport.close()

    def __enter__(self) -> WarehouseSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a warehouse over a local folder with the CSV file WMS's default layouts."""
    from wms.adapters.csv_file.files import INVENTORY_LAYOUT, ORDER_LAYOUT, SHIPMENT_LAYOUT
    from wms.files.transports.local import LocalFolderTransport

    parser = argparse.ArgumentParser(prog="python -m sandbox.warehouse", description=__doc__)
    parser.add_argument("--root", required=True, help="the folder holding the merchant folders")
    parser.add_argument("--folder", default="", help="the merchant's folder under the root")
    parser.add_argument("--ship-after", type=float, default=0.0, help="seconds before shipping")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    parser.add_argument("--split", action="store_true", help="ship multi-line orders in two boxes")
    args = parser.parse_args(argv)

    prefix = f"{args.folder.strip('/')}/" if args.folder else ""
    transport = LocalFolderTransport(
        credentials={}, settings={"root": args.root}, connection_key="sandbox-warehouse"
    )
    warehouse = WarehouseSimulator(
        transport,
        order_layout=ORDER_LAYOUT,
        shipment_layout=SHIPMENT_LAYOUT,
        inventory_layout=INVENTORY_LAYOUT,
        orders_folder=f"{prefix}in",
        out_folder=f"{prefix}out",
        archive_folder=f"{prefix}archive",
        errors_folder=f"{prefix}errors",
        ship_after_seconds=args.ship_after,
        split_packages=args.split,
        interval=args.interval,
    )
    print(f"Warehouse watching {args.root}/{prefix}in every {args.interval:g} s; Ctrl-C stops it.")
    warehouse.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        warehouse.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
