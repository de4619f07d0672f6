"""Guess how a sample file is spelled, and start a layout from its headers."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import (
    ADDRESS_FIELDS,
    DELIMITERS,
    INVENTORY_SOURCES,
    Column,
    InventoryLayout,
    OrderLayout,
    ShipmentLayout,
    cell_at,
    is_blank,
)


@dataclass
class Detected:
    """What a sample file looks like: enough to start a layout and map its columns."""

    delimiter: str
    has_header: bool
    headers: list[str]  # the header row, or column_1, column_2... when there is none
    preview_rows: list[list[str]]
    encoding: str = "utf-8"
    bom: bool = False
    line_ending: str = "crlf"


PREVIEW_ROWS = 10
_SNIFF_CHARS = 64_000

# Header spellings seen in warehouse and cart files, compared without case, spaces or
# punctuation ("Order #" -> "order").
_SHIPMENT_ALIASES: dict[str, tuple[str, ...]] = {
    source: tuple(names.split())
    for source, names in {
        "order_number": "orderno ordernumber ordernum order orderid orderref reference ref "
        "custref customerreference ponumber po custpono salesorder externalorderid "
        "clientorderid ordername",
        "order_key": "key hubkey orderkey transactionid",
        "tracking_number": "tracking trackingnumber trackingno trackingnum trackingnumbers "
        "trackingid trackingcode tracknum trackno awb waybill",
        "carrier": "carrier carriername carriercode shipcarrier shippingcarrier",
        "service": "service servicelevel servicecode shipservice shipmethod shippingmethod "
        "shippingservice method",
        "shipped_at": "shipdate shippeddate dateshipped shipped shippedat shippedon "
        "shipdatetime shipmentdate date",
        "sku": "sku itemsku productsku item itemno itemnumber itemcode partnumber partno "
        "product productcode",
        "quantity": "qty quantity qtyshipped quantityshipped shippedqty shippedquantity units "
        "qtyonhand onhand quantityonhand available qtyavailable quantityavailable "
        "availableqty stock",
        "warehouse": "warehouse warehousecode warehouseid warehousename whse wh facility "
        "location site",
        "line_id": "lineid linenumber lineno line",
    }.items()
}

_ORDER_ALIASES: dict[str, tuple[str, ...]] = {
    "order.order_number": _SHIPMENT_ALIASES["order_number"],
    "order.key": _SHIPMENT_ALIASES["order_key"],
    "order.placed_at": ("orderdate", "placedat", "dateplaced", "createdat", "created", "date"),
    "order.customer_email": ("email", "customeremail", "buyeremail"),
    "order.notes": ("notes", "note", "comments", "comment", "instructions", "giftmessage"),
    "order.ship_method": _SHIPMENT_ALIASES["service"],
    "order.carrier": _SHIPMENT_ALIASES["carrier"],
    "order.order_source": ("ordersource", "source", "channel", "store"),
    "ship_to.name": ("name", "recipient", "customername", "fullname"),
    "ship_to.address1": ("address", "street", "addressline1"),
    "ship_to.address2": ("addressline2",),
    "ship_to.state": ("province", "region"),
    "ship_to.postal_code": ("zip", "zipcode", "postcode", "shipzip"),
    "line.sku": _SHIPMENT_ALIASES["sku"],
    "line.quantity": ("qty", "quantity", "units", "qtyordered", "quantityordered"),
    "line.name": ("description", "itemname", "productname", "title", "itemdescription"),
    "line.price": ("price", "unitprice", "itemprice"),
    "line.line_id": ("lineid",),
    "line.number": ("linenumber", "lineno", "line"),
}
for _field in ADDRESS_FIELDS:
    # ship_city, shipto_city, shipping_city; a bare "email" is the customer's, not the address's.
    _prefixes = (
        ("ship", "shipto", "shipping") if _field == "email" else ("", "ship", "shipto", "shipping")
    )
    _ORDER_ALIASES[f"ship_to.{_field}"] = (
        *_ORDER_ALIASES.get(f"ship_to.{_field}", ()),
        *(p + _field.replace("_", "") for p in _prefixes),
    )

_INVENTORY_ALIASES = {k: _SHIPMENT_ALIASES[k] for k in INVENTORY_SOURCES if k != "constant"}

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%m/%d/%y",
    "%Y%m%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
)


def _squash(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def _source_for(header: str, aliases: Mapping[str, tuple[str, ...]]) -> str | None:
    name = _squash(header)
    return next((source for source, names in aliases.items() if name in names), None)


def _rows(text: str, delimiter: str) -> list[list[str]]:
    """Return the rows of `text` up to any the csv module cannot read (a sample may be cut)."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    with contextlib.suppress(csv.Error):
        rows.extend(reader)
    return rows


def _width_score(text: str, delimiter: str) -> tuple[float, int]:
    """Return (share of rows with the usual width, usual width) when split by `delimiter`."""
    rows = [r for r in _rows(text, delimiter) if r][:50]
    if not rows:
        return (0.0, 0)
    widths = [len(r) for r in rows]
    usual = max(set(widths), key=widths.count)
    return (widths.count(usual) / len(widths), usual)


