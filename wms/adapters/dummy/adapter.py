"""The sandbox warehouse: keeps the orders it receives, ships them, reports stock.

Everything it received is in a ledger file shared by processes, so a test or the demo can
check that each order arrived exactly once. It recognizes an order it already has by the hub's
key, as a real WMS recognizes a duplicate reference number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings

from cartrover.adapters import (
    AuthError,
    DeliveryResult,
    FieldSpec,
    MerchantRef,
    RateLimited,
    ShipmentItem,
    StockLevel,
    TransientError,
    WmsOrder,
    WmsShipment,
)
from sandbox.ledger import Ledger
from wms.adapters.base import WmsAdapter

FAILURES = (
    ("none", "None"),
    ("auth", "Refuse the credentials"),
    ("rate_limit", "Answer 429, retry after 30 s"),
    ("server_error", "Answer 503 (down)"),
    ("timeout_after_accept", "Accept orders, then time out before answering"),
)
SHIP_METHODS = [
    ("GROUND", "Ground", "UPS"),
    ("EXPRESS", "Express 2-day", "FedEx"),
    ("PRIORITY", "Priority Mail", "USPS"),
]


def ledger_for(settings_: Mapping[str, Any]) -> Ledger:
    """Return the ledger of a sandbox warehouse's settings."""
    folder = settings_.get("ledger_dir") or Path(settings.VAR_DIR) / "sandbox"
    return Ledger(folder, f"warehouse-{settings_.get('name') or 'main'}")


class DummyWmsAdapter(WmsAdapter):
    kind = "dummy"
    label = "Sandbox warehouse"
    credential_fields = [
        FieldSpec(
            "api_key", "API key", type="password", required=True, secret=True, help="Any value."
        ),
    ]
    settings_fields = [
        FieldSpec(
            "name",
            "Warehouse name",
            default="main",
            help="Warehouses with the same name share their ledger.",
        ),
        FieldSpec("ship_after_seconds", "Ship orders after (seconds)", type="int", default=0),
        FieldSpec(
            "split_packages",
            "Ship orders of several lines in two packages",
            type="bool",
            default=False,
        ),
        FieldSpec(
            "reject_skus",
            "Reject orders with these SKUs",
            default="",
            help="Comma-separated: the warehouse does not know them.",
        ),
        FieldSpec("stock_per_sku", "Stock of each SKU before shipping", type="int", default=100),
        FieldSpec("warehouses", "Warehouse codes", default="MAIN"),
        FieldSpec("skus", "SKUs stocked", default="SKU-1,SKU-2,SKU-3"),
        FieldSpec("failure", "Inject a failure", type="choice", default="none", choices=FAILURES),
        FieldSpec("ledger_dir", "Ledger folder", default="", help="Blank: var/sandbox."),
    ]
    merchant_fields = [
        FieldSpec("client_id", "Client id in the warehouse", default=""),
    ]

    @property
    def ledger(self) -> Ledger:
        return ledger_for(self.settings)

    def _check_failure(self, *, deliver: bool = False) -> None:
        if not self.credentials.get("api_key"):
            raise AuthError("The sandbox warehouse needs an API key: enter any value.")
        failure = self.settings.get("failure")
        if failure == "auth":
            raise AuthError("The sandbox warehouse refused the API key: enter the key again.")
        if failure == "rate_limit":
            raise RateLimited("The sandbox warehouse asked to slow down.", retry_after=30)
        if failure == "server_error":
            raise TransientError("The sandbox warehouse answered 503 Service Unavailable.")

    def test_connection(self) -> str:
        self._check_failure()
        return f"Connected to sandbox warehouse {self.settings['name']!r}."

    def _delivered(self) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in self.ledger.records("order")}

    def deliver_orders(self, merchant: MerchantRef, orders: list[WmsOrder]) -> list[DeliveryResult]:
        self._check_failure()
        known = self._delivered()
        rejected = {s.strip() for s in str(self.settings["reject_skus"]).split(",") if s.strip()}
        results, accepted = [], []
        now = datetime.now(UTC).isoformat()
        for order in orders:
            if order.key in known:
                results.append(
                    DeliveryResult(order.key, ok=True, reference=known[order.key]["reference"])
                )
                continue
            unknown = sorted({line.sku for line in order.lines} & rejected)
            if unknown:
                results.append(
                    DeliveryResult(
                        order.key,
                        ok=False,
                        error=f"The warehouse does not know SKU {', '.join(unknown)}.",
                    )
                )
                continue
            reference = f"W-{order.key}"
            accepted.append(
                {
                    "type": "order",
                    "key": order.key,
                    "reference": reference,
                    "merchant": merchant.id,
                    "order_number": order.order_number,
                    "ship_method": order.ship_method,
                    "at": now,
                    "lines": [{"sku": li.sku, "quantity": li.quantity} for li in order.lines],
                }
            )
            results.append(DeliveryResult(order.key, ok=True, reference=reference))
        if accepted:
            self.ledger.append(*accepted)
        if self.settings.get("failure") == "timeout_after_accept":
            raise TransientError("The sandbox warehouse took the orders but timed out answering.")
        return results

    def _packages(self, record: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
        lines = record["lines"]
        if self.settings.get("split_packages") and len(lines) > 1:
            half = (len(lines) + 1) // 2
            return [(f"1ZS{record['key']}A", lines[:half]), (f"1ZS{record['key']}B", lines[half:])]
        return [(f"1ZS{record['key']}", lines)]

    def fetch_shipments(
        self, merchant: MerchantRef, since: datetime | None
    ) -> Iterator[WmsShipment]:
        self._check_failure()
        now = datetime.now(UTC)
        delay = timedelta(seconds=int(self.settings["ship_after_seconds"] or 0))
        for record in self._delivered().values():
            shipped_at = datetime.fromisoformat(record["at"]) + delay
            if record["merchant"] != merchant.id or shipped_at > now:
                continue
            if since is not None and shipped_at < since:
                continue
            for tracking, lines in self._packages(record):
                yield WmsShipment(
                    order_key=record["key"],
                    order_number=record["order_number"],
                    tracking_number=tracking,
                    carrier="UPS",
                    service=record.get("ship_method", ""),
                    shipped_at=shipped_at,
                    warehouse=self._warehouses()[0],
                    items=[ShipmentItem(sku=li["sku"], quantity=li["quantity"]) for li in lines],
                )

    def _warehouses(self) -> list[str]:
        return [w.strip() for w in str(self.settings["warehouses"]).split(",") if w.strip()] or [
            "MAIN"
        ]

    def fetch_inventory(self, merchant: MerchantRef) -> Iterator[StockLevel]:
        self._check_failure()
        shipped: dict[str, int] = {}
        for record in self._delivered().values():
            if record["merchant"] == merchant.id:
                for line in record["lines"]:
                    shipped[line["sku"]] = shipped.get(line["sku"], 0) + line["quantity"]
        skus = {s.strip() for s in str(self.settings["skus"]).split(",") if s.strip()} | set(
            shipped
        )
        first, *others = self._warehouses()
        for sku in sorted(skus):
            yield StockLevel(
                sku=sku,
                warehouse=first,
                quantity=int(self.settings["stock_per_sku"]) - shipped.get(sku, 0),
            )
            for code in others:
                yield StockLevel(
                    sku=sku, warehouse=code, quantity=int(self.settings["stock_per_sku"])
                )

    def fetch_ship_methods(self) -> list[tuple[str, str, str]]:
        self._check_failure()
        return list(SHIP_METHODS)
