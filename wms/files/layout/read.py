"""Read shipment, stock and order files in a layout, reporting bad rows and loading the rest."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cartrover.adapters import (
    Address,
    BadPayload,
    CartOrder,
    CartOrderLine,
    ShipmentItem,
    StockLevel,
    WmsShipment,
)

from .model import (
    ADDRESS_FIELDS,
    DATETIME,
    DECIMAL,
    EXTRA,
    ID,
    INT,
    LINE_EXTRA_PREFIX,
    MAX_ITEMS_LIMIT,
    ORDER_EXTRA_PREFIX,
    TEXT,
    Column,
    FileLayout,
    InventoryFile,
    InventoryLayout,
    OrderLayout,
    RowError,
    ShipmentFile,
    ShipmentLayout,
    UnreadableFile,
    cell_at,
    expanded_order_columns,
    is_blank,
    is_item_column,
    item_header,
    unescape_formula,
)


class _BadValue(ValueError):
    """A cell that does not hold what its column says; the message names the column."""


def _decode(layout: FileLayout, data: bytes) -> str:
    encoding = layout.encoding
    # A byte order mark is dropped whether or not the layout writes one.
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"The {layout.kind} file is not valid {layout.encoding} (byte {exc.start + 1}): "
            f"save it as {layout.encoding}, or change the layout's encoding."
        ) from None


def _records(layout: FileLayout, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells) for every record; a broken record raises _BrokenFile."""
    text = _decode(layout, data)
    # Strict, so that a quote left open does not silently swallow the rest of the file.
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=layout.delimiter,
        quotechar='"',
        doublequote=True,
        strict=True,
    )
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _BrokenFile(number + 1, str(exc)) from None
        number += 1
        yield number, cells


