"""Describe a CSV file format as data, and read or write orders, shipments and stock with it.

A layout is a list of columns, each naming where its value comes from (its `source`), plus the
file's options: header row, delimiter, quoting, line ending, encoding. Layouts are dataclasses
that convert to and from JSON-ready dicts (`to_dict`, `from_dict`), so a person can build one in
the UI and store it in a JSONField. Nothing here touches the database or the network: bytes in,
bytes out.

Order layouts are "vertical" (one row per line item, the order's columns repeated) or
"horizontal" (one row per order, the item columns repeated `max_items` times with numbered
headers). Shipment and stock files are read row by row: a bad row is reported with its number
and the rest of the file still loads.

Spreadsheets run cells that start with `=`, `+`, `-`, `@`, TAB or CR as formulas, and quoting
does not stop them (OWASP "CSV injection"). Free-text columns (names, addresses, notes) are
therefore written with a leading `'`, which readers of the same layout strip again; identifiers,
quantities, prices and dates are never altered, because the warehouse's software reads them.
An identifier a spreadsheet would run ("=HYPERLINK(…)", "@SUM(…)", "-1+cmd|…") is refused
instead: its order fails with that reason, and the rest of the file is written.
"""

from .detect import (
    Detected,
    detect,
    suggest_inventory_layout,
    suggest_order_layout,
    suggest_shipment_layout,
)
from .model import (
    DELIMITERS,
    INVENTORY_SOURCES,
    ORDER_SOURCES,
    SHIPMENT_SOURCES,
    Column,
    InventoryFile,
    InventoryLayout,
    LayoutError,
    OrderExtras,
    OrderLayout,
    RowError,
    ShipmentFile,
    ShipmentLayout,
    UnreadableFile,
    code_runs_as_formula,
    escape_formula,
    unescape_formula,
)
from .read import read_inventory, read_orders, read_shipments
from .write import write_inventory, write_orders, write_shipments

__all__ = [
    "DELIMITERS",
    "INVENTORY_SOURCES",
    "ORDER_SOURCES",
    "SHIPMENT_SOURCES",
    "Column",
    "Detected",
    "InventoryFile",
    "InventoryLayout",
    "LayoutError",
    "OrderExtras",
    "OrderLayout",
    "RowError",
    "ShipmentFile",
    "ShipmentLayout",
    "UnreadableFile",
    "code_runs_as_formula",
    "detect",
    "escape_formula",
    "read_inventory",
    "read_orders",
    "read_shipments",
    "suggest_inventory_layout",
    "suggest_order_layout",
    "suggest_shipment_layout",
    "unescape_formula",
    "write_inventory",
    "write_orders",
    "write_shipments",
]
