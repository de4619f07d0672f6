"""WooCommerce wire payloads ⇄ the hub's dataclasses. Pure functions, no I/O.

Wire facts handled here: dates come without an offset (`date_*_gmt` is UTC, `date_*` is the
site's local time, so only the `_gmt` ones are read); line `price` is documented as a string but
sent as a number; `sku` may be ""; names carry HTML entities (`&ndash;`, `&amp;`); blank
address fields are empty strings.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cartrover.adapters import Address, BadPayload, CartOrder, CartOrderLine, CartShipment

CANCELED_STATUSES = frozenset({"cancelled", "refunded", "failed"})
# Order meta where the hub records the packages it reported (tracking -> quantities per line).
PACKAGES_META_KEY = "_cartrover_packages"


def parse_gmt(value: Any) -> datetime:
    """Return an aware UTC datetime from WooCommerce's `..._gmt` value (no offset, UTC)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a date: {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_gmt(moment: datetime) -> str:
    """Return `moment` as WooCommerce's GMT query format, to send with dates_are_gmt=true."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def text(value: Any) -> str:
    """Return a wire string with HTML entities decoded; None becomes ""."""
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return html.unescape(str(value)).strip()


def money(value: Any) -> Decimal | None:
    """Return a money value sent as a string or a number; None or "" become None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected an amount, got {type(value).__name__}")
    return Decimal(str(value))


