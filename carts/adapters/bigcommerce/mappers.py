"""BigCommerce wire payloads ⇄ the hub's dataclasses: pure functions, no I/O.

V2 orders come in three pieces (the order, its product lines, its shipping addresses); the
adapter fetches them and `order_from_wire` turns the three into one `CartOrder`, or into a
`BadPayload` when a piece cannot be read.

Choices worth knowing:

- Bundles: a bundle arrives as its parent line plus child lines carrying
  `parent_order_product_id`. The hub keeps the parent (what the buyer ordered, with the SKU the
  merchant sells) and skips the children, which stay in `raw`. Shipments then name the parent.
- Digital lines (`type` "digital", no shipping address) are skipped: a warehouse cannot ship
  them. Refunded units are not shipped either: a line's quantity is `quantity` minus
  `quantity_refunded`, and fully refunded lines are left out.
- An order with several shipping addresses goes to the WMS with the first one; the notes say
  which lines go elsewhere, so the warehouse sees it.
- Refunded (4), Cancelled (5) and Declined (6) orders are canceled.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cartrover.adapters import Address, BadPayload, CartOrder, CartOrderLine

CANCELED_STATUSES = frozenset({4, 5, 6})
STATUS_NAMES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}


class Unreadable(ValueError):
    """A field of a BigCommerce payload that cannot be read; the message says which."""


# --- scalar fields ---------------------------------------------------------------------------


def as_int(value: Any, what: str) -> int:
    """Return an id or count sent as a number or a numeric string."""
    if isinstance(value, bool):
        raise Unreadable(f"{what} is {value!r}, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise Unreadable(f"{what} is {value!r}, not a whole number")


def optional_int(value: Any, what: str) -> int | None:
    """Return an id that may be absent (None, "" or 0 mean none)."""
    if value in (None, "", 0, "0"):
        return None
    return as_int(value, what)


def parse_date(value: Any, what: str) -> datetime | None:
    """Return an aware datetime from V2's RFC-2822 (or ISO-8601); "" and None are None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Unreadable(f"{what} is {value!r}, not a date")
    text = value.strip()
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Unreadable(f"{what} is {value!r}, not a date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def format_date(moment: datetime) -> str:
    """Format a datetime the way V2 filters take it: `Fri, 02 Oct 2026 16:20:05 +0000`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return email.utils.format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def parse_money(value: Any, what: str) -> Decimal | None:
    """Return a Decimal from V2's four-decimal strings ("44.5000"); "" and None are None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Unreadable(f"{what} is {value!r}, not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Unreadable(f"{what} is {value!r}, not an amount") from None
    if not amount.is_finite():
        raise Unreadable(f"{what} is {value!r}, not an amount")
    return amount


def text(value: Any) -> str:
    """Return a string field, with None as ""."""
    return "" if value is None else str(value)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Unreadable(f"{what} is {type(value).__name__}, not an object")
    return value


# --- orders ----------------------------------------------------------------------------------


def address_from_wire(wire: Mapping[str, Any], what: str) -> Address:
    """Return an Address from a V2 billing or shipping address."""
    wire = _mapping(wire, what)
    name = " ".join(
        part for part in (text(wire.get("first_name")), text(wire.get("last_name"))) if part
    )
    return Address(
        name=name.strip(),
        company=text(wire.get("company")),
        address1=text(wire.get("street_1")),
        address2=text(wire.get("street_2")),
        city=text(wire.get("city")),
        state=text(wire.get("state")),
        postal_code=text(wire.get("zip")),
        country=text(wire.get("country_iso2")) or text(wire.get("country")),
        phone=text(wire.get("phone")),
        email=text(wire.get("email")),
    )


def is_bundle_child(product: Mapping[str, Any]) -> bool:
    """Return whether a product line is part of a bundle (its parent is the line kept)."""
    return (
        optional_int(product.get("parent_order_product_id"), "parent_order_product_id") is not None
    )


def shippable_quantity(product: Mapping[str, Any]) -> int:
    """Return the units of a line still to ship: ordered minus refunded minus shipped."""
    quantity = as_int(product.get("quantity"), f"line {product.get('id')} quantity")
    refunded = as_int(product.get("quantity_refunded") or 0, "quantity_refunded")
    shipped = as_int(product.get("quantity_shipped") or 0, "quantity_shipped")
    return max(0, quantity - refunded - shipped)


def kept_lines(products: list[Any]) -> list[Mapping[str, Any]]:
    """Return the product lines the hub keeps: physical, not a bundle child."""
    kept = []
    for index, product in enumerate(products):
        product = _mapping(product, f"product line {index + 1}")
        if is_bundle_child(product) or text(product.get("type")) == "digital":
            continue
        kept.append(product)
    return kept


def line_from_wire(product: Mapping[str, Any]) -> CartOrderLine | None:
    """Return the order line of a V2 product line, or None when nothing of it ships.

    The quantity is what was ordered minus what was refunded; units the merchant already
    shipped in BigCommerce stay in it, since the WMS must know the whole order.
    """
    line_id = as_int(product.get("id"), "product line id")
    quantity = as_int(product.get("quantity"), f"line {line_id} quantity")
    refunded = as_int(product.get("quantity_refunded") or 0, f"line {line_id} quantity_refunded")
    remaining = quantity - refunded
    if remaining <= 0:
        return None
    return CartOrderLine(
        line_id=str(line_id),
        sku=text(product.get("sku")).strip(),
        quantity=remaining,
        name=text(product.get("name")),
        price=parse_money(product.get("price_inc_tax"), f"line {line_id} price_inc_tax"),
    )


def order_from_wire(
    order: Mapping[str, Any], products: list[Any], addresses: list[Any]
) -> CartOrder | BadPayload:
    """Return the CartOrder of a V2 order with its products and shipping addresses.

    Anything unreadable becomes a BadPayload carrying the three pieces as they came.
    """
    raw: dict[str, Any] = {
        "order": dict(order) if isinstance(order, Mapping) else order,
        "products": products,
        "shipping_addresses": addresses,
    }
    external_id = text(order.get("id")) if isinstance(order, Mapping) else ""
    try:
        return _order(order, products, addresses, raw)
    except Unreadable as error:
        return BadPayload(
            f"BigCommerce order {external_id or '(no id)'} cannot be read: {error}.",
            external_id=external_id,
            raw=raw,
        )


def _order(
    order: Mapping[str, Any], products: list[Any], addresses: list[Any], raw: dict[str, Any]
) -> CartOrder:
    order = _mapping(order, "the order")
    order_id = as_int(order.get("id"), "id")
    status_id = as_int(order.get("status_id"), "status_id")
    placed_at = parse_date(order.get("date_created"), "date_created")
    updated_at = parse_date(order.get("date_modified"), "date_modified") or placed_at
    if updated_at is None:
        raise Unreadable("date_modified and date_created are both empty")
    billing = address_from_wire(order.get("billing_address") or {}, "billing_address")
    ships = sorted(
        (_mapping(a, "a shipping address") for a in addresses),
        key=lambda a: as_int(a.get("id"), "shipping address id"),
    )
    ship_to = address_from_wire(ships[0], "the shipping address") if ships else None
    if ship_to is not None and not ship_to.email:
        ship_to.email = billing.email
    lines = []
    elsewhere = []
    first_address_id = as_int(ships[0].get("id"), "shipping address id") if ships else None
    for product in kept_lines(products):
        line = line_from_wire(product)
        if line is None:
            continue
        lines.append(line)
        address_id = optional_int(product.get("order_address_id"), "order_address_id")
        if first_address_id is not None and address_id not in (None, first_address_id):
            elsewhere.append((line, address_id))
    notes = text(order.get("customer_message")).strip()
    if elsewhere:
        by_id = {as_int(a.get("id"), "shipping address id"): a for a in ships}
        for line, address_id in elsewhere:
            other = by_id.get(address_id) if address_id is not None else None
            where = _one_line(address_from_wire(other, "a shipping address")) if other else ""
            notes += (
                f"\nLine {line.sku or line.name} x{line.quantity} ships to another address"
                f"{': ' + where if where else ''}."
            )
        notes = notes.strip()
    return CartOrder(
        external_id=str(order_id),
        order_number=str(order_id),
        updated_at=updated_at,
        placed_at=placed_at,
        canceled=status_id in CANCELED_STATUSES,
        customer_name=billing.name,
        customer_email=billing.email,
        ship_to=ship_to,
        bill_to=billing,
        ship_method_code=text(ships[0].get("shipping_method")).strip() if ships else "",
        currency=text(order.get("currency_code")),
        total=parse_money(order.get("total_inc_tax"), "total_inc_tax"),
        notes=notes,
        lines=lines,
        raw=raw,
    )


def _one_line(address: Address) -> str:
    parts = [address.name, address.address1, address.postal_code, address.city, address.country]
    return ", ".join(p for p in parts if p)


# --- shipments -------------------------------------------------------------------------------


# shipping_provider -> the tracking_carrier slug BigCommerce links tracking numbers with.
TRACKING_CARRIERS = {
    "ups": "ups",
    "upsready": "ups",
    "fedex": "fedex",
    "usps": "usps",
    "endicia": "usps",
    "auspost": "australia-post",
    "canadapost": "canada-post",
    "royalmail": "royal-mail",
}


def parse_provider_map(setting: Any) -> dict[str, str]:
    """Return carrier name (lower case) -> shipping_provider from "UPS=ups" lines."""
    mapping = {}
    for raw_line in text(setting).replace(",", "\n").splitlines():
        name, sep, provider = raw_line.partition("=")
        if sep and name.strip():
            mapping[name.strip().lower()] = provider.strip()
    return mapping


def shipment_body(
    *,
    address_id: int,
    items: list[tuple[int, int]],
    tracking_number: str,
    carrier: str,
    service: str,
    providers: Mapping[str, str],
) -> dict[str, Any]:
    """Return the POST /v2/orders/{id}/shipments body for one address's items.

    The provider comes from the merchant's carrier mapping; unmapped carriers are sent as a
    custom provider ("") and the carrier's name goes to the comments.
    """
    provider = providers.get(carrier.strip().lower(), "")
    comments = " ".join(part for part in (carrier.strip(), service.strip()) if part)
    return {
        "order_address_id": address_id,
        "items": [{"order_product_id": line, "quantity": qty} for line, qty in items],
        "tracking_number": tracking_number,
        "shipping_provider": provider,
        "tracking_carrier": TRACKING_CARRIERS.get(provider, ""),
        "comments": f"Shipped with {comments}" if comments else "",
    }
