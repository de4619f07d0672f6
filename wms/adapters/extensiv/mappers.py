"""Translate between the hub's dataclasses and Extensiv's order and stock payloads.

Payloads read here have lower-cased keys (`client.lower_keys`), so camelCase and PascalCase
answers map the same way; `dig` takes the documented names.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cartrover.adapters import ShipmentItem, StockLevel, WmsOrder, WmsShipment
from wms.adapters.extensiv.client import dig

STATUS_CLOSED = 1
STATUS_CANCELED = 2


def order_payload(order: WmsOrder, *, customer_id: int, facility_id: int) -> dict[str, Any]:
    """Return the `POST /orders` body of `order`; its key travels as the referenceNum."""
    ship_to = order.ship_to
    payload: dict[str, Any] = {
        "customerIdentifier": {"id": customer_id},
        "facilityIdentifier": {"id": facility_id},
        "referenceNum": order.key,
        "notes": order.notes,
        "shipTo": {
            "name": ship_to.name,
            "companyName": ship_to.company,
            "address1": ship_to.address1,
            "address2": ship_to.address2,
            "city": ship_to.city,
            "state": ship_to.state,
            "zip": ship_to.postal_code,
            "country": ship_to.country,
            "phoneNumber": ship_to.phone,
            "emailAddress": ship_to.email or order.customer_email,
        },
        "orderItems": [
            {"itemIdentifier": {"sku": line.sku}, "qty": line.quantity} for line in order.lines
        ],
    }
    routing = {"carrier": order.carrier, "mode": order.ship_method}
    if any(routing.values()):
        payload["routingInfo"] = {k: v for k, v in routing.items() if v}
    return payload


def order_id_of(order: dict[str, Any]) -> str:
    """Return the order id Extensiv gave an order (it lives in readOnly only), or ""."""
    value = dig(order, "readOnly.orderId")
    return "" if value is None else str(value)


def is_canceled(order: dict[str, Any]) -> bool:
    """Return whether the warehouse canceled the order."""
    return _int(dig(order, "readOnly.status")) == STATUS_CANCELED


def is_shipped(order: dict[str, Any]) -> bool:
    """Return whether the order shipped: closed, and closed as complete (status 1)."""
    return dig(order, "readOnly.isClosed") is True and (
        _int(dig(order, "readOnly.status")) == STATUS_CLOSED
    )


def parse_date(value: Any) -> datetime | None:
    """Read an Extensiv date (ISO-8601, often without an offset, meaning UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rql_date(moment: datetime) -> str:
    """Format `moment` for rql: UTC, to the second, without an offset."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


def shipments_of(order: dict[str, Any]) -> Iterator[WmsShipment]:
    """Yield one WmsShipment per package of a shipped order (lines via orderItemId)."""
    items = [item for item in dig(order, "orderItems", []) if isinstance(item, dict)]
    sku_of = {}
    for item in items:
        item_id = dig(item, "readOnly.orderItemId", dig(item, "orderItemId"))
        if item_id is not None:
            sku_of[str(item_id)] = str(dig(item, "itemIdentifier.sku", ""))
    shipped_at = parse_date(dig(order, "readOnly.shipDate")) or parse_date(
        dig(order, "readOnly.processDate")
    )
    facility = dig(order, "readOnly.facilityIdentifier.id", dig(order, "facilityIdentifier.id"))

    def shipment(tracking: str, items: list[ShipmentItem]) -> WmsShipment:
        return WmsShipment(
            order_key=str(dig(order, "referenceNum", "")),
            tracking_number=tracking,
            carrier=str(dig(order, "routingInfo.carrier", "")),
            service=str(dig(order, "routingInfo.mode", "")),
            shipped_at=shipped_at,
            warehouse="" if facility is None else str(facility),
            items=items,
        )

    packages = [
        p
        for p in dig(order, "readOnly.packages", [])
        if isinstance(p, dict) and str(dig(p, "trackingNumber", "")).strip()
    ]
    for package in packages:
        quantities: dict[str, int] = {}
        for content in dig(package, "packageContents", []):
            sku = sku_of.get(str(dig(content, "orderItemId", "")), "")
            if sku:
                quantities[sku] = quantities.get(sku, 0) + _int(dig(content, "qty"))
        yield shipment(
            str(dig(package, "trackingNumber")).strip(),
            [ShipmentItem(sku=sku, quantity=qty) for sku, qty in quantities.items()],
        )
    tracking = str(dig(order, "routingInfo.trackingNumber", "")).strip()
    if not packages and tracking:
        whole = [
            ShipmentItem(
                sku=str(dig(item, "itemIdentifier.sku", "")), quantity=_int(dig(item, "qty"))
            )
            for item in items
        ]
        yield shipment(tracking, whole)


def stock_of(summary: dict[str, Any]) -> StockLevel | None:
    """Return the available stock a stock summary line reports, or None without a SKU."""
    sku = str(dig(summary, "itemIdentifier.sku", "")).strip()
    if not sku:
        return None
    facility = dig(summary, "facilityId", dig(summary, "facilityIdentifier.id"))
    return StockLevel(
        sku=sku,
        quantity=_int(dig(summary, "available")),
        warehouse="" if facility is None else str(facility),
    )


def ship_methods_of(carriers: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Return (mode code, description, carrier) of each carrier's service modes."""
    found: list[tuple[str, str, str]] = []
    for carrier in carriers:
        name = str(
            dig(carrier, "carrier") or dig(carrier, "name") or dig(carrier, "description") or ""
        )
        modes = (
            dig(carrier, "modes")
            or dig(carrier, "shipmentServices")
            or dig(carrier, "services")
            or []
        )
        for mode in modes:
            if isinstance(mode, str):
                code, description = mode, mode
            elif isinstance(mode, dict):
                code = str(dig(mode, "mode") or dig(mode, "code") or "")
                description = str(dig(mode, "description") or dig(mode, "name") or code)
            else:
                continue
            if code:
                found.append((code, description, name))
    return found


def _first(record: dict[str, Any], *names: str) -> Any:
    """Return the first of `names` that `record` has a value for (shapes vary), or None."""
    return next((dig(record, n) for n in names if dig(record, n) not in (None, "", [])), None)


def _int(value: Any) -> int:
    """Read a quantity (Extensiv sends decimals such as 2.0) as a whole number."""
    try:
        return round(float(value))
    except (TypeError, ValueError):
        return 0
