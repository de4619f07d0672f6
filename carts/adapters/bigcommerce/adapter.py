"""BigCommerce: V2 orders and shipments, V3 inventory adjustments and webhooks.

Webhooks: BigCommerce does not sign its callbacks; it sends back the custom headers given
when the hook was registered. The hub registers its hooks with a secret header
(`X-Cartrover-Webhook-Secret`) and refuses callbacks without it. BigCommerce sends no
delivery id either, so a callback's event id is built from what identifies it: the scope, the
resource id, `created_at` and the body's `hash` (a re-delivery repeats all four).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
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
    WebhookNotice,
)
from carts.adapters.base import CartAdapter, refuse_stale_webhook
from carts.adapters.bigcommerce import mappers
from carts.adapters.bigcommerce.client import (
    DEFAULT_API,
    MAX_PAGE_LIMIT,
    BigCommerceClient,
    NotFound,
    UnprocessableItems,
)

WEBHOOK_HEADER = "X-Cartrover-Webhook-Secret"
WEBHOOK_SCOPES = ("store/order/created", "store/order/updated", "store/order/statusUpdated")
MAX_ADJUSTMENT_ITEMS = 2000
MAX_TRACKING_LENGTH = 50
STATUS_CHOICES = (
    ("11", "Awaiting Fulfillment"),
    ("9", "Awaiting Shipment"),
    ("14", "Partially Refunded"),
    ("8", "Awaiting Pickup"),
)


class BigCommerceAdapter(CartAdapter):
    kind = "bigcommerce"
    label = "BigCommerce"
    capabilities = frozenset({"orders", "shipments", "inventory", "webhooks", "cancellations"})
    credential_fields = [
        FieldSpec(
            "api_base",
            "API address",
            type="url",
            default=DEFAULT_API,
            help="Leave as it is unless you test against a sandbox.",
        ),
        FieldSpec(
            "store_hash",
            "Store hash",
            required=True,
            help="The part after /stores/ in the API path shown with the API account.",
        ),
        FieldSpec(
            "access_token",
            "Access token",
            type="password",
            required=True,
            secret=True,
            help="The X-Auth-Token of a store API account with the scopes Orders (modify), "
            "Products (modify) and Information & settings (read only).",
        ),
        FieldSpec(
            "webhook_secret",
            "Webhook secret",
            type="password",
            secret=True,
            help="Any long random value: BigCommerce sends it back with every webhook, which "
            "proves the webhook came from your store.",
        ),
    ]
    setup_fields = [
        FieldSpec(
            "status_ids",
            "Download orders in these statuses",
            type="multichoice",
            default=["11"],
            choices=STATUS_CHOICES,
            help="Paid orders wait in Awaiting Fulfillment. Cancelled, refunded and declined "
            "orders are always read, to cancel them in the hub.",
        ),
        FieldSpec("page_limit", "Orders per page", type="int", default=50, help="At most 250."),
        FieldSpec(
            "lookback_days",
            "First download: days back",
            type="int",
            default=30,
        ),
        FieldSpec(
            "shipping_providers",
            "Shipping providers",
            type="textarea",
            default="",
            help="One 'Carrier name=provider' per line, e.g. UPS=ups, FedEx=fedex, USPS=usps. "
            "Carriers not listed are sent as a custom provider with the carrier's name.",
        ),
        FieldSpec("location_id", "Inventory location id", type="int", default=1),
    ]

    # --- plumbing ---------------------------------------------------------------------------

    def _client(self) -> BigCommerceClient:
        return BigCommerceClient(
            name=self.connection_key,
            store_hash=str(self.credentials.get("store_hash") or ""),
            access_token=str(self.credentials.get("access_token") or ""),
            api_base=str(self.credentials.get("api_base") or DEFAULT_API),
            extra_secrets=(str(self.credentials.get("webhook_secret") or ""),),
        )

    def _page_limit(self) -> int:
        try:
            limit = int(self.setup.get("page_limit") or 50)
        except (TypeError, ValueError):
            limit = 50
        return max(1, min(limit, MAX_PAGE_LIMIT))

    def _status_ids(self) -> list[int]:
        value = self.setup.get("status_ids") or ["11"]
        if isinstance(value, str | int):
            value = str(value).split(",")
        wanted = []
        for item in value:
            try:
                status_id = int(str(item).strip())
            except ValueError:
                continue
            if status_id not in wanted and status_id not in mappers.CANCELED_STATUSES:
                wanted.append(status_id)
        return wanted or [11]

    def _location_id(self) -> int:
        try:
            return int(self.setup.get("location_id") or 1)
        except (TypeError, ValueError):
            raise AdapterError(
                f"{self.connection_key}: the inventory location id "
                f"{self.setup.get('location_id')!r} is not a number.",
                permanent=True,
            ) from None

    # --- connection -------------------------------------------------------------------------

    def test_connection(self) -> str:
        client = self._client()
        try:
            response = client.call("GET", "v2/orders/count", what="count the store's orders")
            body = client.json(response, "count the store's orders") or {}
            count = body.get("count") if isinstance(body, Mapping) else None
            locations: dict[int | None, str] = {}
            for page in client.v3_pages(
                "v3/inventory/locations", what="list the inventory locations"
            ):
                for location in page:
                    if isinstance(location, Mapping):
                        try:
                            key = mappers.optional_int(location.get("id"), "location id")
                        except mappers.Unreadable:
                            continue
                        locations[key] = str(location.get("label") or "")
        finally:
            client.close()
        location_id = self._location_id()
        if location_id not in locations:
            known = ", ".join(f"{k} ({v})" for k, v in locations.items()) or "none"
            raise AdapterError(
                f"{self.connection_key}: BigCommerce store {client.store_hash} has no inventory "
                f"location {location_id}: set the inventory location id to one of: {known}.",
                permanent=True,
            )
        return (
            f"Connected to BigCommerce store {client.store_hash}"
            f"{f' ({count} orders)' if count is not None else ''}; stock goes to location "
            f"{location_id} ({locations[location_id]})."
        )

    # --- orders -----------------------------------------------------------------------------

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        """Yield orders of the configured statuses, then cancelled/refunded/declined ones.

        One request sequence per status, sorted by date_modified; each order costs two more
        requests (its products and its shipping addresses). An order seen twice (its status
        changed while paging) is yielded once.
        """
        if since is None:
            days = int(self.setup.get("lookback_days") or 30)
            since = datetime.now(UTC) - timedelta(days=days)
        limit = self._page_limit()
        client = self._client()
        seen: set[str] = set()
        try:
            for status_id in [*self._status_ids(), *sorted(mappers.CANCELED_STATUSES)]:
                params = {
                    "status_id": status_id,
                    "min_date_modified": mappers.format_date(since),
                    "sort": "date_modified:asc",
                }
                for page in client.pages(
                    "v2/orders", params=params, limit=limit, what="download orders"
                ):
                    for order in page:
                        key = str(order.get("id")) if isinstance(order, Mapping) else ""
                        if key and key in seen:
                            continue
                        seen.add(key)
                        yield self._read_order(client, order, limit)
        finally:
            client.close()

    def _read_order(
        self, client: BigCommerceClient, order: Any, limit: int
    ) -> CartOrder | BadPayload:
        if not isinstance(order, Mapping):
            return BadPayload("BigCommerce sent an order that is not an object.", raw=order)
        try:
            order_id = mappers.as_int(order.get("id"), "id")
        except mappers.Unreadable as error:
            return BadPayload(
                f"BigCommerce sent an order without a readable id: {error}.",
                external_id=mappers.text(order.get("id")),
                raw=dict(order),
            )
        gone = f"BigCommerce order {order_id} disappeared while it was being downloaded"
        try:
            products = [
                line
                for page in client.pages(
                    f"v2/orders/{order_id}/products",
                    limit=limit,
                    what=f"read the lines of order {order_id}",
                    not_found=gone,
                )
                for line in page
            ]
            addresses = [
                address
                for page in client.pages(
                    f"v2/orders/{order_id}/shipping_addresses",
                    limit=MAX_PAGE_LIMIT,
                    what=f"read the shipping addresses of order {order_id}",
                    not_found=gone,
                )
                for address in page
            ]
        except NotFound as error:
            return BadPayload(error.message, external_id=str(order_id), raw={"order": order})
        return mappers.order_from_wire(order, products, addresses)

    # --- shipments --------------------------------------------------------------------------

    def upload_shipment(self, shipment: CartShipment) -> str:
        """Post the package, once per shipping address its lines go to; skip what exists.

        Items name their line by `line_id` (BigCommerce's order_product_id), else by SKU.
        BigCommerce refuses a shipment mixing lines of two addresses, so a package holding
        both becomes one shipment per address with the same tracking number.
        """
        tracking = shipment.tracking_number.strip()
        try:
            order_id = mappers.as_int(shipment.order_external_id, "order id")
        except mappers.Unreadable:
            raise AdapterError(
                f"{self.connection_key}: {shipment.order_external_id!r} is not a BigCommerce "
                "order id; was the order downloaded from another cart?",
                permanent=True,
            ) from None
        where = f"order {order_id}"
        if len(tracking) > MAX_TRACKING_LENGTH:
            raise AdapterError(
                f"{self.connection_key}: tracking number {tracking!r} of {where} is longer than "
                f"the {MAX_TRACKING_LENGTH} characters BigCommerce takes; enter it by hand.",
                permanent=True,
            )
        client = self._client()
        try:
            missing = f"BigCommerce has no {where}: was it deleted?"
            existing = [
                found
                for page in client.pages(
                    f"v2/orders/{order_id}/shipments",
                    limit=MAX_PAGE_LIMIT,
                    what=f"list the shipments of {where}",
                    not_found=missing,
                )
                for found in page
            ]
            done = {
                (
                    mappers.text(s.get("tracking_number")),
                    mappers.text(s.get("order_address_id")),
                ): mappers.text(s.get("id"))
                for s in existing
                if isinstance(s, Mapping)
            }
            products = [
                line
                for page in client.pages(
                    f"v2/orders/{order_id}/products",
                    limit=MAX_PAGE_LIMIT,
                    what=f"read the lines of {where}",
                    not_found=missing,
                )
                for line in page
            ]
            groups = self._allocate(shipment, products, where)
            providers = mappers.parse_provider_map(self.setup.get("shipping_providers"))
            references = [ref for (number, _), ref in done.items() if number == tracking]
            if not groups and not references:
                raise AdapterError(
                    f"{self.connection_key}: BigCommerce {where} has nothing left to ship "
                    f"(shipped or refunded already); tracking {tracking} was not added.",
                    permanent=True,
                )
            for address_id, items in groups.items():
                if (tracking, str(address_id)) in done:
                    continue
                body = mappers.shipment_body(
                    address_id=address_id,
                    items=items,
                    tracking_number=tracking,
                    carrier=shipment.carrier,
                    service=shipment.service,
                    providers=providers,
                )
                response = client.call(
                    "POST",
                    f"v2/orders/{order_id}/shipments",
                    json=body,
                    what=f"add tracking {tracking} to {where}",
                    not_found=missing,
                )
                created = client.json(response, f"add tracking {tracking} to {where}")
                if isinstance(created, Mapping):
                    references.append(mappers.text(created.get("id")))
        finally:
            client.close()
        return ",".join(references)

    def _allocate(
        self, shipment: CartShipment, products: list[Any], where: str
    ) -> dict[int, list[tuple[int, int]]]:
        """Return address id -> [(order_product_id, quantity)] for the package's items.

        Quantities are capped at what is left to ship (ordered minus refunded minus
        shipped), so a refund after packing does not make BigCommerce refuse the package;
        lines with nothing left (shipped by an earlier try of this package) are left out.
        """
        try:
            lines = mappers.kept_lines(products)
            room = {
                mappers.as_int(p.get("id"), "line id"): mappers.shippable_quantity(p) for p in lines
            }
            address_of = {
                mappers.as_int(p.get("id"), "line id"): mappers.optional_int(
                    p.get("order_address_id"), "order_address_id"
                )
                for p in lines
            }
        except mappers.Unreadable as error:
            raise AdapterError(
                f"{self.connection_key}: the lines of BigCommerce {where} cannot be read: {error}.",
                permanent=True,
            ) from None
        by_sku: dict[str, list[int]] = {}
        for p in lines:
            sku = mappers.text(p.get("sku")).strip()
            if sku:
                by_sku.setdefault(sku, []).append(mappers.as_int(p.get("id"), "line id"))
        wanted: dict[int, int] = {}
        unknown = []
        for item in shipment.items:
            quantity = item.quantity
            candidates: list[int] = []
            line_id = int(item.line_id) if item.line_id.strip().isdigit() else None
            if line_id is not None and line_id in room:
                candidates = [line_id]
            elif item.sku.strip() in by_sku:
                candidates = by_sku[item.sku.strip()]
            else:
                unknown.append(item.sku or item.line_id)
                continue
            for candidate in candidates:
                take = min(quantity, room[candidate])
                if take > 0:
                    wanted[candidate] = wanted.get(candidate, 0) + take
                    room[candidate] -= take
                    quantity -= take
                if quantity == 0:
                    break
        if unknown:
            raise AdapterError(
                f"{self.connection_key}: BigCommerce {where} has no line for "
                f"{', '.join(sorted(set(unknown)))}; upload the tracking by hand.",
                permanent=True,
            )
        groups: dict[int, list[tuple[int, int]]] = {}
        for line, quantity in wanted.items():
            address_id = address_of.get(line)
            if address_id is None:
                continue
            groups.setdefault(address_id, []).append((line, quantity))
        return groups

    # --- inventory --------------------------------------------------------------------------

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        """Set absolute stock per SKU at the configured location, 2000 SKUs a request.

        A 422 naming items (unknown SKU, stock not tracked) fails those items and the rest
        is sent again without them.
        """
        location_id = self._location_id()
        quantities: dict[str, int] = {}
        for level in levels:
            sku = level.sku.strip()
            if sku:
                quantities[sku] = max(0, int(level.quantity))
        failed: dict[str, str] = {level.sku: "No SKU." for level in levels if not level.sku.strip()}
        skus = list(quantities)
        client = self._client()
        try:
            for start in range(0, len(skus), MAX_ADJUSTMENT_ITEMS):
                self._adjust(
                    client,
                    skus[start : start + MAX_ADJUSTMENT_ITEMS],
                    quantities,
                    location_id,
                    failed,
                )
        finally:
            client.close()
        results = [
            ItemResult(sku=sku, ok=sku not in failed, error=failed.get(sku, "")) for sku in skus
        ]
        results += [
            ItemResult(sku=sku, ok=False, error=err)
            for sku, err in failed.items()
            if sku not in quantities
        ]
        return results

    def _adjust(
        self,
        client: BigCommerceClient,
        skus: list[str],
        quantities: Mapping[str, int],
        location_id: int,
        failed: dict[str, str],
    ) -> None:
        pending = list(skus)
        # Each refusal removes at least one SKU, so this ends.
        while pending:
            body = {
                "reason": "Stock from the warehouse",
                "items": [
                    {"location_id": location_id, "sku": sku, "quantity": quantities[sku]}
                    for sku in pending
                ],
            }
            try:
                client.call(
                    "PUT",
                    "v3/inventory/adjustments/absolute",
                    json=body,
                    what="set the stock",
                )
                return
            except UnprocessableItems as refusal:
                refused = self._refused_items(refusal, pending, location_id)
            for index, message in refused.items():
                failed[pending[index]] = message
            pending = [sku for i, sku in enumerate(pending) if i not in refused]

    def _refused_items(
        self, refusal: UnprocessableItems, pending: list[str], location_id: int
    ) -> dict[int, str]:
        refused: dict[int, str] = {}
        for field, message in refusal.errors.items():
            parts = field.split(".")
            if len(parts) >= 2 and parts[0] == "items" and parts[1].isdigit():
                if parts[2:] == ["location_id"]:
                    raise AdapterError(
                        f"{self.connection_key}: BigCommerce has no inventory location "
                        f"{location_id}: {message} Set the cart's inventory location id.",
                        permanent=True,
                    )
                index = int(parts[1])
                if index < len(pending):
                    refused[index] = f"BigCommerce refused it: {message}"
        if not refused:
            raise AdapterError(refusal.message, permanent=True)
        return refused

    # --- webhooks ---------------------------------------------------------------------------

    def _webhook_secret(self) -> str:
        secret = str(self.credentials.get("webhook_secret") or "")
        if not secret:
            raise AuthError(
                f"{self.connection_key}: no webhook secret is set for this BigCommerce cart: "
                "enter one in the cart's credentials, then register the webhooks again."
            )
        return secret

    def register_webhooks(self, address: str) -> list[str]:
        """Create (or repair) one active hook per order scope pointing at `address`."""
        secret = self._webhook_secret()
        client = self._client()
        try:
            hooks = [
                hook
                for page in client.v3_pages("v3/hooks", what="list the webhooks")
                for hook in page
                if isinstance(hook, Mapping) and hook.get("destination") == address
            ]
            for scope in WEBHOOK_SCOPES:
                mine = [h for h in hooks if h.get("scope") == scope]
                wanted_headers = {WEBHOOK_HEADER: secret}
                if any(
                    h.get("is_active") and (h.get("headers") or {}) == wanted_headers for h in mine
                ):
                    continue
                if mine:
                    client.call(
                        "PUT",
                        f"v3/hooks/{mappers.as_int(mine[0].get('id'), 'hook id')}",
                        json={"is_active": True, "headers": wanted_headers},
                        what=f"update the {scope} webhook",
                    )
                    continue
                client.call(
                    "POST",
                    "v3/hooks",
                    json={
                        "scope": scope,
                        "destination": address,
                        "is_active": True,
                        "headers": wanted_headers,
                    },
                    what=f"create the {scope} webhook",
                )
        finally:
            client.close()
        return list(WEBHOOK_SCOPES)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        secret = self._webhook_secret()
        wanted = WEBHOOK_HEADER.lower()
        given = next((str(v) for k, v in headers.items() if k.lower() == wanted), "")
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            raise AuthError(
                "The webhook does not carry this cart's secret: it was not sent by "
                "the store's registered hook."
            )
        try:
            payload = json.loads(body)
            sent = payload.get("created_at")
            sent_at = datetime.fromtimestamp(sent, UTC) if isinstance(sent, int) else None
            scope = str(payload["scope"])
            data = payload.get("data") or {}
            resource_id = mappers.text(data.get("id"))
            fingerprint = payload.get("hash") or hashlib.sha256(body).hexdigest()
            event_id = f"{scope}:{resource_id}:{payload.get('created_at', '')}:{fingerprint}"
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
            raise AdapterError(
                "The webhook body is not a BigCommerce callback (JSON with scope and data).",
                permanent=True,
            ) from None
        refuse_stale_webhook(sent_at, "BigCommerce")
        is_order = scope.startswith("store/order/") and data.get("type", "order") == "order"
        return WebhookNotice(
            event_id=event_id,
            topic=scope,
            order_external_ids=[resource_id] if is_order and resource_id else [],
        )
