"""The sandbox store: deterministic orders, a ledger of what it was sent, injectable failures.

It needs no network: orders are computed from the setup (seed, count, spacing), so the same
setup always yields the same orders. Changes to orders (updates, cancellations) and everything
the hub uploads (tracking, stock) live in a ledger file, shared by every process that opens
the same cart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from cartrover.adapters import (
    Address,
    AuthError,
    BadPayload,
    CartOrder,
    CartOrderLine,
    CartShipment,
    FieldSpec,
    ItemResult,
    RateLimited,
    StockLevel,
    TransientError,
    WebhookNotice,
)
from carts.adapters.base import CartAdapter
from sandbox.ledger import Ledger

FAILURES = (
    ("none", "None"),
    ("auth", "Refuse the credentials"),
    ("rate_limit", "Answer 429, retry after 30 s"),
    ("server_error", "Answer 500"),
    ("malformed", "Send some unreadable orders"),
)
SIGNATURE_HEADER = "X-Sandbox-Signature"

NAMES = ["Ana Ruiz", "Jürgen Groß", "Zoë Chen", "محمد علي", "Siobhán O'Neil", "Kwame Mensah"]
CITIES = [
    ("Dayton", "OH", "45402", "US"),
    ("Bremen", "HB", "28195", "DE"),
    ("Leeds", "", "LS1", "GB"),
]


def sign(secret: str, body: bytes) -> str:
    """Return the sandbox webhook signature of a body: base64 HMAC-SHA256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def ledger_for(setup: Mapping[str, Any]) -> Ledger:
    """Return the ledger of a sandbox store's setup."""
    folder = setup.get("ledger_dir") or Path(settings.VAR_DIR) / "sandbox"
    return Ledger(folder, f"store-{setup.get('seed') or 'shop'}")


