"""The layout model: columns, sources and file options, with their validation.

Layouts are dataclasses that convert to and from JSON-ready dicts, so they can be stored in a
JSONField; `validate` explains in plain words what a person must fix.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import tzinfo
from typing import Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cartrover.adapters import StockLevel, WmsShipment

LAYOUT_VERSION = 1

DELIMITERS = {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}
QUOTING: dict[str, Literal[0, 1, 2, 3]] = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL}
LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n"}
ORDER_MODES = ("vertical", "horizontal")
MAX_ITEMS_LIMIT = 100

# The characters that make a spreadsheet evaluate a cell (OWASP CSV injection).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")

# What a source's value is; it decides how the value is written, read and escaped.
TEXT = "text"  # free text typed by shoppers: escaped against formulas, kept verbatim
ID = "id"  # identifiers and codes other software matches on: never escaped, trimmed on read
INT = "int"
DECIMAL = "decimal"
DATETIME = "datetime"
CONSTANT = "constant"
EXTRA = "extra"  # pass-through value: rendered by its Python type, text escaped

ADDRESS_FIELDS = (
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone",
    "email",
)

ORDER_SOURCES: dict[str, str] = {
    "order.key": ID,
    "order.order_number": ID,
    "order.order_source": ID,
    "order.placed_at": DATETIME,
    "order.customer_email": TEXT,
    "order.notes": TEXT,
    "order.ship_method": ID,
    "order.carrier": ID,
    **{f"ship_to.{name}": TEXT for name in ADDRESS_FIELDS},
    "line.sku": ID,
    "line.quantity": INT,
    "line.name": TEXT,
    "line.price": DECIMAL,
    "line.line_id": ID,
    "line.number": INT,
    "constant": CONSTANT,
}
ORDER_EXTRA_PREFIX = "order.extra."
LINE_EXTRA_PREFIX = "line.extra."

SHIPMENT_SOURCES: dict[str, str] = {
    "order_number": ID,
    "order_key": ID,
    "tracking_number": ID,
    "carrier": ID,
    "service": ID,
    "shipped_at": DATETIME,
    "warehouse": ID,
    "sku": ID,
    "quantity": INT,
    "line_id": ID,
    "constant": CONSTANT,
}

INVENTORY_SOURCES: dict[str, str] = {
    "sku": ID,
    "quantity": INT,
    "warehouse": ID,
    "constant": CONSTANT,
}


class LayoutError(ValueError):
    """A layout cannot be used as it stands; the message says what to change."""


class UnreadableFile(ValueError):
    """A whole file does not fit its layout (encoding, missing columns); nothing was read."""


@dataclass
class RowError:
    """One row that could not be read: its number as a spreadsheet shows it (header = 1)."""

    row: int
    reason: str
    raw: list[str]


@dataclass
class ShipmentFile:
    """What a shipment file held: the packages read and the rows that could not be."""

    shipments: list[WmsShipment]
    errors: list[RowError]


@dataclass
class InventoryFile:
    """What a stock file held: the levels read and the rows that could not be."""

    levels: list[StockLevel]
    errors: list[RowError]


@dataclass
class OrderExtras:
    """Pass-through values for one order's `order.extra.*` and `line.extra.*` columns.

    `lines` follows the order's lines by position. Names may be dotted paths into nested
    dicts and lists (`shipping.gift.message`, `tags.0`), so a cart's raw payload fits as is.
    """

    order: Mapping[str, Any] = field(default_factory=dict)
    lines: Sequence[Mapping[str, Any]] = ()


# --- The layout model --------------------------------------------------------------------------


@dataclass
class Column:
    """One column of a file: its header, where its value comes from and how it is written."""

    source: str
    header: str = ""
    value: str = ""  # the text of a "constant" column
    default: str = ""  # written when the source has no value
    date_format: str = ""  # strftime/strptime format; ISO 8601 when empty
    decimals: int | None = None  # numbers written with this many decimals
    decimal_separator: str = "."
    index: int | None = None  # 0-based position to read from, whatever the header says
    escape: bool | None = None  # formula escaping; None: free-text sources only

    _types: ClassVar[dict[str, tuple[type, ...]]] = {
        "source": (str,),
        "header": (str,),
        "value": (str,),
        "default": (str,),
        "date_format": (str,),
        "decimals": (int, type(None)),
        "decimal_separator": (str,),
        "index": (int, type(None)),
        "escape": (bool, type(None)),
    }

    def to_dict(self) -> dict[str, Any]:
        """Return the column as a JSON-ready dict, leaving out settings at their defaults."""
        out: dict[str, Any] = {"source": self.source}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "source" and value != f.default:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: object, *, where: str = "A column") -> Column:
        """Build a column from `to_dict` output; wrong keys or types raise LayoutError."""
        if not isinstance(data, Mapping):
            raise LayoutError(f"{where} must be an object with a source and a header.")
        _check_keys(data, cls._types, where)
        if "source" not in data:
            raise LayoutError(f"{where} has no source: say where its value comes from.")
        return cls(**dict(data))


@dataclass
class FileLayout:
    """What every layout shares: its columns and how the CSV file is spelled."""

    columns: list[Column] = field(default_factory=list)
    header: bool = True
    delimiter: str = ","
    quoting: str = "minimal"
    line_ending: str = "crlf"
    encoding: str = "utf-8"
    bom: bool = False
    escape_formulas: bool = True
    timezone: str = "UTC"  # naive dates in files are in this zone; aware ones written in it

    kind: ClassVar[str] = "file"
    sources: ClassVar[dict[str, str]] = {}

    # --- serialization

    def to_dict(self) -> dict[str, Any]:
        """Return the layout as a JSON-ready dict (what a JSONField stores)."""
        out: dict[str, Any] = {"version": LAYOUT_VERSION}
        out.update((f.name, getattr(self, f.name)) for f in fields(self) if f.name != "columns")
        out["columns"] = [c.to_dict() for c in self.columns]
        return out

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Build and validate a layout from `to_dict` output; problems raise LayoutError."""
        name = f"The {cls.kind} layout"
        if not isinstance(data, Mapping):
            raise LayoutError(f"{name} must be an object of settings and columns.")
        types: dict[str, tuple[type, ...]] = {"version": (int,), "columns": (list,)}
        for f in fields(cls):
            if f.name != "columns":
                types[f.name] = (type(f.default),)
        _check_keys(data, types, name)
        if data.get("version", LAYOUT_VERSION) > LAYOUT_VERSION:
            raise LayoutError(f"{name} was saved by a newer version: upgrade the hub.")
        kwargs = {k: v for k, v in data.items() if k not in ("version", "columns")}
        columns = [
            Column.from_dict(c, where=f"Column {i} of the {cls.kind} layout")
            for i, c in enumerate(data.get("columns", []), start=1)
        ]
        layout = cls(columns=columns, **kwargs)
        layout.validate()
        return layout

    # --- validation

    def validate(self) -> None:
        """Raise LayoutError naming the first thing a person must fix in this layout."""
        name = f"The {self.kind} layout"
        if len(self.delimiter) != 1 or self.delimiter in "\"'\r\n " or self.delimiter.isalnum():
            raise LayoutError(
                f"{name} has the delimiter {self.delimiter!r}: use one character such as "
                "comma, semicolon, pipe or tab."
            )
        if self.quoting not in QUOTING:
            raise LayoutError(f"{name} has the quoting {self.quoting!r}: use minimal or all.")
        if self.line_ending not in LINE_ENDINGS:
            raise LayoutError(f"{name} has the line ending {self.line_ending!r}: use crlf or lf.")
        try:
            codec = codecs.lookup(self.encoding).name
        except LookupError:
            raise LayoutError(
                f"{name} has the unknown encoding {self.encoding!r}: use utf-8."
            ) from None
        if self.bom and codec != "utf-8":
            raise LayoutError(f"{name} asks for a byte order mark, which only utf-8 has.")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LayoutError(
                f"{name} has the unknown time zone {self.timezone!r}: use a name such as "
                "UTC or America/Chicago."
            ) from None
        if not self.columns:
            raise LayoutError(f"{name} has no columns: add at least one.")
        for number, column in enumerate(self.columns, start=1):
            self._validate_column(number, column)
        self._validate_mapping()

    def _validate_column(self, number: int, column: Column) -> None:
        kind = self.source_kind(column.source)
        label = f"Column {number} ({column.header or column.source})"
        if kind is None:
            choices = ", ".join(self.sources)
            raise LayoutError(
                f"{label} of the {self.kind} layout has the unknown source "
                f"{column.source!r}: choose one of {choices}."
            )
        if self.header and not column.header and column.index is None and kind != CONSTANT:
            raise LayoutError(f"{label} has no header: name it, or turn the header row off.")
        if column.date_format and kind not in (DATETIME, EXTRA):
            raise LayoutError(f"{label} has a date format but does not hold a date: remove it.")
        if column.date_format and "%" not in column.date_format:
            raise LayoutError(
                f"{label} has the date format {column.date_format!r}, which has no %-codes: "
                "write it like %Y-%m-%d."
            )
        if column.decimals is not None:
            if kind not in (INT, DECIMAL, EXTRA):
                raise LayoutError(f"{label} has decimals but does not hold a number: remove them.")
            if not 0 <= column.decimals <= 10:
                raise LayoutError(f"{label} has {column.decimals} decimals: use 0 to 10.")
        if column.decimal_separator not in (".", ","):
            raise LayoutError(f"{label} has the decimal separator {column.decimal_separator!r}.")
        if column.index is not None and column.index < 0:
            raise LayoutError(f"{label} has a negative position: count columns from 0.")
        if column.escape and kind in (INT, DECIMAL, DATETIME):
            raise LayoutError(f"{label} holds numbers or dates, which are never escaped.")

    def _validate_mapping(self) -> None:
        """Check the layout maps what its kind of file needs; overridden per kind."""

    def source_kind(self, source: str) -> str | None:
        """Return what kind of value `source` gives, or None when this layout has no such source."""
        return self.sources.get(source)

    def mapped(self, source: str) -> bool:
        """Say whether some column holds `source`."""
        return any(c.source == source for c in self.columns)

    def _require(self, source: str, what: str) -> None:
        if not self.mapped(source):
            raise LayoutError(f"The {self.kind} layout has no {what} column: map one.")

    def _no_duplicate_sources(self) -> None:
        seen: set[str] = set()
        for column in self.columns:
            if column.source != "constant" and column.source in seen:
                raise LayoutError(
                    f"The {self.kind} layout maps {column.source} twice: keep one column."
                )
            seen.add(column.source)

    # --- helpers for reading and writing

    def zone(self) -> tzinfo:
        """Return the time zone naive dates in files are in."""
        return ZoneInfo(self.timezone)

    def holds_text(self, column: Column) -> bool:
        """Say whether `column` holds text from orders (not numbers, dates or constants)."""
        return self.source_kind(column.source) not in (INT, DECIMAL, DATETIME, CONSTANT)

    def escapes(self, column: Column) -> bool:
        """Say whether `column`'s text is escaped against formulas (and unescaped on read)."""
        if not self.escape_formulas:
            return False
        kind = self.source_kind(column.source)
        if kind in (INT, DECIMAL, DATETIME, CONSTANT):
            return False
        return column.escape if column.escape is not None else kind in (TEXT, EXTRA)


