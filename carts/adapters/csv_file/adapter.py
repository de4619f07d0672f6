"""A cart that sends its orders as CSV files and takes tracking and stock back as files.

Order files are read from a folder of any file transport (SFTP, FTP/FTPS, e-mail, a folder)
with an order layout, and moved to the archive folder once read (to the errors folder when
some order in them could not be read), so each file is consumed once and `since` is not
needed. Reading a file again (one sent twice) only finds the same orders, which the hub
upserts by their external id: the order reference of the file.

Each package's tracking becomes a shipment file, each stock upload a stock file. Their names
come from what they hold, so a retried upload finds its file there and sends nothing twice.
`orders_from_upload` reads a file a person uploads by hand, with the same layout engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from cartrover.adapters import (
    AdapterError,
    BadPayload,
    CartOrder,
    CartShipment,
    FieldSpec,
    ItemResult,
    StockLevel,
    WmsShipment,
)
from carts.adapters.base import CartAdapter
from wms.adapters.csv_file.files import (
    INVENTORY_LAYOUT,
    ORDER_LAYOUT,
    ConsumedFile,
    Held,
    consume_folder,
    file_stamp,
    fill,
    inventory_layout,
    layout_json,
    order_layout,
    patterns_of,
    release_held,
    shipment_layout,
    unique_part,
)
from wms.files.layout import (
    OrderLayout,
    UnreadableFile,
    read_orders,
    write_inventory,
    write_shipments,
)
from wms.files.transports import (
    Transport,
    transport_choice_field,
    transport_credential_fields,
    transport_for,
    transport_settings_fields,
)
from wms.files.transports.base import TargetExists

# The cart's order reference sits in the order-key column of shipment files it gets back.
CART_SHIPMENT_LAYOUT: dict[str, Any] = {
    "columns": [
        {"header": "OrderId", "source": "order_key"},
        {"header": "OrderNumber", "source": "order_number"},
        {"header": "TrackingNumber", "source": "tracking_number"},
        {"header": "Carrier", "source": "carrier"},
        {"header": "Service", "source": "service"},
        {"header": "ShipDate", "source": "shipped_at"},
        {"header": "LineId", "source": "line_id"},
        {"header": "SKU", "source": "sku"},
        {"header": "Quantity", "source": "quantity"},
    ],
}
# An order file from a cart names orders by number; the hub's key is the warehouse's business.
CART_ORDER_LAYOUT: dict[str, Any] = {
    **ORDER_LAYOUT,
    "columns": [c for c in ORDER_LAYOUT["columns"] if c["source"] not in ("order.key",)],
}


def orders_from_upload(
    layout: Mapping[str, Any] | OrderLayout, data: bytes
) -> list[CartOrder | BadPayload]:
    """Return the orders of a file uploaded by hand; a bad layout raises LayoutError.

    A file that cannot be read at all comes back as one BadPayload saying why.
    """
    parsed = layout if isinstance(layout, OrderLayout) else OrderLayout.from_dict(layout)
    try:
        return read_orders(parsed, data)
    except UnreadableFile as exc:
        return [BadPayload(str(exc), raw={"file": "upload"})]


class CsvFileCartAdapter(CartAdapter):
    kind = "csv_file"
    label = "CSV files"
    capabilities = frozenset({"orders", "shipments", "inventory"})
    _held: Held = ()
    credential_fields = transport_credential_fields()
    setup_fields = [
        transport_choice_field(default="local"),
        *transport_settings_fields(),
        FieldSpec("orders_folder", "Orders folder", default="orders"),
        FieldSpec(
            "order_files",
            "Order file names",
            default="",
            help="Comma-separated patterns (* any text, any case); blank: every file.",
        ),
        FieldSpec("archive_folder", "Archive folder", default="archive"),
        FieldSpec("errors_folder", "Errors folder", default="errors"),
        FieldSpec("shipments_folder", "Shipment files folder", default="shipments"),
        FieldSpec("inventory_folder", "Stock files folder", default="inventory"),
        FieldSpec(
            "file_name_template",
            "Name of files written",
            default="{type}_{timestamp}_{unique}.csv",
            help="{type} (shipment or inventory), {timestamp} and {unique} (from the content).",
        ),
        FieldSpec(
            "order_layout",
            "Order file layout (JSON)",
            type="textarea",
            default=layout_json(CART_ORDER_LAYOUT),
        ),
        FieldSpec(
            "shipment_layout",
            "Shipment file layout (JSON)",
            type="textarea",
            default=layout_json(CART_SHIPMENT_LAYOUT),
        ),
        FieldSpec(
            "inventory_layout",
            "Stock file layout (JSON)",
            type="textarea",
            default=layout_json(INVENTORY_LAYOUT),
        ),
    ]

    @property
    def _where(self) -> str:
        return f"{self.connection_key} ({self.label})"

    def transport(self) -> Transport:
        """Return a new transport for this setup (connected on first use)."""
        return transport_for(self.setup, self.credentials, self.connection_key)

    def test_connection(self) -> str:
        order_layout(self.setup.get("order_layout"), self._where)
        shipment_layout(self.setup.get("shipment_layout"), self._where)
        inventory_layout(self.setup.get("inventory_layout"), self._where)
        transport = self.transport()
        try:
            found = transport.test()
            if transport.kind == "email":
                return found
            missing = []
            for name in (
                "orders_folder",
                "archive_folder",
                "errors_folder",
                "shipments_folder",
                "inventory_folder",
            ):
                folder = str(self.setup.get(name) or "")
                try:
                    transport.list(folder)
                except AdapterError as exc:
                    if not exc.permanent:
                        raise
                    missing.append(folder or "(root)")
        finally:
            transport.close()
        if missing:
            raise AdapterError(
                f"{found} Missing folders: {', '.join(sorted(set(missing)))}: create them or "
                "correct the setup.",
                permanent=True,
            )
        return found

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        # Files are consumed once (moved when read): `since` is not needed.
        layout = order_layout(self.setup.get("order_layout"), self._where)
        received_at = datetime.now(UTC)

        def read(data: bytes, where: str) -> tuple[list[CartOrder | BadPayload], int]:
            items: list[CartOrder | BadPayload] = []
            bad = 0
            for item in read_orders(layout, data, received_at=received_at):
                if isinstance(item, BadPayload):
                    bad += 1
                    item = BadPayload(
                        f"{where}: {item.message}", external_id=item.external_id, raw=item.raw
                    )
                items.append(item)
            return items, bad

        # The files stay in the folder until `acknowledge()`, once their orders are stored.
        transport = self.transport()
        consumed: list[ConsumedFile] = []
        try:
            yield from consume_folder(
                transport,
                folder=str(self.setup.get("orders_folder") or ""),
                patterns=patterns_of(str(self.setup.get("order_files") or "")),
                archive=str(self.setup.get("archive_folder") or ""),
                errors=str(self.setup.get("errors_folder") or ""),
                read=read,
                what="order",
                notes=self.notes,
                held=consumed,
            )
        except BaseException:
            transport.close()
            raise
        self._held = (*self._held, (transport, consumed))

    def acknowledge(self) -> None:
        """Archive the order files read so far, now that their orders are stored."""
        held, self._held = self._held, ()
        release_held(held, self.notes, archive=True)

    def close(self) -> None:
        held, self._held = self._held, ()
        release_held(held, self.notes, archive=False)

    def _file_name(self, kind: str, parts: list[str], moment: datetime) -> str:
        return fill(
            str(self.setup.get("file_name_template") or "{type}_{unique}.csv"),
            type=kind,
            timestamp=file_stamp(moment.astimezone(UTC) if moment.tzinfo else moment),
            unique=unique_part(parts),
            merchant="",
        )

    def _put(self, folder_setting: str, name: str, data: bytes) -> str:
        folder = str(self.setup.get(folder_setting) or "")
        transport = self.transport()
        try:
            transport.put(folder, name, data)
        except TargetExists:
            pass  # sent by an earlier attempt whose answer was lost
        finally:
            transport.close()
        return f"{folder}/{name}" if folder else name

    def upload_shipment(self, shipment: CartShipment) -> str:
        layout = shipment_layout(self.setup.get("shipment_layout"), self._where)
        package = WmsShipment(
            order_key=shipment.order_external_id,
            order_number=shipment.order_number,
            tracking_number=shipment.tracking_number,
            carrier=shipment.carrier,
            service=shipment.service,
            shipped_at=shipment.shipped_at,
            items=list(shipment.items),
        )
        data = write_shipments(layout, [package])
        moment = shipment.shipped_at or datetime(2000, 1, 1, tzinfo=UTC)
        name = self._file_name(
            "shipment", [shipment.order_external_id, shipment.tracking_number], moment
        )
        return self._put("shipments_folder", name, data)

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        if not levels:
            return []
        layout = inventory_layout(self.setup.get("inventory_layout"), self._where)
        data = write_inventory(layout, levels)
        parts = [f"{lv.sku}\t{lv.warehouse}\t{lv.quantity}" for lv in levels]
        name = self._file_name("inventory", parts, datetime.now(UTC))
        self._put("inventory_folder", name, data)
        return [ItemResult(sku=lv.sku, ok=True) for lv in levels]
