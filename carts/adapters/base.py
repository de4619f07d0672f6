"""The cart adapter contract: bound to one connection's settings, never to the ORM."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings

from cartrover.adapters import (
    AdapterError,
    BadPayload,
    CartOrder,
    CartShipment,
    FieldSpec,
    ItemResult,
    StockLevel,
    WebhookNotice,
    apply_defaults,
)


class CartAdapter:
    """Speak one cart platform's wire format; return plain dataclasses, raise typed errors."""

    kind: ClassVar[str]
    label: ClassVar[str]
    # Any of: orders, shipments, inventory, webhooks, cancellations.
    capabilities: ClassVar[frozenset[str]] = frozenset({"orders"})
    credential_fields: ClassVar[list[FieldSpec]] = []
    setup_fields: ClassVar[list[FieldSpec]] = []

    def __init__(
        self, *, credentials: Mapping[str, Any], setup: Mapping[str, Any], connection_key: str
    ) -> None:
        self.credentials = apply_defaults(self.credential_fields, credentials)
        self.setup = apply_defaults(self.setup_fields, setup)
        self.connection_key = connection_key
        # Lines the adapter wants in the job log, such as one result per file it read.
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection_key}>"

    def test_connection(self) -> str:
        """Check the credentials and setup; return what was found, or raise an AdapterError."""
        raise NotImplementedError

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        """Yield orders updated at or after `since`, page by page.

        An order that cannot be read is yielded as a BadPayload (not raised), so the rest of
        the page is still stored.
        """
        raise NotImplementedError

    def acknowledge(self) -> None:
        """Let go of what `fetch_orders` handed over, now that the hub committed it (a file
        cart archives its order files here); nothing by default."""

    def close(self) -> None:
        """Let go of connections kept open between calls; files read and not acknowledged
        stay where they are, to be read again."""

    def upload_shipment(self, shipment: CartShipment) -> str:
        """Report one package with its tracking to the cart; return the cart's reference."""
        raise AdapterError(f"{self.label} takes no shipments.", permanent=True)

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        """Set the cart's stock of each SKU; return one result per SKU."""
        raise AdapterError(f"{self.label} takes no inventory.", permanent=True)

    def register_webhooks(self, address: str) -> list[str]:
        """Subscribe the platform's order webhooks to `address` (idempotent); return topics."""
        raise AdapterError(f"{self.label} cannot register webhooks.", permanent=True)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        """Verify a webhook's signature over the raw body and say what it is about."""
        raise AdapterError(f"{self.label} sends no webhooks.", permanent=True)


def refuse_stale_webhook(sent_at: datetime | None, label: str) -> None:
    """Raise when a webhook says it was sent longer ago than WEBHOOK_MAX_AGE_SECONDS.

    Platforms retry a failed delivery for up to two days, so the default allows that; a
    delivery older than any retry is a replay. Orders it names are still caught by the
    download schedule, so refusing it loses nothing.
    """
    if sent_at is None:
        return
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - sent_at).total_seconds()
    if age > settings.WEBHOOK_MAX_AGE_SECONDS:
        raise AdapterError(
            f"The {label} webhook was sent {age / 3600:.0f} hours ago, longer ago than any "
            "retry: refused as a replay.",
            permanent=True,
        )