@dataclass
class OrderLayout(FileLayout):
    """A file of orders: written for a warehouse, or read from a cart that sends files."""

    mode: str = "vertical"  # vertical: a row per line item | horizontal: a row per order
    max_items: int = 10  # horizontal: how many item column groups each row has
    item_suffix: str = "_{n}"  # horizontal: appended to item headers, {n} counts from 1

    kind: ClassVar[str] = "order"
    sources: ClassVar[dict[str, str]] = ORDER_SOURCES

    def source_kind(self, source: str) -> str | None:
        """Return what kind of value `source` gives; extra fields pass through."""
        for prefix in (ORDER_EXTRA_PREFIX, LINE_EXTRA_PREFIX):
            if source.startswith(prefix) and source[len(prefix) :].strip("."):
                return EXTRA
        return self.sources.get(source)

    def _validate_mapping(self) -> None:
        if self.mode not in ORDER_MODES:
            raise LayoutError(
                f"The order layout has the mode {self.mode!r}: use vertical (a row per item) "
                "or horizontal (a row per order)."
            )
        if not (self.mapped("order.order_number") or self.mapped("order.key")):
            raise LayoutError("The order layout has no order number column: map one.")
        self._require("line.sku", "SKU")
        self._require("line.quantity", "quantity")
        if self.mode == "horizontal":
            if not 1 <= self.max_items <= MAX_ITEMS_LIMIT:
                raise LayoutError(
                    f"The order layout repeats items {self.max_items} times: "
                    f"use 1 to {MAX_ITEMS_LIMIT}."
                )
            rest = self.item_suffix.replace("{n}", "")
            if "{n}" not in self.item_suffix or "{" in rest or "}" in rest:
                raise LayoutError(
                    f"The order layout's item suffix {self.item_suffix!r} must contain {{n}} "
                    "(the item's number) and no other braces, like _{n}."
                )
            for column in self.columns:
                if is_item_column(column) and column.index is not None:
                    raise LayoutError(
                        f"Item column {column.header or column.source} has a position, which a "
                        "horizontal layout cannot use: remove it and match by header."
                    )


