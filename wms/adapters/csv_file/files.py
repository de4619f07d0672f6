"""What the CSV file WMS and the CSV file cart share: default layouts, names, reading a folder.

Files in a folder are consumed once: each is read, what it holds is yielded, and then it is
moved to the archive folder, or to the errors folder when some of it could not be read. A file
moved before its items are committed would be lost, so the move waits: by default until the
consumer asks for more (a consumer that stores each item as it takes it), or, when the caller
passes a `held` list, until the caller moves the files there itself with `move_consumed` once it
has committed what they held (a consumer that writes in batches). A run that dies before leaves
the file to be read again, which the hub absorbs (orders upserted by external id, shipments
stored once per tracking number, stock levels overwritten).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cartrover.adapters import AdapterError, BadPayload
from wms.files.layout import (
    InventoryLayout,
    LayoutError,
    OrderLayout,
    ShipmentLayout,
    UnreadableFile,
)
from wms.files.layout.model import FileLayout
from wms.files.transports.base import FileVanished, Transport

T = TypeVar("T")
L = TypeVar("L", bound=FileLayout)

# At most this many files are read from a folder per run; the rest wait for the next one.
MAX_FILES_PER_RUN = 200


def _columns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"header": header, "source": source} for header, source in pairs]


ORDER_LAYOUT: dict[str, Any] = {
    "mode": "vertical",
    "columns": _columns(
        ("OrderKey", "order.key"),
        ("OrderNumber", "order.order_number"),
        ("OrderDate", "order.placed_at"),
        ("ShipMethod", "order.ship_method"),
        ("Carrier", "order.carrier"),
        ("ShipToName", "ship_to.name"),
        ("ShipToCompany", "ship_to.company"),
        ("ShipToAddress1", "ship_to.address1"),
        ("ShipToAddress2", "ship_to.address2"),
        ("ShipToCity", "ship_to.city"),
        ("ShipToState", "ship_to.state"),
        ("ShipToPostalCode", "ship_to.postal_code"),
        ("ShipToCountry", "ship_to.country"),
        ("ShipToPhone", "ship_to.phone"),
        ("Email", "order.customer_email"),
        ("Notes", "order.notes"),
        ("LineNumber", "line.number"),
        ("SKU", "line.sku"),
        ("Quantity", "line.quantity"),
        ("Description", "line.name"),
        ("Price", "line.price"),
    ),
}
SHIPMENT_LAYOUT: dict[str, Any] = {
    "columns": _columns(
        ("OrderKey", "order_key"),
        ("OrderNumber", "order_number"),
        ("TrackingNumber", "tracking_number"),
        ("Carrier", "carrier"),
        ("Service", "service"),
        ("ShipDate", "shipped_at"),
        ("Warehouse", "warehouse"),
        ("SKU", "sku"),
        ("Quantity", "quantity"),
    ),
}
INVENTORY_LAYOUT: dict[str, Any] = {
    "columns": _columns(("SKU", "sku"), ("Quantity", "quantity"), ("Warehouse", "warehouse")),
}


def layout_json(layout: Mapping[str, Any]) -> str:
    """Return a layout dict as the JSON text a textarea field holds."""
    return json.dumps(layout, indent=2)


def layout_from(value: object, cls: type[L], where: str) -> L:
    """Return the layout a setting holds (JSON text or a dict); explain what is wrong."""
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise AdapterError(
                f"{where}: the {cls.kind} layout is not valid JSON ({exc}): correct it in the "
                "settings.",
                permanent=True,
            ) from None
    try:
        return cls.from_dict(data)
    except LayoutError as exc:
        raise AdapterError(f"{where}: {exc} Correct it in the settings.", permanent=True) from None


def order_layout(value: object, where: str) -> OrderLayout:
    return layout_from(value, OrderLayout, where)


def shipment_layout(value: object, where: str) -> ShipmentLayout:
    return layout_from(value, ShipmentLayout, where)


def inventory_layout(value: object, where: str) -> InventoryLayout:
    return layout_from(value, InventoryLayout, where)


def fill(template: str, **values: str) -> str:
    """Return `template` with each `{name}` replaced; other braces are left as they are."""
    out = str(template or "")
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def unique_part(parts: Iterable[str], length: int = 12) -> str:
    """Return a short hash of `parts` in sorted order: the same parts, the same text."""
    digest = hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()
    return digest[:length]


def file_stamp(moment: datetime) -> str:
    """Return a moment as it appears in file names: YYYYMMDDHHMMSS."""
    return moment.strftime("%Y%m%d%H%M%S")


def safe_name_part(value: str) -> str:
    """Return `value` fit to stand inside a file name (no folder separators)."""
    return "".join("_" if c in "/\\\x00\r\n" else c for c in value)


def patterns_of(text: str) -> list[str]:
    """Return the comma-separated file name patterns of a setting ([] matches every file)."""
    return [p.strip().lower() for p in str(text or "").split(",") if p.strip()]


def matches(name: str, patterns: list[str]) -> bool:
    """Say whether a file name matches one of `patterns` (any case); no patterns: all do."""
    return not patterns or any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns)


def present(transport: Transport, folder: str, name: str) -> bool:
    """Say whether `folder/name` exists, by reading it; a folder that is not there: False."""
    try:
        transport.get(folder, name)
    except FileVanished:
        return False
    except AdapterError as exc:
        if not exc.permanent:
            raise
        return False
    return True


def consume_folder(
    transport: Transport,
    *,
    folder: str,
    patterns: list[str],
    archive: str,
    errors: str,
    read: Callable[[bytes, str], tuple[list[T], int]],
    what: str,
    notes: list[str],
    held: list[ConsumedFile] | None = None,
) -> Iterator[T | BadPayload]:
    """Yield what each file of `folder` holds, oldest file first, moving each when done.

    `read(data, where)` returns (items, bad rows), BadPayloads included among the items; `what`
    names one item ("shipment") for the notes. A file
    with bad rows, or unreadable as a whole, goes to `errors`, the others to `archive`; a line
    per file is appended to `notes`. With `held`, files are not moved here: each file read is
    appended to `held`, for `move_consumed` once the caller has committed what it held.
    """

    def done(name: str, where: str, to_folder: str, summary: str) -> None:
        consumed = ConsumedFile(folder, name, to_folder, where, summary)
        if held is None:
            move_consumed(transport, [consumed], notes)
        else:
            held.append(consumed)

    names = [n for n in transport.list(folder) if matches(n, patterns)]
    if len(names) > MAX_FILES_PER_RUN:
        notes.append(
            f"{folder}/: {len(names)} files waiting; reading the oldest {MAX_FILES_PER_RUN} now, "
            "the rest in the next runs."
        )
        names = names[:MAX_FILES_PER_RUN]
    for name in names:
        where = f"{folder}/{name}" if folder else name
        try:
            data = transport.get(folder, name)
        except FileVanished:
            notes.append(
                f"{where}: gone before it could be read (another reader took it); skipped."
            )
            continue
        try:
            items, bad = read(data, where)
        except UnreadableFile as exc:
            yield BadPayload(f"{where}: {str(exc).rstrip('.')}", raw={"file": where})
            done(name, where, errors, f"unreadable ({exc})")
            continue
        good = 0
        for item in items:
            if not isinstance(item, BadPayload):
                good += 1
            yield item
        summary = _counted(good, what)
        if bad:
            summary += f", {_counted(bad, 'bad row')}"
        done(name, where, errors if bad else archive, summary)


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class ConsumedFile:
    """A file read from `folder`, and where it goes once what it held is committed."""

    folder: str
    name: str
    to_folder: str
    where: str
    summary: str


def move_consumed(transport: Transport, files: Iterable[ConsumedFile], notes: list[str]) -> None:
    """Move each file read to its archive or errors folder, in order; a line per file in `notes`.

    A file already gone (another reader took it) is noted and skipped.
    """
    for consumed in files:
        where, to_folder = consumed.where, consumed.to_folder
        try:
            transport.move(consumed.folder, consumed.name, to_folder)
        except FileVanished:
            notes.append(
                f"{where}: {consumed.summary}; it was gone before it could be moved to "
                f"{to_folder}/."
            )
            continue
        notes.append(f"{where}: {consumed.summary} → {to_folder}/")


# Files read and held until what they carried is committed, with the connection to move them.
Held = tuple[tuple[Transport, list[ConsumedFile]], ...]


def release_held(held: Held, notes: list[str], *, archive: bool) -> None:
    """Let go of held files: with `archive`, move them on (their content is committed); in
    any case close their connections. Files not moved are read again by the next run."""
    try:
        if archive:
            for transport, files in held:
                move_consumed(transport, files, notes)
    finally:
        for transport, _ in held:
            transport.close()


def bad_rows(where: str, errors: Iterable[Any]) -> list[BadPayload]:
    """Return a BadPayload per RowError of a file, naming the file and the row."""
    # Without a final period: the flow's alert goes on after the message with its own text.
    return [BadPayload(f"{where} row {e.row}: {e.reason.rstrip('.')}", raw=e.raw) for e in errors]