class _BrokenFile(Exception):
    """The csv module gave up at a row; nothing after it can be read reliably."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(reason)
        self.row = row
        self.reason = f"The file cannot be read from this row on ({reason}): check its quoting."


def _normalize_header(text: str) -> str:
    return text.strip().lstrip("\ufeff").casefold()


def _positions(
    layout: FileLayout,
    header: list[str] | None,
    wanted: Sequence[tuple[Column, str, bool]],
) -> list[int | None]:
    """Return where each wanted (column, header text, required) sits in the file's rows.

    Without a header row a column sits at its `index`, else at its place in the list.
    """
    found: dict[str, int] = {}
    for i, name in enumerate(header or []):
        found.setdefault(_normalize_header(name), i)
    out: list[int | None] = []
    for place, (column, name, required) in enumerate(wanted):
        if column.source == "constant":
            out.append(None)
        elif column.index is not None:
            out.append(column.index)
        elif header is None:
            out.append(place)
        elif _normalize_header(name) in found:
            out.append(found[_normalize_header(name)])
        elif required:
            names = ", ".join(h for h in header if h.strip()) or "none"
            raise UnreadableFile(
                f"The {layout.kind} file has no column {name!r} (its columns: {names}): "
                "rename the column in the file or in the layout."
            )
        else:
            out.append(None)
    return out


def _parse(layout: FileLayout, column: Column, text: str) -> object:
    """Return the value of one cell for `column`, or None when it is empty."""
    kind = layout.source_kind(column.source)
    label = column.header or column.source
    if layout.escapes(column):
        text = unescape_formula(text)
    if kind in (TEXT, EXTRA):
        return text if text != "" else None
    text = text.strip()
    if not text:
        return None
    if kind == ID:
        return text
    if kind in (INT, DECIMAL):
        try:
            number = Decimal(text.replace(column.decimal_separator, "."))
        except InvalidOperation:
            raise _BadValue(f"{label} {text!r} is not a number") from None
        if not number.is_finite():
            raise _BadValue(f"{label} {text!r} is not a number")
        if kind == DECIMAL:
            return number
        if number != number.to_integral_value():
            raise _BadValue(f"{label} {text!r} is not a whole number")
        return int(number)
    if kind == DATETIME:
        try:
            if column.date_format:
                moment = datetime.strptime(text, column.date_format)
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            shape = column.date_format or "ISO 8601 (2024-05-31 or 2024-05-31T14:05:00)"
            raise _BadValue(f"{label} {text!r} is not a date in the form {shape}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=layout.zone())
    return None


def _values(
    layout: FileLayout,
    columns: Sequence[Column],
    positions: Sequence[int | None],
    cells: list[str],
) -> dict[str, object]:
    """Return source -> parsed value for one row; the first column of a source wins."""
    out: dict[str, object] = {}
    for column, position in zip(columns, positions, strict=True):
        if column.source == "constant" or column.source in out:
            continue
        out[column.source] = _parse(layout, column, cell_at(cells, position))
    return out


def _read_rows(
    layout: FileLayout, data: bytes, errors: list[RowError]
) -> Iterator[tuple[int, list[str], list[str] | None]]:
    """Yield (row number, cells, header) for each non-blank data row; a broken file ends
    with a row error."""
    header: list[str] | None = None
    try:
        for number, cells in _records(layout, data):
            if is_blank(cells):
                continue
            if layout.header and header is None:
                header = cells
                continue
            yield number, cells, header
    except _BrokenFile as exc:
        errors.append(RowError(exc.row, exc.reason, []))


def read_shipments(layout: ShipmentLayout, data: bytes) -> ShipmentFile:
    """Read a shipment confirmation file: a package per (order, tracking number).

    Rows of one order and tracking number are grouped into one WmsShipment with their items.
    A cell holding several tracking numbers (joined by `tracking_separator`) gives a package
    per number; its items go to the first, since the file does not say which box held what.
    A bad row is reported in `errors` and the other rows still load.
    """
    layout.validate()
    errors: list[RowError] = []
    packages: dict[tuple[str, str, str], WmsShipment] = {}
    positions: list[int | None] | None = None
    for number, cells, header in _read_rows(layout, data, errors):
        if positions is None:
            wanted = [(c, c.header, True) for c in layout.columns]
            positions = _positions(layout, header, wanted)
        try:
            values = _values(layout, layout.columns, positions, cells)
            found = _shipment_rows(layout, values)
        except _BadValue as exc:
            errors.append(RowError(number, f"{exc}.", cells))
            continue
        item = found.pop()
        for i, shipment in enumerate(found):
            key = (shipment.order_key, shipment.order_number, shipment.tracking_number)
            package = packages.setdefault(key, shipment)
            for name in ("carrier", "service", "shipped_at", "warehouse"):
                if not getattr(package, name):
                    setattr(package, name, getattr(shipment, name))
            if i == 0 and isinstance(item, ShipmentItem):
                _add_item(package.items, item)
    return ShipmentFile(shipments=list(packages.values()), errors=errors)


def _shipment_rows(layout: ShipmentLayout, values: dict[str, object]) -> list[Any]:
    """Return the packages one row names, followed by its item (or None)."""
    tracking = str(values.get("tracking_number") or "")
    numbers = [tracking]
    if layout.tracking_separator:
        numbers = [t.strip() for t in tracking.split(layout.tracking_separator) if t.strip()]
    if not numbers or not numbers[0]:
        raise _BadValue("The row has no tracking number")
    order_key = str(values.get("order_key") or "")
    order_number = str(values.get("order_number") or "")
    if not (order_key or order_number):
        raise _BadValue("The row has no order number")
    sku, quantity = values.get("sku"), values.get("quantity")
    item: ShipmentItem | None = None
    # A row with neither SKU nor quantity is a package reported without its contents.
    if layout.mapped("sku") and (sku or quantity is not None):
        if not sku:
            raise _BadValue("The row has a quantity but no SKU")
        if quantity is None:
            raise _BadValue(f"The row has no quantity for SKU {sku}")
        assert isinstance(quantity, int)
        if quantity < 0:
            raise _BadValue(f"The quantity of SKU {sku} is negative ({quantity})")
        if quantity:
            item = ShipmentItem(
                sku=str(sku), quantity=quantity, line_id=str(values.get("line_id") or "")
            )
    shipped_at = values.get("shipped_at")
    packages: list[Any] = [
        WmsShipment(
            order_key=order_key,
            tracking_number=number,
            order_number=order_number,
            carrier=str(values.get("carrier") or ""),
            service=str(values.get("service") or ""),
            shipped_at=shipped_at if isinstance(shipped_at, datetime) else None,
            warehouse=str(values.get("warehouse") or ""),
        )
        for number in numbers
    ]
    return [*packages, item]


def _add_item(items: list[ShipmentItem], item: ShipmentItem) -> None:
    for existing in items:
        if existing.sku == item.sku and existing.line_id == item.line_id:
            existing.quantity += item.quantity
            return
    items.append(item)


def read_inventory(layout: InventoryLayout, data: bytes) -> InventoryFile:
    """Read a stock file: a level per (SKU, warehouse), rows of the same pair added up.

    A bad row is reported in `errors` and the other rows still load.
    """
    layout.validate()
    errors: list[RowError] = []
    levels: dict[tuple[str, str], StockLevel] = {}
    positions: list[int | None] | None = None
    for number, cells, header in _read_rows(layout, data, errors):
        if positions is None:
            positions = _positions(layout, header, [(c, c.header, True) for c in layout.columns])
        try:
            values = _values(layout, layout.columns, positions, cells)
            sku, quantity = values.get("sku"), values.get("quantity")
            if not sku:
                raise _BadValue("The row has no SKU")
            if quantity is None:
                raise _BadValue(f"The row has no quantity for SKU {sku}")
        except _BadValue as exc:
            errors.append(RowError(number, f"{exc}.", cells))
            continue
        assert isinstance(quantity, int)
        warehouse = str(values.get("warehouse") or "")
        level = levels.setdefault(
            (str(sku), warehouse), StockLevel(sku=str(sku), quantity=0, warehouse=warehouse)
        )
        level.quantity += quantity
    return InventoryFile(levels=list(levels.values()), errors=errors)


def read_orders(
    layout: OrderLayout, data: bytes, *, received_at: datetime | None = None
) -> list[CartOrder | BadPayload]:
    """Read a file of orders sent by a cart, in the order of their first rows.

    Rows are grouped by order number (the hub key when the layout maps one); a vertical row
    gives a line, a horizontal row its filled item groups. An order that cannot be read comes
    back as a BadPayload (its rows as `raw`) and the others still load. `received_at` becomes
    each order's `updated_at` (now when not given). `raw` holds the order's rows (header ->
    cell) and what CartOrder has no field for: `order_source`, `carrier`, `extra` (the
    order.extra.* values) and `lines_extra` (line id -> line.extra.* values).
    """
    layout.validate()
    received_at = received_at or datetime.now(UTC)
    errors: list[RowError] = []
    expanded = expanded_order_columns(layout)
    ref_source = "order.key" if layout.mapped("order.key") else "order.order_number"
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    # Orders come back in the order of their first rows, unreadable rows in their place.
    entries: list[str | BadPayload] = []
    positions: list[int | None] | None = None
    ref_position: int | None = None
    header_row: list[str] | None = None
    for number, cells, header in _read_rows(layout, data, errors):
        if positions is None:
            header_row = header
            expanded = expanded_order_columns(layout, _item_groups_in(layout, header))
            wanted = [(c, item_header(layout, c, n), n <= 1) for c, n in expanded]
            positions = _positions(layout, header, wanted)
            ref_position = next(
                p for (c, _), p in zip(expanded, positions, strict=True) if c.source == ref_source
            )
        ref = cell_at(cells, ref_position).strip()
        if not ref:
            entries.append(BadPayload(f"Row {number} has no order number.", raw=cells))
            continue
        if ref not in groups:
            entries.append(ref)
        groups.setdefault(ref, []).append((number, cells))
    out: list[CartOrder | BadPayload] = []
    for entry in entries:
        if isinstance(entry, BadPayload):
            out.append(entry)
            continue
        rows = groups[entry]
        assert positions is not None
        try:
            order = _cart_order(layout, expanded, positions, entry, rows, received_at)
            order.raw["rows"] = [_raw_row(header_row, cells) for _, cells in rows]
            out.append(order)
        except _BadValue as exc:
            out.append(
                BadPayload(
                    f"Order {entry}: {exc}.",
                    external_id=entry,
                    raw=[_raw_row(header_row, cells) for _, cells in rows],
                )
            )
    out += [BadPayload(f"Row {e.row}: {e.reason}", raw=e.raw) for e in errors]
    return out


def _item_groups_in(layout: OrderLayout, header: list[str] | None) -> int:
    """Return how many item groups a horizontal file's header row has, at least `max_items`.

    A cart may send more items than the layout writes; reading them all loses nothing.
    """
    count = layout.max_items
    if header is None or layout.mode != "horizontal":
        return count
    names = {_normalize_header(h) for h in header}
    items = [c for c in layout.columns if is_item_column(c)]
    while count < MAX_ITEMS_LIMIT and any(
        _normalize_header(item_header(layout, c, count + 1)) in names for c in items
    ):
        count += 1
    return count


def _raw_row(header: list[str] | None, cells: list[str]) -> dict[str, str] | list[str]:
    """Return a row as header -> cell when the file has a header row, else as its cells."""
    if header is None:
        return cells
    return {name: cells[i] if i < len(cells) else "" for i, name in enumerate(header)}


def _cart_order(
    layout: OrderLayout,
    expanded: list[tuple[Column, int]],
    positions: list[int | None],
    ref: str,
    rows: list[tuple[int, list[str]]],
    received_at: datetime,
) -> CartOrder:
    order_columns = [(c, p) for (c, n), p in zip(expanded, positions, strict=True) if n == 0]
    order_columns = [(c, p) for c, p in order_columns if not is_item_column(c)]
    head: dict[str, object] = {}
    for _, cells in rows:
        # The first row that has a value gives it; later rows repeat the same order.
        for column, position in order_columns:
            if column.source != "constant" and head.get(column.source) is None:
                head[column.source] = _parse(layout, column, cell_at(cells, position))
    lines: list[CartOrderLine] = []
    lines_extra: dict[str, dict[str, object]] = {}
    for row_number, cells in rows:
        groups: dict[int, list[tuple[Column, int | None]]] = {}
        for (column, n), position in zip(expanded, positions, strict=True):
            if is_item_column(column):
                groups.setdefault(n, []).append((column, position))
        for group in groups.values():
            if all(cell_at(cells, p).strip() == "" for _, p in group):
                continue
            try:
                values = _values(layout, [c for c, _ in group], [p for _, p in group], cells)
                line = _cart_line(values, len(lines) + 1)
            except _BadValue as exc:
                raise _BadValue(f"row {row_number}: {exc}") from None
            lines.append(line)
            extra = {
                k.removeprefix(LINE_EXTRA_PREFIX): v
                for k, v in values.items()
                if k.startswith(LINE_EXTRA_PREFIX) and v is not None
            }
            if extra:
                lines_extra[line.line_id] = extra
    placed_at = head.get("order.placed_at")
    address = {name: str(head.get(f"ship_to.{name}") or "") for name in ADDRESS_FIELDS}
    raw: dict[str, Any] = {
        "order_source": head.get("order.order_source") or "",
        "carrier": head.get("order.carrier") or "",
        "extra": {
            k.removeprefix(ORDER_EXTRA_PREFIX): v
            for k, v in head.items()
            if k.startswith(ORDER_EXTRA_PREFIX) and v is not None
        },
        "lines_extra": lines_extra,
    }
    return CartOrder(
        external_id=ref,
        order_number=str(head.get("order.order_number") or ref),
        updated_at=received_at,
        placed_at=placed_at if isinstance(placed_at, datetime) else None,
        customer_email=str(head.get("order.customer_email") or ""),
        ship_to=Address(**address) if any(address.values()) else None,
        ship_method_code=str(head.get("order.ship_method") or ""),
        notes=str(head.get("order.notes") or ""),
        lines=lines,
        raw=raw,
    )


def _cart_line(values: dict[str, object], number: int) -> CartOrderLine:
    sku, quantity = values.get("line.sku"), values.get("line.quantity")
    if not sku:
        raise _BadValue("an item has no SKU")
    if not isinstance(quantity, int) or quantity <= 0:
        raise _BadValue(f"SKU {sku} has no positive quantity")
    price = values.get("line.price")
    return CartOrderLine(
        line_id=str(values.get("line.line_id") or values.get("line.number") or number),
        sku=str(sku),
        quantity=quantity,
        name=str(values.get("line.name") or ""),
        price=price if isinstance(price, Decimal) else None,
    )
