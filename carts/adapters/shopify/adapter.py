"""The Shopify cart: orders in, tracking out through fulfillment orders, stock out, webhooks.

Speaks the Admin REST API of one shop with a custom app's access token. Wire details live in
`client.py`, payload translation in `mappers.py`; this class holds the flows' logic: which
orders to pass on, how a package becomes fulfillments, how a SKU finds its inventory item.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from cartrover.adapters import (
    AdapterError,
    AuthError,
    BadPayload,
    CartOrder,
    CartShipment,
    FieldSpec,
    ItemResult,
    StockLevel,
    TransientError,
    WebhookNotice,
)
from carts.adapters.base import CartAdapter, refuse_stale_webhook
from carts.adapters.shopify.client import MAX_PAGE_SIZE, ShopifyClient, error_text
from carts.adapters.shopify.mappers import (
    fulfillment_body,
    order_from_wire,
    order_is_wanted,
    sku_index,
)

FINANCIAL_STATUSES = (
    ("authorized", "Authorized"),
    ("paid", "Paid"),
    ("partially_paid", "Partially paid"),
    ("partially_refunded", "Partially refunded"),
    ("pending", "Pending"),
    ("refunded", "Refunded"),
    ("voided", "Voided"),
    ("any", "Any"),
)
FULFILLMENT_STATUSES = (
    ("unfulfilled", "Not yet fulfilled, or partly (unshipped and partial)"),
    ("unshipped", "Not yet fulfilled only"),
    ("partial", "Partly fulfilled only"),
    ("any", "Any, fulfilled ones too"),
)
WEBHOOK_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
OPEN_FULFILLMENT_ORDER = ("open", "in_progress")
# Fulfillments in these states shipped nothing: a retry must not count them as done.
VOID_FULFILLMENT = ("cancelled", "error", "failure")


class ShopifyAdapter(CartAdapter):
    kind = "shopify"
    label = "Shopify"
    capabilities = frozenset({"orders", "shipments", "inventory", "webhooks", "cancellations"})
    credential_fields = [
        FieldSpec(
            "shop_url",
            "Shop address",
            type="url",
            required=True,
            help="https://your-shop.myshopify.com (the shop's myshopify.com address).",
        ),
        FieldSpec(
            "access_token",
            "Admin API access token",
            type="password",
            required=True,
            secret=True,
            help="From the shop's custom app (shpat_…). Scopes: read/write orders, "
            "read_all_orders, read/write merchant-managed fulfillment orders, read products, "
            "read/write inventory, read locations.",
        ),
        FieldSpec(
            "webhook_secret",
            "API secret key",
            type="password",
            required=True,
            secret=True,
            help="The custom app's API secret key: Shopify signs its webhooks with it.",
        ),
    ]
    setup_fields = [
        FieldSpec("api_version", "API version", default="2024-10", help="YYYY-MM."),
        FieldSpec(
            "financial_statuses",
            "Download orders that are",
            type="multichoice",
            default=["paid", "partially_paid", "authorized", "partially_refunded"],
            choices=FINANCIAL_STATUSES,
            help="Cancelled orders are always downloaded, so the hub can cancel them.",
        ),
        FieldSpec(
            "fulfillment_status",
            "Fulfillment status",
            type="choice",
            default="unfulfilled",
            choices=FULFILLMENT_STATUSES,
        ),
        FieldSpec(
            "page_size", "Orders per page", type="int", default=MAX_PAGE_SIZE, help="At most 250."
        ),
        FieldSpec(
            "initial_lookback_days",
            "First download goes back (days)",
            type="int",
            default=30,
            help="Orders older than 60 days need the read_all_orders scope.",
        ),
        FieldSpec(
            "include_non_shipping_lines",
            "Send lines that need no shipping",
            type="bool",
            default=False,
            help="Gift cards and downloads: off keeps them away from the warehouse.",
        ),
        FieldSpec(
            "inventory_location",
            "Stock location",
            default="",
            help="Blank: the shop's first active location; 'all': every active location gets "
            "the same figure; or location ids, comma-separated.",
        ),
        FieldSpec(
            "notify_customer",
            "Email the customer when tracking is uploaded",
            type="bool",
            default=True,
        ),
    ]

    def __init__(
        self, *, credentials: Mapping[str, Any], setup: Mapping[str, Any], connection_key: str
    ) -> None:
        super().__init__(credentials=credentials, setup=setup, connection_key=connection_key)
        self._skus: dict[str, list[int]] | None = None
        self._locations: list[dict[str, Any]] | None = None

    @cached_property
    def client(self) -> ShopifyClient:
        """Return the client of this connection's shop (built on first use)."""
        return ShopifyClient(
            shop_address=str(self.credentials.get("shop_url") or ""),
            access_token=str(self.credentials.get("access_token") or ""),
            api_version=str(self.setup.get("api_version") or "2024-10"),
            name=f"shopify:{self.connection_key}",
            secrets=[str(self.credentials.get("webhook_secret") or "")],
        )

    # --- connection --------------------------------------------------------------------------

    def test_connection(self) -> str:
        if not self.credentials.get("access_token"):
            raise AuthError("The Shopify cart has no access token: enter the custom app's token.")
        try:
            shop = self.client.get("shop.json", allow=(404,), doing="reading the shop")
            name = ""
            if shop.status_code == 200:
                payload = self.client.json(shop, "reading the shop")
                name = str((payload.get("shop") or {}).get("name") or "")
            counted = self.client.get(
                "orders/count.json", params={"status": "any"}, doing="reading orders"
            )
        except TransientError as exc:
            if "could not reach" in exc.message or "could not resolve" in exc.message:
                raise AdapterError(
                    f"Could not reach the shop at {self.client.origin}: the shop address looks "
                    "wrong (expected https://your-shop.myshopify.com), or the shop is offline. "
                    f"({exc.message})",
                    permanent=True,
                ) from None
            raise
        count = self.client.json(counted, "counting orders").get("count")
        shown = f"{name} ({self.client.host})" if name else self.client.host
        return f"Connected to Shopify shop {shown}: {count} orders visible."

    # --- orders ------------------------------------------------------------------------------

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        if since is None:
            days = int(self.setup.get("initial_lookback_days") or 30)
            since = datetime.now(UTC) - timedelta(days=days)
        elif since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        params: dict[str, Any] = {
            "status": "any",
            "updated_at_min": since.isoformat(timespec="seconds"),
            "limit": self._page_size(),
        }
        fulfillment = str(self.setup.get("fulfillment_status") or "any")
        if fulfillment != "any":
            params["fulfillment_status"] = fulfillment
        # Shopify's financial_status takes one value, and cancelled orders turn "refunded" or
        # "voided": filtering here lets several statuses through and never hides a cancel.
        statuses = self._financial_statuses()
        include = bool(self.setup.get("include_non_shipping_lines"))
        for page in self.client.pages("orders.json", "orders", params, doing="reading orders"):
            for raw in page:
                item = order_from_wire(raw, include_non_shipping=include)
                if isinstance(item, BadPayload) or order_is_wanted(item, statuses):
                    yield item

    def _page_size(self) -> int:
        try:
            size = int(self.setup.get("page_size") or MAX_PAGE_SIZE)
        except (TypeError, ValueError):
            size = MAX_PAGE_SIZE
        return max(1, min(MAX_PAGE_SIZE, size))

    def _financial_statuses(self) -> set[str]:
        value = self.setup.get("financial_statuses") or []
        if isinstance(value, str):
            value = value.split(",")
        return {str(v).strip() for v in value if str(v).strip()}

    # --- shipments ---------------------------------------------------------------------------

    def upload_shipment(self, shipment: CartShipment) -> str:
        order_id = shipment.order_external_id.strip()
        what = f"order {shipment.order_number or order_id}"
        if not order_id.isdigit():
            raise AdapterError(
                f"{what}: {order_id!r} is not a Shopify order id; the order did not come "
                "from this shop.",
                permanent=True,
            )
        number = shipment.tracking_number.strip()
        doing = f"uploading tracking {number} of {what}"
        fulfilled = self._get_order_list(
            f"orders/{order_id}/fulfillments.json",
            "fulfillments",
            what,
            doing,
            params={"limit": MAX_PAGE_SIZE},
        )
        done = [
            f
            for f in fulfilled
            if f.get("status") not in VOID_FULFILLMENT
            and number in (f.get("tracking_numbers") or [f.get("tracking_number")])
        ]
        # Lines already fulfilled under this tracking number (an earlier, interrupted upload).
        already: dict[int, int] = defaultdict(int)
        for f in done:
            for line in f.get("line_items") or []:
                if isinstance(line.get("id"), int) and isinstance(line.get("quantity"), int):
                    already[line["id"]] += line["quantity"]
        wanted = self._wanted_lines(order_id, shipment, already, what, doing)
        for line_id, quantity in list(wanted.items()):
            taken = min(quantity, already[line_id])
            already[line_id] -= taken
            wanted[line_id] = quantity - taken
        wanted = {k: v for k, v in wanted.items() if v > 0}
        references = [str(f["id"]) for f in done]
        if not wanted:
            if references:
                return ",".join(references)
            raise AdapterError(
                f"{what}: package {number} lists no items to fulfil in Shopify.", permanent=True
            )
        fulfillment_orders = self._get_order_list(
            f"orders/{order_id}/fulfillment_orders.json", "fulfillment_orders", what, doing
        )
        for location_groups in self._plan(fulfillment_orders, wanted, what, number):
            body = fulfillment_body(
                groups=location_groups,
                tracking_number=number,
                carrier=shipment.carrier,
                notify_customer=bool(self.setup.get("notify_customer")),
            )
            response = self.client.post("fulfillments.json", json=body, allow=(422,), doing=doing)
            if response.status_code == 422:
                raise AdapterError(
                    f"Shopify refused tracking {number} for {what}: {error_text(response)}. "
                    "Check the order's fulfillment in Shopify, then resend the tracking.",
                    permanent=True,
                )
            created = self.client.json(response, doing).get("fulfillment") or {}
            references.append(str(created.get("id", "")))
        return ",".join(references)

    def _get_order_list(
        self, path: str, key: str, what: str, doing: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return one of an order's lists (fulfillments, fulfillment orders)."""
        response = self.client.get(path, params=params, allow=(404,), doing=doing)
        if response.status_code == 404:
            raise AdapterError(
                f"Shopify has no {what} (deleted, or older than 60 days without the "
                "read_all_orders scope): the tracking was not uploaded.",
                permanent=True,
            )
        items = self.client.json(response, doing).get(key)
        if not isinstance(items, list):
            raise AdapterError(f"Shopify answered {doing} without {key}.", permanent=True)
        return items

    def _wanted_lines(
        self,
        order_id: str,
        shipment: CartShipment,
        already: Mapping[int, int],
        what: str,
        doing: str,
    ) -> dict[int, int]:
        """Return order line id → quantity for the package; items without a line id by SKU.

        A SKU goes to the order's lines with that SKU that still have room, counting what an
        earlier upload of this package (`already`) fulfilled as room of its own.
        """
        wanted: dict[int, int] = defaultdict(int)
        by_sku = [
            item
            for item in shipment.items
            if not item.line_id.strip().isdigit() and item.quantity > 0
        ]
        for item in shipment.items:
            if item.line_id.strip().isdigit() and item.quantity > 0:
                wanted[int(item.line_id)] += item.quantity
        if not by_sku:
            return wanted
        response = self.client.get(
            f"orders/{order_id}.json", params={"fields": "id,line_items"}, doing=doing
        )
        lines = (self.client.json(response, doing).get("order") or {}).get("line_items") or []
        for item in by_sku:
            left = item.quantity
            for line in lines:
                if left <= 0:
                    break
                if (line.get("sku") or "").strip() != item.sku.strip() or not item.sku.strip():
                    continue
                room = (
                    int(line.get("fulfillable_quantity") or 0)
                    + already.get(line["id"], 0)
                    - wanted.get(line["id"], 0)
                )
                take = min(left, max(0, room))
                if take:
                    wanted[int(line["id"])] += take
                    left -= take
            if left > 0:
                raise AdapterError(
                    f"{what}: Shopify has no line left to fulfil for {left} of SKU "
                    f"{item.sku or '(blank)'} of package {shipment.tracking_number}; it may "
                    "have been fulfilled, refunded or changed in Shopify. The tracking was not "
                    "uploaded.",
                    permanent=True,
                )
        return wanted

    def _plan(
        self,
        fulfillment_orders: list[dict[str, Any]],
        wanted: dict[int, int],
        what: str,
        number: str,
    ) -> list[list[dict[str, Any]]]:
        """Return, per location, the line_items_by_fulfillment_order groups of the package.

        Order lines are placed on the fulfillment-order lines (own ids) that still have a
        fulfillable quantity; one fulfillment per location, as Shopify requires.
        """
        by_location: dict[Any, dict[int, list[dict[str, int]]]] = defaultdict(dict)
        left = dict(wanted)
        for fo in fulfillment_orders:
            if fo.get("status") not in OPEN_FULFILLMENT_ORDER:
                continue
            for fo_line in fo.get("line_items") or []:
                line_id = fo_line.get("line_item_id")
                room = int(fo_line.get("fulfillable_quantity") or 0)
                take = min(left.get(line_id, 0), room)
                if take <= 0:
                    continue
                left[line_id] -= take
                groups = by_location[fo.get("assigned_location_id")]
                groups.setdefault(fo["id"], []).append({"id": fo_line["id"], "quantity": take})
        short = {line_id: n for line_id, n in left.items() if n > 0}
        if short:
            listed = ", ".join(f"{n} of line {line_id}" for line_id, n in sorted(short.items()))
            raise AdapterError(
                f"{what}: Shopify has nothing left to fulfil for {listed} of package {number} "
                "(the order may be cancelled, refunded, or fulfilled by someone else). The "
                "tracking was not uploaded; check the order in Shopify.",
                permanent=True,
            )
        return [
            [
                {"fulfillment_order_id": fo_id, "fulfillment_order_line_items": lines}
                for fo_id, lines in groups.items()
            ]
            for groups in by_location.values()
        ]

    # --- inventory ---------------------------------------------------------------------------

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        index = self._sku_index()
        locations = self._inventory_locations()
        results = []
        for level in levels:
            sku = level.sku.strip()
            items = index.get(sku)
            if not items:
                results.append(
                    ItemResult(
                        sku=level.sku,
                        ok=False,
                        error=f"No Shopify product variant has SKU {sku!r}: add the SKU to the "
                        "variant in Shopify, or send the alias the shop uses.",
                    )
                )
                continue
            errors = []
            for item in items:
                for location in locations:
                    response = self.client.post(
                        "inventory_levels/set.json",
                        json={
                            "location_id": location["id"],
                            "inventory_item_id": item,
                            "available": level.quantity,
                        },
                        allow=(404, 422),
                        doing=f"setting the stock of {sku}",
                    )
                    if response.status_code in (404, 422):
                        errors.append(
                            f"at {location.get('name') or location['id']}: {error_text(response)}"
                        )
            results.append(
                ItemResult(
                    sku=level.sku,
                    ok=not errors,
                    error=f"Shopify refused the stock of {sku} {'; '.join(errors)}"
                    if errors
                    else "",
                )
            )
        return results

    def _sku_index(self) -> dict[str, list[int]]:
        """Return SKU → inventory item ids, walking products.json once per adapter.

        Shopify's REST API has no variant-by-SKU filter, so the catalogue is read page by page
        (only ids and variants) and kept for the rest of this adapter's run.
        """
        if self._skus is None:
            index: dict[str, list[int]] = {}
            params = {"limit": MAX_PAGE_SIZE, "fields": "id,variants"}
            for page in self.client.pages(
                "products.json", "products", params, doing="reading products"
            ):
                for sku, items in sku_index(page).items():
                    index.setdefault(sku, []).extend(items)
            self._skus = index
        return self._skus

    def _inventory_locations(self) -> list[dict[str, Any]]:
        """Return the locations stock is set at, as the setup chooses; cached."""
        if self._locations is not None:
            return self._locations
        response = self.client.get("locations.json", doing="reading locations")
        found = self.client.json(response, "reading locations").get("locations") or []
        active = [loc for loc in found if isinstance(loc, dict) and loc.get("active", True)]
        choice = str(self.setup.get("inventory_location") or "").strip()
        if not active:
            raise AdapterError(
                f"Shopify shop {self.client.host} has no active location to hold stock: "
                "activate one in Shopify.",
                permanent=True,
            )
        if not choice or choice.lower() == "first":
            chosen = active[:1]
        elif choice.lower() == "all":
            chosen = active
        else:
            by_id = {str(loc["id"]): loc for loc in active}
            wanted = [part.strip() for part in choice.split(",") if part.strip()]
            unknown = [part for part in wanted if part not in by_id]
            if unknown:
                known = ", ".join(f"{loc['id']} ({loc.get('name', '')})" for loc in active)
                raise AdapterError(
                    f"Stock location {', '.join(unknown)} in the cart setup is not an active "
                    f"location of {self.client.host}: choose one of {known}, 'all' or blank.",
                    permanent=True,
                )
            chosen = [by_id[part] for part in wanted]
        self._locations = chosen
        return chosen

    # --- webhooks ----------------------------------------------------------------------------

    def register_webhooks(self, address: str) -> list[str]:
        response = self.client.get(
            "webhooks.json", params={"address": address}, doing="reading webhooks"
        )
        existing = self.client.json(response, "reading webhooks").get("webhooks") or []
        subscribed = {w.get("topic") for w in existing if w.get("address") == address}
        for topic in WEBHOOK_TOPICS:
            if topic in subscribed:
                continue
            created = self.client.post(
                "webhooks.json",
                json={"webhook": {"topic": topic, "address": address, "format": "json"}},
                allow=(422,),
                doing=f"subscribing to {topic}",
            )
            if created.status_code == 422 and "already been taken" not in error_text(created):
                raise AdapterError(
                    f"Shopify refused the {topic} webhook to {address}: {error_text(created)}.",
                    permanent=True,
                )
        return list(WEBHOOK_TOPICS)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        named = {str(k).lower(): str(v) for k, v in headers.items()}
        secret = str(self.credentials.get("webhook_secret") or "")
        if not secret:
            raise AuthError(
                "The Shopify cart has no API secret key, so its webhooks cannot be verified: "
                "enter the custom app's API secret key."
            )
        given = named.get("x-shopify-hmac-sha256", "").strip().encode("utf-8", "replace")
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if not given or not hmac.compare_digest(given, expected):
            raise AuthError(
                "The webhook's X-Shopify-Hmac-Sha256 signature does not match: it was not sent "
                "by this shop, or the cart's API secret key is not the app's current one."
            )
        refuse_stale_webhook(_iso_or_none(named.get("x-shopify-triggered-at")), "Shopify")
        event_id = named.get("x-shopify-webhook-id") or named.get("x-shopify-event-id") or ""
        topic = named.get("x-shopify-topic", "")
        try:
            payload = json.loads(body)
        except ValueError:
            raise BadPayload("The Shopify webhook body is not JSON.") from None
        if not event_id or not isinstance(payload, dict):
            raise BadPayload("The Shopify webhook has no X-Shopify-Webhook-Id or no JSON object.")
        order_id = payload.get("id") if topic.startswith("orders/") else payload.get("order_id")
        return WebhookNotice(
            event_id=event_id,
            topic=topic,
            order_external_ids=[str(order_id)] if order_id else [],
        )


def _iso_or_none(value: str | None) -> datetime | None:
    """Return an ISO-8601 timestamp as a datetime, or None when it is missing or unreadable."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
