"""Write orders, shipments and stock levels as CSV files in a layout."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cartrover.adapters import ShipmentItem, StockLevel, WmsOrder, WmsOrderLine, WmsShipment

from .model import (
    LINE_ENDINGS,
    LINE_EXTRA_PREFIX,
    ORDER_EXTRA_PREFIX,
    QUOTING,
    Column,
    FileLayout,
    InventoryLayout,
    LayoutError,
    OrderExtras,
    OrderLayout,
    ShipmentLayout,
    code_runs_as_formula,
    escape_formula,
    expanded_order_columns,
    is_item_column,
    item_header,
)


def _format_number(value: int | float | Decimal, column: Column) -> str:
    if column.decimals is not None:
        number = Decimal(str(value)).quantize(Decimal(1).scaleb(-column.decimals), ROUND_HALF_UP)
        text = f"{number:f}"
    elif isinstance(value, Decimal):
        text = f"{value:f}"
    else:
        text = str(value)
    return text.replace(".", column.decimal_separator)


def _render(layout: FileLayout, column: Column, value: object) -> str:
    """Return the cell text for `value` in `column`, formatted and escaped as the layout says."""
    if value is None or value == "":
        return column.default
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(layout.zone())
        return value.strftime(column.date_format) if column.date_format else value.isoformat()
    if isinstance(value, date):
        return value.strftime(column.date_format) if column.date_format else value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _format_number(value, column)
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if layout.escapes(column):
        return escape_formula(text)
    if layout.escape_formulas and code_runs_as_formula(text) and layout.holds_text(column):
        # Codes the warehouse reads (SKUs, order numbers, carriers) are never altered, so one
        # that a spreadsheet would run is refused instead of written.
        trigger = text.lstrip("'")[:1]
        raise LayoutError(
            f"{column.header or column.source} {text[:40]!r} starts with {trigger!r}, "
            "which a spreadsheet runs as a formula. Correct it in the cart (or map the SKU "
            "with a product alias), then resend the order."
        )
    return text


def _format_row(layout: FileLayout, cells: list[str]) -> str:
    """Return one CSV record, ending in the layout's line ending."""
    buffer = io.StringIO()
    # Written with CRLF so that csv quotes every cell holding a CR or LF (with "\n" alone it
    # leaves a bare CR unquoted), then given the layout's own ending.
    writer = csv.writer(
        buffer,
        delimiter=layout.delimiter,
        quotechar='"',
        doublequote=True,
        quoting=QUOTING[layout.quoting],
        lineterminator="\r\n",
    )
    writer.writerow(cells)
    return buffer.getvalue()[:-2] + LINE_ENDINGS[layout.line_ending]


class _Output:
    """Collect records and encode them as the layout says, naming what cannot be encoded."""

    def __init__(self, layout: FileLayout) -> None:
        self.layout = layout
        self.chunks: list[bytes] = [codecs.BOM_UTF8] if layout.bom else []

    def add(self, cells: list[str], what: str) -> None:
        text = _format_row(self.layout, cells)
        try:
            self.chunks.append(text.encode(self.layout.encoding))
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise LayoutError(
                f"{what} holds {bad!r}, which {self.layout.encoding} cannot write: switch the "
                f"{self.layout.kind} layout's encoding to utf-8."
            ) from None

    def result(self) -> bytes:
        return b"".join(self.chunks)


def _lookup(data: Mapping[str, Any], path: str) -> object:
    """Return the value at a dotted `path` in nested dicts and lists, or None."""
    if path in data:
        return data[path]
    current: object = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _order_value(
    column: Column,
    order: WmsOrder,
    line: WmsOrderLine | None,
    number: int,
    extras: OrderExtras | None,
) -> object:
    source = column.source
    if source == "constant":
        return column.value
    if source.startswith(ORDER_EXTRA_PREFIX):
        return _lookup(extras.order, source[len(ORDER_EXTRA_PREFIX) :]) if extras else None
    if source.startswith("line."):
        if line is None:
            return None
        if source.startswith(LINE_EXTRA_PREFIX):
            if extras is None or number > len(extras.lines):
                return None
            return _lookup(extras.lines[number - 1], source[len(LINE_EXTRA_PREFIX) :])
        if source == "line.number":
            return number
        return getattr(line, source.removeprefix("line."))
    if source.startswith("ship_to."):
        return getattr(order.ship_to, source.removeprefix("ship_to."))
    return getattr(order, source.removeprefix("order."))