def _looks_like_data(cell: str) -> bool:
    text = cell.strip()
    if not text:
        return False
    try:
        Decimal(text.replace(",", "."))
        return True
    except InvalidOperation:
        pass
    return bool(re.fullmatch(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*", text))


def detect(sample: bytes) -> Detected:
    """Guess how a sample file is spelled: delimiter, header row, encoding, line ending.

    The sample may be the first part of a large file; a last, cut-off line is ignored.
    """
    bom = sample.startswith(codecs.BOM_UTF8)
    try:
        text, encoding = sample.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character is still UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            text, encoding = sample[: exc.start].decode("utf-8-sig"), "utf-8"
        else:
            text, encoding = sample.decode("cp1252", errors="replace"), "cp1252"
    last = max(text.rfind("\n"), text.rfind("\r"))
    if last != -1 and not text.endswith(("\n", "\r")):
        text = text[: last + 1]
    line_ending = "crlf" if "\r\n" in text or "\n" not in text else "lf"
    head = text[:_SNIFF_CHARS]

    scores = {d: _width_score(head, d) for d in DELIMITERS}
    delimiter = max(scores, key=lambda d: (scores[d][1] > 1, scores[d]))
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = ""
    # The sniffer reads quoting patterns well but can pick a character that occurs in the
    # text; trust it only when its rows have a steady width of more than one column.
    if sniffed in scores and scores[sniffed][1] > 1 and scores[sniffed][0] >= scores[delimiter][0]:
        delimiter = sniffed
    if scores[delimiter][1] <= 1:
        delimiter = ","

    rows = [r for r in _rows(text, delimiter) if not is_blank(r)]
    first = rows[0] if rows else []
    known = {**_SHIPMENT_ALIASES, **_ORDER_ALIASES}
    if any(_source_for(c, known) for c in first):
        has_header = True
    elif any(_looks_like_data(c) for c in first) or len(rows) < 2:
        has_header = False
    else:
        try:
            has_header = csv.Sniffer().has_header(head)
        except csv.Error:
            # Labels are distinct and filled in; data rows repeat and leave gaps.
            has_header = all(c.strip() for c in first) and len(set(first)) == len(first)
    if has_header:
        headers = [c.strip() for c in first]
        data_rows = rows[1 : PREVIEW_ROWS + 1]
    else:
        width = max((len(r) for r in rows), default=0)
        headers = [f"column_{i}" for i in range(1, width + 1)]
        data_rows = rows[:PREVIEW_ROWS]
    return Detected(
        delimiter=delimiter,
        has_header=has_header,
        headers=headers,
        preview_rows=data_rows,
        encoding=encoding,
        bom=bom,
        line_ending=line_ending,
    )


def _options(detected: Detected) -> dict[str, Any]:
    return {
        "header": detected.has_header,
        "delimiter": detected.delimiter,
        "encoding": detected.encoding,
        "bom": detected.bom,
        "line_ending": detected.line_ending,
    }


def _date_format(samples: Sequence[str]) -> str:
    """Return the strptime format every sample date fits ("" for ISO 8601)."""
    values = [s.strip() for s in samples if s.strip()]
    if not values:
        return ""

    def fits(parse: Any) -> bool:
        try:
            for value in values:
                parse(value)
        except ValueError:
            return False
        return True

    if fits(datetime.fromisoformat):
        return ""
    for shape in _DATE_FORMATS:
        if fits(lambda v, shape=shape: datetime.strptime(v, shape)):
            return shape
    return ""


def _mapped_columns(
    detected: Detected, aliases: Mapping[str, tuple[str, ...]], date_source: str
) -> list[Column]:
    """Return a column per recognised header, each source once, reading by name (or position
    when the sample has no header row)."""
    columns: list[Column] = []
    taken: set[str] = set()
    for i, name in enumerate(detected.headers):
        source = _source_for(name, aliases) if detected.has_header else None
        if source is None or source in taken:
            continue
        taken.add(source)
        column = Column(source=source, header=name)
        if source == date_source:
            column.date_format = _date_format([cell_at(r, i) for r in detected.preview_rows])
        columns.append(column)
    return columns


def suggest_shipment_layout(detected: Detected) -> ShipmentLayout:
    """Return a shipment layout guessed from a sample's headers, for a person to complete.

    It is not validated: a sample without a header row maps nothing, and a person picks the
    columns.
    """
    return ShipmentLayout(
        columns=_mapped_columns(detected, _SHIPMENT_ALIASES, "shipped_at"), **_options(detected)
    )


def suggest_inventory_layout(detected: Detected) -> InventoryLayout:
    """Return an inventory layout guessed from a sample's headers, for a person to complete."""
    return InventoryLayout(
        columns=_mapped_columns(detected, _INVENTORY_ALIASES, ""), **_options(detected)
    )


def suggest_order_layout(detected: Detected) -> OrderLayout:
    """Return an order layout guessed from a sample's headers, for a person to complete.

    Every header becomes a column, so the file keeps its shape: unrecognised ones are blank
    constants to map by hand. Numbered item headers (sku_1, sku_2...) make it horizontal.
    """
    columns: list[Column] = []
    taken: set[str] = set()
    item_groups: dict[str, int] = {}
    suffix = ""
    for i, name in enumerate(detected.headers):
        source = _source_for(name, _ORDER_ALIASES) if detected.has_header else None
        numbered = re.fullmatch(r"(.*?[^\d\s_.-])([\s_.-]?)(\d+)", name.strip())
        if source is None and numbered and detected.has_header:
            base_source = _source_for(numbered[1], _ORDER_ALIASES)
            if base_source and base_source.startswith("line."):
                suffix = suffix or numbered[2] + "{n}"
                count = int(numbered[3])
                if base_source not in item_groups:
                    columns.append(Column(source=base_source, header=numbered[1]))
                item_groups[base_source] = max(item_groups.get(base_source, 0), count)
                continue
        if source is None or source in taken:
            columns.append(Column(source="constant", header=name))
            continue
        taken.add(source)
        column = Column(source=source, header=name)
        if source == "order.placed_at":
            column.date_format = _date_format([cell_at(r, i) for r in detected.preview_rows])
        columns.append(column)
    layout = OrderLayout(columns=columns, **_options(detected))
    if item_groups:
        layout.mode = "horizontal"
        layout.max_items = max(item_groups.values())
        layout.item_suffix = suffix
    return layout