class DummyCartAdapter(CartAdapter):
    kind = "dummy"
    label = "Sandbox store"
    capabilities = frozenset({"orders", "shipments", "inventory", "webhooks", "cancellations"})
    credential_fields = [
        FieldSpec(
            "api_key",
            "API key",
            type="password",
            required=True,
            secret=True,
            help="Any value; it also signs the store's webhooks.",
        ),
    ]
    setup_fields = [
        FieldSpec(
            "seed",
            "Store name",
            default="shop",
            help="Stores with the same name share their orders and ledger.",
        ),
        FieldSpec("order_count", "Orders in the store", type="int", default=10),
        FieldSpec("page_size", "Orders per page", type="int", default=5),
        FieldSpec("start", "First order placed at (ISO 8601)", default="2026-01-01T00:00:00+00:00"),
        FieldSpec(
            "order_spacing_seconds",
            "Seconds between orders",
            type="int",
            default=0,
            help="0: every order exists from the start; more: the store keeps taking orders.",
        ),
        FieldSpec("ship_codes", "Ship method codes used", default="GROUND,EXPRESS"),
        FieldSpec("skus", "SKUs sold", default="SKU-1,SKU-2,SKU-3"),
        FieldSpec("failure", "Inject a failure", type="choice", default="none", choices=FAILURES),
        FieldSpec("ledger_dir", "Ledger folder", default="", help="Blank: var/sandbox."),
    ]

    @property
    def ledger(self) -> Ledger:
        return ledger_for(self.setup)

    def _check_failure(self) -> None:
        if not self.credentials.get("api_key"):
            raise AuthError("The sandbox store needs an API key: enter any value.")
        failure = self.setup.get("failure")
        if failure == "auth":
            raise AuthError("The sandbox store refused the API key: enter the key again.")
        if failure == "rate_limit":
            raise RateLimited("The sandbox store asked to slow down.", retry_after=30)
        if failure == "server_error":
            raise TransientError("The sandbox store answered 500 Internal Server Error.")

    def test_connection(self) -> str:
        self._check_failure()
        seed, count = self.setup["seed"], self.setup["order_count"]
        return f"Connected to sandbox store {seed!r} ({count} orders)."

    # --- orders ---------------------------------------------------------------------------

    def _base_orders(self, now: datetime) -> Iterator[dict[str, Any]]:
        start = datetime.fromisoformat(str(self.setup["start"]))
        spacing = int(self.setup["order_spacing_seconds"] or 0)
        codes = [c.strip() for c in str(self.setup["ship_codes"]).split(",") if c.strip()]
        skus = [s.strip() for s in str(self.setup["skus"]).split(",") if s.strip()]
        seed = self.setup["seed"]
        for i in range(int(self.setup["order_count"])):
            placed = start + timedelta(seconds=i * spacing)
            if placed > now:
                break
            name = NAMES[i % len(NAMES)]
            city, state, postal, country = CITIES[i % len(CITIES)]
            external_id = f"{seed}-{i + 1}"
            yield {
                "id": external_id,
                "number": f"#{1000 + i + 1}",
                "placed_at": placed.isoformat(),
                "updated_at": placed.isoformat(),
                "canceled": False,
                "customer": {"name": name, "email": f"buyer{i + 1}@example.com"},
                "ship_to": {
                    "name": name,
                    "address1": f"{i + 1} Harbor Road",
                    "city": city,
                    "state": state,
                    "postal_code": postal,
                    "country": country,
                },
                "ship_code": codes[i % len(codes)] if codes else "",
                "currency": "USD",
                "lines": [
                    {
                        "id": f"{external_id}-L{j + 1}",
                        "sku": skus[(i + j) % len(skus)],
                        "name": f"Item {skus[(i + j) % len(skus)]}",
                        "quantity": 1 + (i + j) % 2,
                        "price": "9.95",
                    }
                    for j in range(1 + i % 3)
                ],
                "notes": "",
                "malformed": self.setup.get("failure") == "malformed" and i % 5 == 2,
            }

    def _orders(self, now: datetime) -> list[dict[str, Any]]:
        orders = {o["id"]: o for o in self._base_orders(now)}
        for change in self.ledger.records("order_change"):
            order = orders.get(change["id"])
            if order is not None and datetime.fromisoformat(change["at"]) <= now:
                order.update(change["fields"])
                order["updated_at"] = change["updated_at"]
        return sorted(orders.values(), key=lambda o: (o["updated_at"], o["id"]))

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        self._check_failure()
        now = datetime.now(UTC)
        wanted = [
            o
            for o in self._orders(now)
            if since is None or datetime.fromisoformat(o["updated_at"]) >= since
        ]
        page_size = max(1, int(self.setup["page_size"]))
        for offset in range(0, len(wanted), page_size):
            for raw in wanted[offset : offset + page_size]:
                yield self._map(raw)

    def _map(self, raw: dict[str, Any]) -> CartOrder | BadPayload:
        if raw.get("malformed"):
            return BadPayload(
                "The order has no line items and no total: the store sent an unreadable order.",
                external_id=raw["id"],
                raw={k: v for k, v in raw.items() if k != "lines"},
            )
        return CartOrder(
            external_id=raw["id"],
            order_number=raw["number"],
            placed_at=datetime.fromisoformat(raw["placed_at"]),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
            canceled=bool(raw["canceled"]),
            customer_name=raw["customer"]["name"],
            customer_email=raw["customer"]["email"],
            ship_to=Address(**raw["ship_to"]),
            ship_method_code=raw["ship_code"],
            currency=raw["currency"],
            total=sum((Decimal(li["price"]) * li["quantity"] for li in raw["lines"]), Decimal(0)),
            notes=raw["notes"],
            lines=[
                CartOrderLine(
                    line_id=li["id"],
                    sku=li["sku"],
                    quantity=li["quantity"],
                    name=li["name"],
                    price=Decimal(li["price"]),
                )
                for li in raw["lines"]
            ],
            raw=raw,
        )

    def change_order(self, external_id: str, *, updated_at: datetime, **fields: Any) -> None:
        """Change an order in the store (as its merchant would): notes, canceled, ..."""
        self.ledger.append(
            {
                "type": "order_change",
                "id": external_id,
                "fields": fields,
                "updated_at": updated_at.isoformat(),
                "at": updated_at.isoformat(),
            }
        )

    # --- uploads ----------------------------------------------------------------------------

    def upload_shipment(self, shipment: CartShipment) -> str:
        self._check_failure()
        reference = f"F-{shipment.order_external_id}-{shipment.tracking_number}"
        # A tracking number the store has for this order already (an upload whose answer
        # was lost) is not added again, as the real carts' adapters make sure too.
        if any(
            r["order"] == shipment.order_external_id and r["tracking"] == shipment.tracking_number
            for r in self.ledger.records("shipment")
        ):
            return reference
        self.ledger.append(
            {
                "type": "shipment",
                "order": shipment.order_external_id,
                "tracking": shipment.tracking_number,
                "carrier": shipment.carrier,
                "items": [
                    {"line_id": i.line_id, "sku": i.sku, "quantity": i.quantity}
                    for i in shipment.items
                ],
                "reference": reference,
            }
        )
        return reference

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        self._check_failure()
        known = {s.strip() for s in str(self.setup["skus"]).split(",")}
        results = [
            ItemResult(
                sku=lv.sku,
                ok=lv.sku in known,
                error="" if lv.sku in known else "No such SKU in the store.",
            )
            for lv in levels
        ]
        self.ledger.append(
            *[
                {"type": "stock", "sku": lv.sku, "quantity": lv.quantity}
                for lv, r in zip(levels, results, strict=True)
                if r.ok
            ]
        )
        return results

    # --- webhooks ---------------------------------------------------------------------------

    def register_webhooks(self, address: str) -> list[str]:
        self._check_failure()
        topics = ["orders/create", "orders/updated"]
        known = {r["address"] for r in self.ledger.records("webhook_subscription")}
        if address not in known:
            self.ledger.append(
                {"type": "webhook_subscription", "address": address, "topics": topics}
            )
        return topics

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        given = headers.get(SIGNATURE_HEADER, "")
        expected = sign(str(self.credentials.get("api_key", "")), body)
        if not given or not hmac.compare_digest(given, expected):
            raise AuthError("The webhook's signature does not match: it was not sent by the store.")
        try:
            payload = json.loads(body)
            return WebhookNotice(
                event_id=str(payload["id"]),
                topic=str(payload["topic"]),
                order_external_ids=[str(x) for x in payload.get("order_ids", [])],
            )
        except (ValueError, KeyError, TypeError):
            raise BadPayload("The webhook body is not the store's JSON event.") from None