def _quantity(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("quantity is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"quantity {value!r} is not a whole number")


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None or value == []:  # PHP serialises an empty array as [].
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} is not an object")
    return value


def address(fields: Mapping[str, Any], *, email: str = "") -> Address:
    """Return the Address of a `billing` or `shipping` object; blank fields stay ""."""
    name = " ".join(
        part for part in (text(fields.get("first_name")), text(fields.get("last_name"))) if part
    )
    return Address(
        name=name,
        company=text(fields.get("company")),
        address1=text(fields.get("address_1")),
        address2=text(fields.get("address_2")),
        city=text(fields.get("city")),
        state=text(fields.get("state")),
        postal_code=text(fields.get("postcode")),
        country=text(fields.get("country")),
        phone=text(fields.get("phone")),
        email=email or text(fields.get("email")),
    )


def ship_method_code(raw: Mapping[str, Any]) -> str:
    """Return the first shipping line's method id (its title when the id is blank)."""
    lines = raw.get("shipping_lines") or []
    if not isinstance(lines, list):
        raise TypeError("shipping_lines is not a list")
    if not lines:
        return ""
    first = lines[0]
    if not isinstance(first, Mapping):
        raise TypeError("shipping_lines[0] is not an object")
    return text(first.get("method_id")) or text(first.get("method_title"))


def order_line(raw: Any) -> CartOrderLine:
    """Return one `line_items` entry as a CartOrderLine."""
    if not isinstance(raw, Mapping):
        raise TypeError("a line item is not an object")
    line_id = raw["id"]
    if isinstance(line_id, bool) or not isinstance(line_id, int | str) or line_id == "":
        raise ValueError(f"line item id {line_id!r} is not an id")
    return CartOrderLine(
        line_id=str(line_id),
        sku=text(raw.get("sku")),
        quantity=_quantity(raw["quantity"]),
        name=text(raw.get("name")),
        price=money(raw.get("price")),
    )


def order_from_wire(raw: Any) -> CartOrder | BadPayload:
    """Return an order of `GET /orders` as a CartOrder, or a BadPayload saying what is wrong."""
    external_id = str(raw.get("id", "")) if isinstance(raw, Mapping) else ""
    try:
        if not isinstance(raw, Mapping):
            raise TypeError("the order is not an object")
        order_id = raw["id"]
        if isinstance(order_id, bool) or not isinstance(order_id, int | str) or order_id == "":
            raise ValueError(f"id {order_id!r} is not an order id")
        line_items = raw.get("line_items")
        if not isinstance(line_items, list):
            raise TypeError("line_items is not a list")
        placed = parse_gmt(raw["date_created_gmt"])
        modified = raw.get("date_modified_gmt")
        billing = _section(raw, "billing")
        shipping = _section(raw, "shipping")
        email = text(billing.get("email"))
        bill_to = address(billing)
        ship_to = address(shipping, email=email)
        if not ship_to.phone:
            ship_to.phone = bill_to.phone
        return CartOrder(
            external_id=str(order_id),
            order_number=text(raw.get("number")) or str(order_id),
            placed_at=placed,
            updated_at=parse_gmt(modified) if modified else placed,
            canceled=str(raw.get("status") or "") in CANCELED_STATUSES,
            customer_name=bill_to.name or ship_to.name,
            customer_email=email,
            ship_to=ship_to,
            bill_to=bill_to,
            ship_method_code=ship_method_code(raw),
            currency=text(raw.get("currency")),
            total=money(raw.get("total")),
            notes=text(raw.get("customer_note")),
            lines=[order_line(line) for line in line_items],
            raw=dict(raw),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return BadPayload(
            f"WooCommerce sent an order that cannot be read: {reason}.",
            external_id=external_id,
            raw=raw,
        )


# --- Shipments ---------------------------------------------------------------------------------


def tracking_note(shipment: CartShipment, link: str = "") -> str:
    """Return the order note that tells the buyer (or the merchant) about one package."""
    carrier = " ".join(part for part in (shipment.carrier, shipment.service) if part)
    note = f"Shipped via {carrier}, tracking number {shipment.tracking_number}."
    if not carrier:
        note = f"Shipped, tracking number {shipment.tracking_number}."
    if link:
        note += f" Track it at {link}"
    return note


def tracking_item(shipment: CartShipment, provider: str | None) -> dict[str, Any]:
    """Return the Shipment Tracking extension's body for one package.

    `provider` is the extension's own name for the carrier when it knows it; otherwise the
    carrier goes in as a custom provider.
    """
    body: dict[str, Any] = {"tracking_number": shipment.tracking_number}
    if provider:
        body["tracking_provider"] = provider
    else:
        body["custom_tracking_provider"] = shipment.carrier or "Other"
    if shipment.shipped_at is not None:
        body["date_shipped"] = shipment.shipped_at.astimezone(UTC).date().isoformat()
    return body


def provider_names(providers: Any) -> dict[str, str]:
    """Return {normalised name: provider} from the extension's providers, grouped by country."""
    names: dict[str, str] = {}
    if isinstance(providers, Mapping):
        for group in providers.values():
            if isinstance(group, Mapping):
                for name in group:
                    names.setdefault(normalise_provider(str(name)), str(name))
    return names


def normalise_provider(name: str) -> str:
    """Return a carrier name in a form that matches regardless of case, dashes and spaces."""
    return " ".join(name.lower().replace("-", " ").split())


def packages_meta(order: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return the packages already recorded in the order's meta, by tracking number."""
    for entry in order.get("meta_data") or []:
        if isinstance(entry, Mapping) and entry.get("key") == PACKAGES_META_KEY:
            value = entry.get("value")
            if isinstance(value, Mapping):
                return {str(k): list(v) for k, v in value.items() if isinstance(v, list)}
    return {}


def package_items(shipment: CartShipment) -> list[dict[str, Any]]:
    """Return the package's contents as stored in the order's meta."""
    return [
        {"line_id": item.line_id, "sku": item.sku, "quantity": item.quantity}
        for item in shipment.items
    ]


def fully_shipped(order: Mapping[str, Any], packages: Mapping[str, list[dict[str, Any]]]) -> bool:
    """Return whether the packages cover every line item of the order.

    A package that lists no items stands for the whole order. Items name their line by id,
    else by SKU.
    """
    if not packages:
        return False
    if any(not items for items in packages.values()):
        return True
    lines = [li for li in order.get("line_items") or [] if isinstance(li, Mapping)]
    left = {str(li.get("id")): int(li.get("quantity") or 0) for li in lines}
    by_sku: dict[str, list[str]] = {}
    for li in lines:
        if li.get("sku"):
            by_sku.setdefault(str(li["sku"]), []).append(str(li.get("id")))
    for items in packages.values():
        for item in items:
            quantity = int(item.get("quantity") or 0)
            line_id = str(item.get("line_id") or "")
            if line_id not in left:
                line_id = next(
                    (i for i in by_sku.get(str(item.get("sku") or ""), []) if left[i] > 0), ""
                )
            if line_id:
                left[line_id] -= quantity
    return all(quantity <= 0 for quantity in left.values())
