"""What crosses the boundary between the sync services and any adapter, cart or WMS.

Adapters translate one external system's wire format into these plain dataclasses and raise
these typed errors; they never touch the ORM. The services decide what each error means for
orders, schedules, connections and alerts.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any


class AdapterError(Exception):
    """An external system refused or failed; `permanent` errors are not retried."""

    permanent: bool = False

    def __init__(self, message: str, *, permanent: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if permanent is not None:
            self.permanent = permanent
        # The answers a batch call had before it failed part-way (a WMS taking orders one by
        # one): those orders are settled, only the rest are without an answer.
        self.answered: list[DeliveryResult] = []


class AuthError(AdapterError):
    """The credentials were refused: the connection needs new ones before anything else."""

    permanent = True


class RateLimited(AdapterError):
    """The system asked us to slow down: try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, permanent=False)
        self.retry_after = max(0.0, float(retry_after))


class TransientError(AdapterError):
    """A network failure, timeout or 5xx: retried with backoff."""

    permanent = False


class BadPayload(AdapterError):
    """One record could not be read; it is kept with the reason and the rest goes on."""

    permanent = True

    def __init__(self, message: str, *, external_id: str = "", raw: object = None) -> None:
        super().__init__(message, permanent=True)
        self.external_id = external_id
        self.raw = raw


# --- Declared fields: what a kind asks for, from which forms are built ----------------------


@dataclass(frozen=True)
class FieldSpec:
    """One credential or setup field a kind declares."""

    name: str
    label: str
    type: str = "text"  # text | password | url | int | bool | choice | multichoice | textarea
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    secret: bool = False


def apply_defaults(fields: list[FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return `values` with every declared field present, missing ones at their defaults."""
    merged = {f.name: f.default for f in fields}
    merged.update({k: v for k, v in values.items() if v is not None})
    return merged


def missing_required(fields: list[FieldSpec], values: Mapping[str, Any]) -> list[str]:
    """Return the labels of required fields that have no value."""
    return [f.label for f in fields if f.required and values.get(f.name) in (None, "", [])]


# --- The registry: kind -> (label, dotted path), imported lazily ------------------------------


class Registry:
    """Map kind -> adapter class: an explicit dict plus a Python entry-point group."""

    def __init__(self, builtin: dict[str, tuple[str, str]], entry_point_group: str) -> None:
        self.builtin = builtin
        self.entry_point_group = entry_point_group
        self._kinds: dict[str, tuple[str, str]] | None = None

    def kinds(self) -> dict[str, tuple[str, str]]:
        """Return every kind with its label and dotted path, third-party kinds included.

        Installed packages are read once per process (scanning them costs more than a whole
        idle sync run); a newly installed kind shows after a restart.
        """
        if self._kinds is None:
            found = dict(self.builtin)
            for ep in entry_points(group=self.entry_point_group):
                found.setdefault(ep.name, (ep.name, ep.value.replace(":", ".")))
            self._kinds = found
        return dict(self._kinds)

    def choices(self) -> list[tuple[str, str]]:
        """Return (kind, label) pairs for forms."""
        return sorted(((k, v[0]) for k, v in self.kinds().items()), key=lambda kv: kv[1])

    def adapter_class(self, kind: str) -> type[Any]:
        """Import and return the adapter class of `kind`; unknown kinds are a clear error."""
        try:
            _, dotted = self.kinds()[kind]
        except KeyError:
            raise AdapterError(
                f"Unknown kind {kind!r}: is the package that provides it installed?",
                permanent=True,
            ) from None
        module_name, _, class_name = dotted.rpartition(".")
        return getattr(importlib.import_module(module_name), class_name)


# --- What crosses the boundary ---------------------------------------------------------------


@dataclass
class Address:
    """A postal address with the person or company at it."""

    name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""


@dataclass
class CartOrderLine:
    """One line of an order as the cart sent it."""

    line_id: str
    sku: str
    quantity: int
    name: str = ""
    price: Decimal | None = None


@dataclass
class CartOrder:
    """An order as a cart adapter reads it."""

    external_id: str
    order_number: str
    updated_at: datetime
    placed_at: datetime | None = None
    canceled: bool = False
    customer_name: str = ""
    customer_email: str = ""
    ship_to: Address | None = None
    bill_to: Address | None = None
    ship_method_code: str = ""
    currency: str = ""
    total: Decimal | None = None
    notes: str = ""
    lines: list[CartOrderLine] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ShipmentItem:
    """A quantity of one SKU in a package; `line_id` is the cart's line id where known."""

    sku: str
    quantity: int
    line_id: str = ""


@dataclass
class CartShipment:
    """A package to report to the cart: tracking and what it holds."""

    order_external_id: str
    order_number: str
    tracking_number: str
    carrier: str = ""
    service: str = ""
    shipped_at: datetime | None = None
    items: list[ShipmentItem] = field(default_factory=list)


@dataclass
class WmsOrderLine:
    """One line as the WMS receives it."""

    sku: str
    quantity: int
    name: str = ""
    price: Decimal | None = None
    line_id: str = ""


@dataclass
class WmsOrder:
    """An order as the WMS receives it, carrying the hub's key for deduplication."""

    key: str
    order_number: str
    order_source: str
    placed_at: datetime | None
    ship_to: Address
    ship_method: str
    carrier: str
    lines: list[WmsOrderLine]
    customer_email: str = ""
    notes: str = ""
    merchant_settings: dict[str, Any] = field(default_factory=dict)
    cart_settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeliveryResult:
    """What the WMS said about one delivered order: accepted (`ok`, with the WMS's reference)
    or refused (with the reason). An order with no result has no answer: it may or may not be
    at the WMS, and is sent again with its batch."""

    key: str
    ok: bool
    reference: str = ""
    error: str = ""


@dataclass
class WmsShipment:
    """A package the WMS reports as shipped, naming the order by the hub's key or number."""

    order_key: str
    tracking_number: str
    order_number: str = ""
    carrier: str = ""
    service: str = ""
    shipped_at: datetime | None = None
    warehouse: str = ""
    items: list[ShipmentItem] = field(default_factory=list)


@dataclass
class StockLevel:
    """Stock of one SKU, in one warehouse when the WMS says which."""

    sku: str
    quantity: int
    warehouse: str = ""


@dataclass
class ItemResult:
    """What a system said about one item of a batch (a SKU's stock, for example)."""

    sku: str
    ok: bool
    error: str = ""


@dataclass
class MerchantRef:
    """The merchant a WMS call is for, with its WMS settings."""

    id: int
    name: str
    settings: dict[str, Any] = field(default_factory=dict)


PING_TOPIC = "ping"


@dataclass
class WebhookNotice:
    """A verified webhook: its id for deduplication and what it is about.

    A platform's ping (topic PING_TOPIC, no event id) is answered and otherwise ignored.
    """

    event_id: str
    topic: str
    order_external_ids: list[str] = field(default_factory=list)