@dataclass
class ShipmentLayout(FileLayout):
    """A file of shipment confirmations: a row per item shipped (or per package)."""

    tracking_separator: str = "|"  # several tracking numbers in one cell; empty: never split

    kind: ClassVar[str] = "shipment"
    sources: ClassVar[dict[str, str]] = SHIPMENT_SOURCES

    def _validate_mapping(self) -> None:
        self._no_duplicate_sources()
        self._require("tracking_number", "tracking number")
        if not (self.mapped("order_number") or self.mapped("order_key")):
            raise LayoutError("The shipment layout has no order number column: map one.")
        if self.mapped("sku") != self.mapped("quantity"):
            missing = "quantity" if self.mapped("sku") else "SKU"
            raise LayoutError(
                f"The shipment layout has no {missing} column: map one, or map neither SKU "
                "nor quantity."
            )


@dataclass
class InventoryLayout(FileLayout):
    """A file of stock levels: a row per SKU (and warehouse)."""

    kind: ClassVar[str] = "inventory"
    sources: ClassVar[dict[str, str]] = INVENTORY_SOURCES

    def _validate_mapping(self) -> None:
        self._no_duplicate_sources()
        self._require("sku", "SKU")
        self._require("quantity", "quantity")


def is_item_column(column: Column) -> bool:
    """Say whether an order column belongs to a line item rather than the order."""
    return column.source.startswith("line.")


