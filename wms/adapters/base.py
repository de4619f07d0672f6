"""The WMS adapter contract: bound to the account's WMS settings, never to the ORM."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from cartrover.adapters import (
    AdapterError,
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
    # Whether the WMS recognises an order (or file) it already has when it is sent again, so
    # a batch whose answer was lost can simply be sent again. Without that, such a batch is
    # given to a person to check instead.
    recognises_repeats: bool = True

    def __init__(
        self, *, credentials: Mapping[str, Any], settings: Mapping[str, Any], connection_key: str
    ) -> None:
        self.credentials = apply_defaults(self.credential_fields, credentials)
        self.settings = apply_defaults(self.settings_fields, settings)
        self.connection_key = connection_key
        # Lines the adapter wants in the job log, such as one result per file it read.
        self.notes: list[str] = []
        # Called by long loops before each request: the flow checks that its run still owns
        # the work (and raises if not) and keeps its claim alive.
        self.heartbeat: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection_key}>"

    def test_connection(self) -> str:
        """Check the credentials and settings; return what was found, or raise."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of connections kept open between calls (the flow calls it when done)."""

    def acknowledge(self) -> None:
        """Let the WMS forget what was fetched so far: the hub has committed all of it.

        The shipment and stock flows call it after storing what `fetch_shipments` or
        `fetch_inventory` yielded; a WMS that hands over files archives them only now, so a
        run that dies before leaves them to be read again. Nothing to do for most WMSes.
        """

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        """Send a batch of orders; return one result per order, in any order.

        An order the WMS already has under the same key counts as delivered (ok), so a retried
        batch never creates an order twice. A failure of the whole batch raises; a failure
        part-way raises with the answers already had in the error's `answered`.
        """
        raise NotImplementedError

    def deliver_each(
        self, orders: list[WmsOrder], deliver: Callable[[WmsOrder], DeliveryResult]
    ) -> list[DeliveryResult]:
        """Deliver orders one by one, for WMSes that take one order a request.

        The heartbeat runs before each order. An error at order k raises with the answers of
        orders 1 … k-1 in its `answered`, so only the orders after them stay without answer.
        """
        results: list[DeliveryResult] = []
        for order in orders:
            try:
                self.heartbeat()
                results.append(deliver(order))
            except AdapterError as exc:
                exc.answered = results
                raise
        return results

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

    def cancel_order(self, merchant: MerchantRef, key: str, reference: str) -> str:
        """Cancel an order the WMS has (by the reference it gave, else the hub's key).

        Only for kinds whose `capabilities` hold "cancellations". Returns "" once the order
        is canceled at the WMS (or was, or the WMS never had it), else why the WMS will not
        cancel it (it shipped, say). Failures raise typed errors.
        """
        raise NotImplementedError

    def fetch_ship_methods(self) -> list[tuple[str, str, str]]:
        """Return (code, description, carrier) of the WMS's ship methods, where it can."""
        return []