def write_orders(
    layout: OrderLayout,
    orders: Sequence[WmsOrder],
    *,
    extras: Mapping[str, OrderExtras] | None = None,
) -> bytes:
    """Return `orders` as a CSV file in `layout`.

    `extras` gives the pass-through values of `order.extra.*` and `line.extra.*` columns, by
    order key. An order with more lines than a horizontal layout holds raises LayoutError.
    """
    layout.validate()
    columns = expanded_order_columns(layout)
    out = _Output(layout)
    if layout.header:
        out.add([item_header(layout, c, n) for c, n in columns], "The header row")
    for order in orders:
        what = f"Order {order.order_number}"
        found = (extras or {}).get(order.key)
        if layout.mode == "vertical":
            lines: list[WmsOrderLine | None] = list(order.lines) or [None]
            for number, line in enumerate(lines, start=1):
                out.add(
                    [
                        _order_cell(layout, c, order, line, number, found, item=is_item_column(c))
                        for c, _ in columns
                    ],
                    what,
                )
            continue
        if len(order.lines) > layout.max_items:
            raise LayoutError(
                f"{what} has {len(order.lines)} lines but the order layout holds "
                f"{layout.max_items} per row: raise its item count (max_items)."
            )
        cells = []
        for column, number in columns:
            line = order.lines[number - 1] if 0 < number <= len(order.lines) else None
            cells.append(_order_cell(layout, column, order, line, number, found, item=number > 0))
        out.add(cells, what)
    return out.result()


def _order_cell(
    layout: OrderLayout,
    column: Column,
    order: WmsOrder,
    line: WmsOrderLine | None,
    number: int,
    extras: OrderExtras | None,
    *,
    item: bool,
) -> str:
    # An item column of a line that does not exist stays blank, defaults included, so a
    # reader sees no line there.
    if item and line is None:
        return ""
    return _render(layout, column, _order_value(column, order, line, number, extras))


def write_shipments(layout: ShipmentLayout, shipments: Sequence[WmsShipment]) -> bytes:
    """Return `shipments` as a CSV file in `layout`: a row per item (a package without items
    gets one row)."""
    layout.validate()
    out = _Output(layout)
    if layout.header:
        out.add([c.header for c in layout.columns], "The header row")
    for shipment in shipments:
        items: list[ShipmentItem | None] = list(shipment.items) or [None]
        for item in items:
            values: dict[str, object] = {
                "order_number": shipment.order_number,
                "order_key": shipment.order_key,
                "tracking_number": shipment.tracking_number,
                "carrier": shipment.carrier,
                "service": shipment.service,
                "shipped_at": shipment.shipped_at,
                "warehouse": shipment.warehouse,
                "sku": item.sku if item else None,
                "quantity": item.quantity if item else None,
                "line_id": item.line_id if item else None,
            }
            out.add(
                [_render(layout, c, values.get(c.source, c.value)) for c in layout.columns],
                f"The package {shipment.tracking_number} of order {shipment.order_number}",
            )
    return out.result()


def write_inventory(layout: InventoryLayout, levels: Sequence[StockLevel]) -> bytes:
    """Return stock `levels` as a CSV file in `layout`, a row per level."""
    layout.validate()
    out = _Output(layout)
    if layout.header:
        out.add([c.header for c in layout.columns], "The header row")
    for level in levels:
        values: dict[str, object] = {
            "sku": level.sku,
            "quantity": level.quantity,
            "warehouse": level.warehouse,
        }
        out.add(
            [_render(layout, c, values.get(c.source, c.value)) for c in layout.columns],
            f"The stock of {level.sku}",
        )
    return out.result()
