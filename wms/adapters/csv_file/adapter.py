"""A warehouse that exchanges CSV files: orders out, shipment and stock files back.

Files travel by any transport of `wms.files.transports` (SFTP, FTP/FTPS, e-mail, a folder).
Each merchant has its own folders, from templates where `{merchant}` is the merchant's folder
setting (its id when blank). The three file formats are layouts (`wms.files.layout`) kept as
JSON in the settings.

A batch of orders is one file whose name is derived from the batch's order keys, so a retried
batch (after a lost answer or a dead worker) finds its file already in the folder, or in the
archive folder where the warehouse moved it, and reports the orders delivered instead of
sending them twice. E-mail cannot be looked into after sending; there the warehouse's own
duplicate check on the order key has to absorb a resent file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from cartrover.adapters import (
    AdapterError,
    BadPayload,
    DeliveryResult,
    FieldSpec,
    MerchantRef,
    StockLevel,
    TransientError,
    WmsOrder,
    WmsShipment,
)
from wms.adapters.base import WmsAdapter
from wms.adapters.csv_file.files import (
    INVENTORY_LAYOUT,
    ORDER_LAYOUT,
    SHIPMENT_LAYOUT,
    ConsumedFile,
    Held,
    bad_rows,
    consume_folder,
    file_stamp,
    fill,
    inventory_layout,
    layout_json,
    order_layout,
    patterns_of,
    present,
    release_held,
    safe_name_part,
    shipment_layout,
    unique_part,
)
from wms.files.layout import (
    InventoryLayout,
    LayoutError,
    OrderLayout,
    ShipmentLayout,
    read_inventory,
    read_shipments,
    write_orders,
)
from wms.files.transports import (
    Transport,
    transport_choice_field,
    transport_credential_fields,
    transport_for,
    transport_settings_fields,
)
from wms.files.transports.base import TargetExists

T = TypeVar("T")

FOLDER_SETTINGS = (
    ("orders_folder", "Orders folder"),
    ("shipments_folder", "Shipment confirmations folder"),
    ("inventory_folder", "Stock files folder"),
    ("archive_folder", "Archive folder"),
    ("errors_folder", "Errors folder"),
)


class CsvFileWmsAdapter(WmsAdapter):
    kind = "csv_file"
    _delivery_transport: Transport | None = None
    # Shipment and stock files read, with the connection they were read on, waiting for
    # `acknowledge()` to archive them.
    _held: Held = ()
    label = "CSV files (SFTP, FTP, email, folder)"
    mode = "push"
    batch_size = 100
    credential_fields = transport_credential_fields()
    settings_fields = [
        transport_choice_field(),
        *transport_settings_fields(),
        FieldSpec(
            "orders_folder",
            "Orders folder",
            default="{merchant}/in",
            help="Where order files go; {merchant} is the merchant's folder name.",
        ),
        FieldSpec(
            "shipments_folder",
            "Shipment confirmations folder",
            default="{merchant}/out",
            help="Where the warehouse leaves shipment files.",
        ),
        FieldSpec(
            "inventory_folder",
            "Stock files folder",
            default="{merchant}/out",
            help="Where the warehouse leaves stock files (may be the shipments folder).",
        ),
        FieldSpec(
            "archive_folder",
            "Archive folder",
            default="{merchant}/archive",
            help="Files read are moved here; order files the warehouse moved here count as sent.",
        ),
        FieldSpec(
            "errors_folder",
            "Errors folder",
            default="{merchant}/errors",
            help="Files with rows that could not be read are moved here.",
        ),
        FieldSpec(
            "file_name_template",
            "Order file name",
            default="orders_{merchant}_{timestamp}_{unique}.csv",
            help="{merchant}, {type} (orders), {timestamp} (newest order's date, "
            "YYYYMMDDHHMMSS), {count} and {unique} (from the orders in the file). Keep "
            "{unique}: it is how a resent batch is recognized.",
        ),
        FieldSpec(
            "shipment_files",
            "Shipment file names",
            default="*shp*, *ship*",
            help="Comma-separated patterns (* any text, any case); blank: every file.",
        ),
        FieldSpec(
            "inventory_files",
            "Stock file names",
            default="*inv*, *stock*",
            help="Comma-separated patterns (* any text, any case); blank: every file.",
        ),
        FieldSpec(
            "order_layout",
            "Order file layout (JSON)",
            type="textarea",
            default=layout_json(ORDER_LAYOUT),
        ),
        FieldSpec(
            "shipment_layout",
            "Shipment file layout (JSON)",
            type="textarea",
            default=layout_json(SHIPMENT_LAYOUT),
        ),
        FieldSpec(
            "inventory_layout",
            "Stock file layout (JSON)",
            type="textarea",
            default=layout_json(INVENTORY_LAYOUT),
        ),
    ]
    merchant_fields = [
        FieldSpec(
            "folder",
            "Folder name",
            default="",
            help="Replaces {merchant} in folders and file names; blank: the merchant's id.",
        ),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A file in a folder is found again by its name; an e-mail, once sent, is not.
        self.recognises_repeats = str(self.settings.get("transport") or "") != "email"

    # --- helpers ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close open connections; files read and not acknowledged stay to be read again."""
        if self._delivery_transport is not None:
            transport, self._delivery_transport = self._delivery_transport, None
            transport.close()
        held, self._held = self._held, ()
        release_held(held, self.notes, archive=False)

    def acknowledge(self) -> None:
        """Archive the shipment and stock files read so far, now that the hub committed them.

        Files are moved in the order they were read; when a move fails, the files after it
        stay in their folder and are read again by the next run.
        """
        held, self._held = self._held, ()
        release_held(held, self.notes, archive=True)

    def transport(self) -> Transport:
        """Return a new transport for these settings (connected on first use)."""
        return transport_for(self.settings, self.credentials, self.connection_key)

    def merchant_folder(self, merchant: MerchantRef) -> str:
        """Return what stands for {merchant} in this merchant's folders and file names."""
        value = str((merchant.settings or {}).get("folder") or "").strip().strip("/")
        return value or str(merchant.id)

    def folder(self, setting: str, merchant: MerchantRef) -> str:
        """Return one of the folder settings for `merchant`."""
        return fill(str(self.settings.get(setting) or ""), merchant=self.merchant_folder(merchant))

    def file_name(self, merchant: MerchantRef, orders: list[WmsOrder]) -> str:
        """Return the file name of a batch: the same orders always give the same name."""
        placed = [
            o.placed_at if o.placed_at.tzinfo else o.placed_at.replace(tzinfo=UTC)
            for o in orders
            if o.placed_at is not None
        ]
        stamp = file_stamp(max(placed).astimezone(UTC)) if placed else "00000000000000"
        return fill(
            str(self.settings.get("file_name_template") or "orders_{unique}.csv"),
            merchant=safe_name_part(self.merchant_folder(merchant)),
            type="orders",
            timestamp=stamp,
            unique=unique_part(o.key for o in orders),
            count=str(len(orders)),
        )

    # --- the contract -----------------------------------------------------------------------

    def test_connection(self) -> str:
        self._order_layout()
        self._shipment_layout()
        self._inventory_layout()
        transport = self.transport()
        try:
            found = transport.test()
            if transport.kind == "email":
                return found
            checked, missing, per_merchant = [], [], []
            for setting, label in FOLDER_SETTINGS:
                template = str(self.settings.get(setting) or "")
                if "{merchant}" in template:
                    per_merchant.append(label.lower())
                    continue
                try:
                    transport.list(template)
                    checked.append(template or "(root)")
                except AdapterError as exc:
                    if not exc.permanent:
                        raise
                    missing.append(f"{label} {template!r}")
        finally:
            transport.close()
        if missing:
            raise AdapterError(
                f"{found} Missing: {', '.join(missing)}: create them or correct the settings.",
                permanent=True,
            )
        if checked:
            found += f" Folders found: {', '.join(sorted(set(checked)))}."
        if per_merchant:
            found += (
                f" Per-merchant folders ({', '.join(per_merchant)}) depend on each merchant's "
                "folder name and are not checked here."
            )
        return found

    @property
    def _where(self) -> str:
        return f"{self.connection_key} ({self.label})"

    def _order_layout(self) -> OrderLayout:
        return order_layout(self.settings.get("order_layout"), self._where)

    def _shipment_layout(self) -> ShipmentLayout:
        return shipment_layout(self.settings.get("shipment_layout"), self._where)

    def _inventory_layout(self) -> InventoryLayout:
        return inventory_layout(self.settings.get("inventory_layout"), self._where)

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        if not orders:
            return []
        layout = self._order_layout()
        results: list[DeliveryResult] = []
        good: list[WmsOrder] = []
        for order in orders:
            try:
                write_orders(layout, [order])
            except LayoutError as exc:
                results.append(DeliveryResult(order.key, ok=False, error=str(exc)))
                continue
            good.append(order)
        if not good:
            return results
        data = write_orders(layout, good)
        name = self.file_name(merchant, good)
        folder = self.folder("orders_folder", merchant)
        archive = self.folder("archive_folder", merchant)
        # The batches of one run share one connection: a new SFTP session per file would
        # cost more than the file.
        if self._delivery_transport is None:
            self._delivery_transport = self.transport()
        try:
            sent = self._send(self._delivery_transport, folder, archive, name, data)
        except Exception:
            self.close()  # a connection that failed is not reused
            raise
        self.notes.append(f"{folder}/{name}: {len(good)} order(s) {sent}.")
        return results + [DeliveryResult(o.key, ok=True, reference=name) for o in good]

    def _send(self, transport: Transport, folder: str, archive: str, name: str, data: bytes) -> str:
        """Put the file unless an earlier attempt did; return what happened, for the log."""
        lookable = transport.kind != "email"
        if lookable and present(transport, archive, name):
            return f"already sent (found in {archive}/)"
        try:
            transport.put(folder, name, data)
        except TargetExists:
            return "already sent (the file is in the folder)"
        except AdapterError as exc:
            if exc.permanent or not lookable:
                raise
            # The answer may be what was lost: if the file made it, it was sent.
            try:
                if present(transport, folder, name) or present(transport, archive, name):
                    return "sent (confirmed after the connection dropped)"
            except AdapterError:
                pass
            if isinstance(exc, TransientError):
                raise
            raise TransientError(exc.message) from None
        return "sent"

    def fetch_shipments(
        self, merchant: MerchantRef, since: datetime | None
    ) -> Iterator[WmsShipment | BadPayload]:
        # Files are consumed once (archived once what they held is stored): no `since`.
        layout = self._shipment_layout()

        def read(data: bytes, where: str) -> tuple[list[WmsShipment | BadPayload], int]:
            found = read_shipments(layout, data)
            return [*found.shipments, *bad_rows(where, found.errors)], len(found.errors)

        yield from self._consume(merchant, "shipments_folder", "shipment_files", read, "shipment")

    def fetch_inventory(self, merchant: MerchantRef) -> Iterator[StockLevel | BadPayload]:
        layout = self._inventory_layout()

        def read(data: bytes, where: str) -> tuple[list[StockLevel | BadPayload], int]:
            found = read_inventory(layout, data)
            return [*found.levels, *bad_rows(where, found.errors)], len(found.errors)

        yield from self._consume(
            merchant, "inventory_folder", "inventory_files", read, "stock level"
        )

    def _consume(
        self,
        merchant: MerchantRef,
        folder_setting: str,
        pattern_setting: str,
        read: Callable[[bytes, str], tuple[list[T], int]],
        what: str,
    ) -> Iterator[T | BadPayload]:
        """Yield what the folder's files hold; hold the files until `acknowledge()`.

        The connection stays open for the moves; it is closed here when reading fails or
        stops early, and the files stay where they are.
        """
        transport = self.transport()
        consumed: list[ConsumedFile] = []
        try:
            yield from consume_folder(
                transport,
                folder=self.folder(folder_setting, merchant),
                patterns=[
                    fill(p, merchant=self.merchant_folder(merchant)).lower()
                    for p in patterns_of(str(self.settings.get(pattern_setting) or ""))
                ],
                archive=self.folder("archive_folder", merchant),
                errors=self.folder("errors_folder", merchant),
                read=read,
                what=what,
                notes=self.notes,
                held=consumed,
            )
        except BaseException:
            transport.close()
            raise
        self._held = (*self._held, (transport, consumed))
