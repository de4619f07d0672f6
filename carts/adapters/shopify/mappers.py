"""Shopify wire payloads ⇄ the hub's dataclasses: pure functions, no I/O.

Choices made here (and why):

- Quantities come from `fulfillable_quantity`, not `quantity`: a partly fulfilled or partly
  refunded line must only send what is still to ship. Lines with nothing left are dropped.
- Lines with `requires_shipping: false` (gift cards, downloads) are dropped unless the cart's
  setup keeps them: a warehouse cannot pick them. An order left with no line to ship is not
  the 3PL's business and is skipped (`order_is_wanted`), unless it is cancelled.
- A cancelled order keeps its lines at their ordered quantity (Shopify zeroes the fulfillable
  quantities) and is always passed on, whatever its financial status, so the hub can cancel it.
- A null `sku` becomes "": the hub stores and shows the line, and the merchant can fix it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cartrover.adapters import Address, BadPayload, CartOrder, CartOrderLine

# What a broken payload raises while being read; anything else is a bug in this module.
_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, InvalidOperation)


class Unreadable(ValueError):
    """A payload field has a type or value the mapper cannot use."""


def order_from_wire(
    order: Mapping[str, Any], *, include_non_shipping: bool = False
) -> CartOrder | BadPayload:
    """Return the CartOrder of a Shopify order, or a BadPayload saying what could not be read."""
    external_id = str(order.get("id") or "") if isinstance(order, Mapping) else ""
    try:
        return _order(order, include_non_shipping=include_non_shipping)
    except _UNREADABLE as exc:
        reason = exc.args[0] if isinstance(exc, Unreadable) and exc.args else repr(exc)
        return BadPayload(
            f"Shopify order {external_id or '(no id)'} could not be read: {reason}",
            external_id=external_id,
            raw=dict(order) if isinstance(order, Mapping) else order,
        )


def order_is_wanted(order: CartOrder, financial_statuses: Collection[str]) -> bool:
    """Return whether the hub should get this order.

    Cancelled orders always pass (their financial status turns to refunded or voided, and the
    hub must still learn of the cancellation). Others pass when their financial status is one
    the cart downloads and they have something to ship.
    """
    if order.canceled:
        return True
    status = str(order.raw.get("financial_status") or "")
    if financial_statuses and "any" not in financial_statuses and status not in financial_statuses:
        return False
    return bool(order.lines)


def _order(order: Mapping[str, Any], *, include_non_shipping: bool) -> CartOrder:
    if not isinstance(order, Mapping):
        raise Unreadable("the order is not a JSON object")
    order_id = order["id"]
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise Unreadable(f"id {order_id!r} is not a number")
    canceled = order.get("cancelled_at") is not None
    line_items = order.get("line_items")
    if not isinstance(line_items, list):
        raise Unreadable(f"line_items is {type(line_items).__name__}, not a list")
    lines = [
        line
        for raw in line_items
        if (line := _line(raw, canceled=canceled, include_non_shipping=include_non_shipping))
    ]
    shipping = _address(order.get("shipping_address"), "shipping_address")
    billing = _address(order.get("billing_address"), "billing_address")
    customer = order.get("customer") if isinstance(order.get("customer"), Mapping) else {}
    assert isinstance(customer, Mapping)
    email = _text(order.get("email") or order.get("contact_email") or customer.get("email"))
    if shipping is not None and not shipping.email:
        shipping.email = email
    customer_name = (
        " ".join(_text(customer.get(k)) for k in ("first_name", "last_name") if customer.get(k))
        or (shipping.name if shipping else "")
        or (billing.name if billing else "")
    )
    total = order.get("total_price")
    return CartOrder(
        external_id=str(order_id),
        order_number=_text(order.get("name")) or str(order.get("order_number") or order_id),
        updated_at=_datetime(order.get("updated_at") or order.get("created_at"), "updated_at"),
        placed_at=_datetime(order.get("created_at"), "created_at")
        if order.get("created_at")
        else None,
        canceled=canceled,
        customer_name=customer_name,
        customer_email=email,
        ship_to=shipping,
        bill_to=billing,
        ship_method_code=_ship_method(order.get("shipping_lines")),
        currency=_text(order.get("currency")),
        total=_decimal(total, "total_price") if total is not None else None,
        notes=_text(order.get("note")),
        lines=lines,
        raw=dict(order),
    )


def _line(line: Any, *, canceled: bool, include_non_shipping: bool) -> CartOrderLine | None:
    if not isinstance(line, Mapping):
        raise Unreadable("a line item is not a JSON object")
    if line.get("requires_shipping") is False and not include_non_shipping:
        return None
    if canceled:
        quantity = _int(line.get("quantity"), "quantity")
    else:
        # What is left to ship: refunds and earlier fulfillments are already taken off.
        left = line.get("fulfillable_quantity")
        if left is None:
            left = line.get("current_quantity", line.get("quantity"))
        quantity = _int(left, "fulfillable_quantity")
        if quantity <= 0:
            return None
    price = line.get("price")
    return CartOrderLine(
        line_id=str(_int(line["id"], "line id")),
        sku=_text(line.get("sku")).strip(),
        quantity=quantity,
        name=_text(line.get("name") or line.get("title")),
        price=_decimal(price, "price") if price is not None else None,
    )


def _address(raw: Any, name: str) -> Address | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise Unreadable(f"{name} is not a JSON object")
    full_name = _text(raw.get("name")) or " ".join(
        _text(raw.get(k)) for k in ("first_name", "last_name") if raw.get(k)
    )
    return Address(
        name=full_name,
        company=_text(raw.get("company")),
        address1=_text(raw.get("address1")),
        address2=_text(raw.get("address2")),
        city=_text(raw.get("city")),
        state=_text(raw.get("province_code") or raw.get("province")),
        postal_code=_text(raw.get("zip")),
        country=_text(raw.get("country_code") or raw.get("country")),
        phone=_text(raw.get("phone")),
    )


def _ship_method(shipping_lines: Any) -> str:
    if not shipping_lines:
        return ""
    if not isinstance(shipping_lines, list) or not isinstance(shipping_lines[0], Mapping):
        raise Unreadable("shipping_lines is not a list of objects")
    first = shipping_lines[0]
    return _text(first.get("code") or first.get("title")).strip()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise Unreadable(f"{value!r} is not text")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unreadable(f"{name} {value!r} is not a whole number")
    return value


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Unreadable(f"{name} {value!r} is not a decimal amount")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise Unreadable(f"{name} {value!r} is not a decimal amount") from None


def _datetime(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise Unreadable(f"{name} {value!r} is not a date")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable(f"{name} {value!r} is not an ISO 8601 date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- hub → Shopify ----------------------------------------------------------------------------

# Shopify recognizes these company names and links their tracking pages itself.
CARRIERS = {
    "ups": "UPS",
    "usps": "USPS",
    "fedex": "FedEx",
    "fed ex": "FedEx",
    "dhl": "DHL Express",
    "dhl express": "DHL Express",
    "dhl ecommerce": "DHL eCommerce",
    "canada post": "Canada Post",
    "royal mail": "Royal Mail",
    "australia post": "Australia Post",
    "ontrac": "OnTrac",
    "purolator": "Purolator",
}


def tracking_company(carrier: str) -> str:
    """Return Shopify's name for a carrier ("fedex" → "FedEx"), or the carrier as given."""
    cleaned = " ".join(carrier.split())
    return CARRIERS.get(cleaned.lower(), cleaned)


def fulfillment_body(
    *,
    groups: list[dict[str, Any]],
    tracking_number: str,
    carrier: str,
    notify_customer: bool,
) -> dict[str, Any]:
    """Return the body of POST fulfillments.json for fulfillment-order groups of one location."""
    tracking: dict[str, Any] = {"number": tracking_number}
    company = tracking_company(carrier)
    if company:
        tracking["company"] = company
    return {
        "fulfillment": {
            "notify_customer": notify_customer,
            "tracking_info": tracking,
            "line_items_by_fulfillment_order": groups,
        }
    }


def sku_index(products: list[Any]) -> dict[str, list[int]]:
    """Return SKU → inventory item ids of a products.json page (variants without SKU skipped)."""
    index: dict[str, list[int]] = {}
    for product in products:
        variants = product.get("variants") if isinstance(product, Mapping) else None
        for variant in variants if isinstance(variants, list) else []:
            if not isinstance(variant, Mapping):
                continue
            sku = variant.get("sku")
            item = variant.get("inventory_item_id")
            if isinstance(sku, str) and sku.strip() and isinstance(item, int):
                index.setdefault(sku.strip(), []).append(item)
    return index
