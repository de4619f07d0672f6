"""The WMS adapter contract: bound to the account's WMS settings, never to the ORM."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from cartrover.adapters import (
    BadPayload,
    DeliveryResult,
    FieldSpec,
    MerchantRef,
    StockLevel,
    WmsOrder,
    WmsShipment,
    apply_defaults,
)


class WmsAdapter:
    """Speak one WMS's wire format: take orders, report shipments and stock."""

    kind: ClassVar[str]
    label: ClassVar[str]
    # "push": the hub sends orders. "pull": the WMS fetches them from the hub's API.
    mode: ClassVar[str] = "push"
    capabilities: ClassVar[frozenset[str]] = frozenset({"orders", "shipments", "inventory"})
    credential_fields: ClassVar[list[FieldSpec]] = []
    settings_fields: ClassVar[list[FieldSpec]] = []
    merchant_fields: ClassVar[list[FieldSpec]] = []
    cart_fields: ClassVar[list[FieldSpec]] = []
    batch_size: ClassVar[int] = 50

    def __init__(
        self, *, credentials: Mapping[str, Any], settings: Mapping[str, Any], connection_key: str
    ) -> None:
        self.credentials = apply_defaults(self.credential_fields, credentials)
        self.settings = apply_defaults(self.settings_fields, settings)
        self.connection_key = connection_key
        # Lines the adapter wants in the job log, such as one result per file it read.
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection_key}>"

    def test_connection(self) -> str:
        """Check the credentials and settings; return what was found, or raise."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of connections kept open between calls (the flow calls it when done)."""

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        """Send a batch of orders; return one result per order, in any order.

        An order the WMS already has under the same key counts as delivered (ok), so a retried
        batch never creates an order twice. A failure of the whole batch raises.
        """
        raise NotImplementedError

    def fetch_shipments(
        self, merchant: MerchantRef, since: datetime | None
    ) -> Iterator[WmsShipment | BadPayload]:
        """Yield packages shipped at or after `since` for this merchant's orders.

        A record that cannot be read (a bad row of a file) is yielded as a BadPayload with
        the reason, and the rest goes on.
        """
        raise NotImplementedError

    def fetch_inventory(self, merchant: MerchantRef) -> Iterator[StockLevel | BadPayload]:
        """Yield the merchant's stock per SKU and warehouse (BadPayload for unreadable rows)."""
        raise NotImplementedError

    def fetch_ship_methods(self) -> list[tuple[str, str, str]]:
        """Return (code, description, carrier) of the WMS's ship methods, where it can."""
        return []