def _check_keys(data: Mapping[Any, Any], types: Mapping[str, tuple[type, ...]], where: str) -> None:
    for key, value in data.items():
        if key not in types:
            raise LayoutError(f"{where} has an unknown setting {key!r}: remove it.")
        allowed = types[key]
        # bool is an int in Python; a position or a count must not be given as true/false.
        if isinstance(value, bool) and bool not in allowed:
            allowed = ()
        if not isinstance(value, allowed):
            wanted = " or ".join(t.__name__ for t in types[key] if t is not type(None))
            raise LayoutError(f"{where} has {key} = {value!r}: it must be a {wanted}.")


def looks_like_formula(text: str) -> bool:
    """Say whether a spreadsheet would run `text` as a formula (after any leading quotes).

    Leading quotes are skipped so that text already starting with one is escaped too, and
    unescaping stays exact.
    """
    first = text.lstrip("'")[:1]
    return first != "" and first in FORMULA_TRIGGERS


# A code that starts with + or - and holds nothing else but these reads as a number or as
# text in a spreadsheet ("-1001", "+1 555 0100", "-SKU"), never as a formula.
_PLAIN_SIGNED_CODE = re.compile(r"[+-][\w .#/-]*\Z")


def code_runs_as_formula(text: str) -> bool:
    """Say whether a spreadsheet would run the code `text` (written unaltered) as a formula."""
    bare = text.lstrip("'")
    if not looks_like_formula(text):
        return False
    return not (bare[:1] in "+-" and _PLAIN_SIGNED_CODE.match(bare))


def escape_formula(text: str) -> str:
    """Return `text` with a leading `'` when a spreadsheet would run it as a formula.

    Text that already starts with quotes before a trigger gets one more, so that
    `unescape_formula` restores every text exactly.
    """
    return "'" + text if looks_like_formula(text) else text


def unescape_formula(text: str) -> str:
    """Return `text` without the `'` that `escape_formula` added, if it added one."""
    return text[1:] if text.startswith("'") and looks_like_formula(text) else text


def expanded_order_columns(
    layout: OrderLayout, groups: int | None = None
) -> list[tuple[Column, int]]:
    """Return the file's columns as (column, item number); 0 marks an order column.

    A horizontal layout repeats its item columns, `groups` times (else `max_items`), where
    the first of them stands.
    """
    if layout.mode == "vertical":
        return [(c, 0) for c in layout.columns]
    items = [c for c in layout.columns if is_item_column(c)]
    out: list[tuple[Column, int]] = []
    for column in layout.columns:
        if not is_item_column(column):
            out.append((column, 0))
        elif column is items[0]:
            out += [(c, n) for n in range(1, (groups or layout.max_items) + 1) for c in items]
    return out


def item_header(layout: OrderLayout, column: Column, number: int) -> str:
    """Return the header of `column` in item group `number` (0: an order column)."""
    return column.header + layout.item_suffix.format(n=number) if number else column.header


def is_blank(cells: list[str]) -> bool:
    """Say whether a row holds nothing but blanks (such rows are skipped)."""
    return not any(c.strip() for c in cells)


def cell_at(cells: list[str], position: int | None) -> str:
    """Return the cell at `position`; rows cut short (trailing cells left off) read as blank."""
    return cells[position] if position is not None and position < len(cells) else ""
