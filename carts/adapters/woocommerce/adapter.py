"""The WooCommerce cart adapter: REST API v3 with consumer key and secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cartrover.adapters import (
    PING_TOPIC,
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
from carts.adapters.base import CartAdapter
from carts.adapters.woocommerce import mappers
from carts.adapters.woocommerce.client import (
    API,
    MAX_BATCH,
    MAX_PER_PAGE,
    WooCommerceClient,
    WooCommerceError,
)

# A download that needs more requests than this is cut short (orders changing faster than read).
MAX_REQUESTS = 10_000
WEBHOOK_TOPICS = ("order.created", "order.updated")
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
# Always downloaded besides the chosen statuses, so the hub learns of cancellations.
CANCELED_STATUSES = ("cancelled", "refunded", "failed")
ORDER_STATUSES = frozenset(
    {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed"}
)
NO_TRACKING_EXTENSION = (
    "WooCommerce at {url} has no Shipment Tracking extension at /wp-json/{namespace}/ "
    "(404 rest_no_route): install and activate the extension, correct its API namespace in the "
    "cart's setup, or turn off 'Use the Shipment Tracking extension'."
)


class WooCommerceAdapter(CartAdapter):
    kind = "woocommerce"
    label = "WooCommerce"
    capabilities = frozenset({"orders", "shipments", "inventory", "webhooks", "cancellations"})
    credential_fields = [
        FieldSpec(
            "store_url",
            "Store URL",
            type="url",
            required=True,
            help="The WordPress site's address, such as https://shop.example.com.",
        ),
        FieldSpec(
            "consumer_key",
            "Consumer key",
            required=True,
            help="WooCommerce > Settings > Advanced > REST API: a key with Read/Write permission.",
        ),
        FieldSpec(
            "consumer_secret", "Consumer secret", type="password", required=True, secret=True
        ),
        FieldSpec(
            "webhook_secret",
            "Webhook secret",
            type="password",
            secret=True,
            help="Any long random text; the hub gives it to the webhooks it creates and checks "
            "their signatures with it.",
        ),
    ]
    setup_fields = [
        FieldSpec(
            "statuses",
            "Order statuses to download",
            default="processing",
            help="Comma-separated, such as processing,on-hold. Cancelled, refunded and failed "
            "orders are always read, to cancel them in the hub.",
        ),
        FieldSpec(
            "per_page", "Orders per page", type="int", default=MAX_PER_PAGE, help="1 to 100."
        ),
        FieldSpec(
            "lookback_days",
            "First download: days back",
            type="int",
            default=30,
            help="How far back the first download reads when no earliest order date is set.",
        ),
        FieldSpec(
            "complete_orders",
            "Mark orders completed when shipped",
            type="bool",
            default=True,
            help="Once every line has shipped; WooCommerce emails the buyer.",
        ),
        FieldSpec(
            "note_to_customer",
            "Tracking note visible to the buyer",
            type="bool",
            default=True,
            help="A customer note is emailed to the buyer; otherwise it is a private note.",
        ),
        FieldSpec(
            "tracking_extension",
            "Use the Shipment Tracking extension",
            type="bool",
            default=False,
            help="Adds each tracking number to the order through the extension's REST API.",
        ),
        FieldSpec(
            "tracking_namespace",
            "Shipment Tracking API namespace",
            default="wc-shipment-tracking/v3",
            help="Under /wp-json/; some tracking plugins use another, such as wc-ast/v3.",
        ),
    ]

    def __init__(
        self, *, credentials: Mapping[str, Any], setup: Mapping[str, Any], connection_key: str
    ) -> None:
        super().__init__(credentials=credentials, setup=setup, connection_key=connection_key)
        self._client: WooCommerceClient | None = None
        self._products: dict[str, dict[str, Any] | None] = {}
        self._providers: dict[str, str] | None = None

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def client(self) -> WooCommerceClient:
        if self._client is None:
            store_url = str(self.credentials.get("store_url") or "").strip()
            if not store_url:
                raise AdapterError(
                    "Enter the WooCommerce store URL, such as https://shop.example.com.",
                    permanent=True,
                )
            key = str(self.credentials.get("consumer_key") or "")
            secret = str(self.credentials.get("consumer_secret") or "")
            if not key or not secret:
                raise AuthError(
                    "WooCommerce needs a consumer key and secret: create a REST API key in "
                    "WooCommerce > Settings > Advanced > REST API and enter both."
                )
            self._client = WooCommerceClient(
                store_url=store_url,
                consumer_key=key,
                consumer_secret=secret,
                connection_key=self.connection_key,
                secrets=[str(self.credentials.get("webhook_secret") or "")],
            )
        return self._client

    @property
    def store_url(self) -> str:
        return self.client.store_url

    @property
    def namespace(self) -> str:
        return str(self.setup.get("tracking_namespace") or "wc-shipment-tracking/v3").strip("/")

    def _statuses(self) -> list[str]:
        chosen = [
            s.strip().lower()
            for s in str(self.setup.get("statuses") or "processing").split(",")
            if s.strip()
        ]
        unknown = [s for s in chosen if s not in ORDER_STATUSES]
        if unknown:
            raise AdapterError(
                f"WooCommerce has no order status {', '.join(unknown)}: choose among "
                f"{', '.join(sorted(ORDER_STATUSES))} in the cart's setup.",
                permanent=True,
            )
        return list(dict.fromkeys([*chosen, *CANCELED_STATUSES]))

    def _per_page(self) -> int:
        try:
            return max(1, min(int(self.setup.get("per_page") or MAX_PER_PAGE), MAX_PER_PAGE))
        except (TypeError, ValueError):
            return MAX_PER_PAGE

    def _tracking_missing(self, exc: WooCommerceError) -> bool:
        return exc.status == 404 and exc.code in ("rest_no_route", "")

    # --- connection ---------------------------------------------------------------------------

    def test_connection(self) -> str:
        try:
            response = self.client.request("GET", f"{API}/orders", params={"per_page": 1})
        except WooCommerceError as exc:
            if exc.status == 404:
                raise AdapterError(
                    f"{self.store_url} has no WooCommerce REST API at /wp-json/{API}/: check "
                    "that the store URL is the WordPress site's address, that WooCommerce is "
                    "active and that permalinks are not set to 'Plain'.",
                    permanent=True,
                ) from None
            raise
        if not isinstance(self.client.json_of(response), list):
            raise AdapterError(
                f"{self.store_url}/wp-json/{API}/orders did not answer with a list of orders: "
                "check that the store URL is the WordPress site's address.",
                permanent=True,
            )
        total = response.headers.get("X-WP-Total", "?")
        found = f"Connected to WooCommerce at {self.store_url} ({total} orders)"
        if self.setup.get("tracking_extension"):
            self._provider_names()
            found += f", Shipment Tracking extension found at /wp-json/{self.namespace}/"
        return found + "."

    # --- orders -------------------------------------------------------------------------------

    def fetch_orders(self, since: datetime | None) -> Iterator[CartOrder | BadPayload]:
        """Yield orders modified at or after `since`, oldest change first.

        Pages are read by modification time rather than by page number alone: an order changed
        while we page moves to the end of the list and would shift the next page's first order
        onto a page already read. Each request asks again from just before the newest change
        seen, skipping orders already yielded; page numbers only advance within one second
        shared by more orders than a page holds.
        """
        if since is None:
            days = int(self.setup.get("lookback_days") or 30)
            since = datetime.now(UTC) - timedelta(days=days)
        per_page = self._per_page()
        statuses = ",".join(self._statuses())
        # modified_after is exclusive and to the second: start one second earlier.
        after = mappers.format_gmt(since - timedelta(seconds=1))
        page = 1
        seen: set[str] = set()
        for _ in range(MAX_REQUESTS):
            params = {
                "status": statuses,
                "modified_after": after,
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
                "page": page,
                "per_page": per_page,
            }
            items = self.client.get(f"{API}/orders", params=params)
            if not isinstance(items, list):
                raise AdapterError(
                    f"WooCommerce at {self.store_url} answered the order list with something "
                    "other than a list: is the store URL the WordPress site's address?",
                    permanent=True,
                )
            newest = after
            for raw in items:
                item = mappers.order_from_wire(raw)
                modified = _modified_gmt(raw)
                if modified is not None and modified > newest:
                    newest = modified
                if item.external_id and item.external_id in seen:
                    continue
                seen.add(item.external_id)
                yield item
            if len(items) < per_page:
                return
            next_after = _one_second_before(newest)
            if next_after > after:
                after, page = next_after, 1
            else:
                page += 1
        raise TransientError(
            f"WooCommerce at {self.store_url}: orders kept changing while they were read "
            f"({MAX_REQUESTS} pages); the next download goes on from here."
        )

    # --- shipments ----------------------------------------------------------------------------

    def upload_shipment(self, shipment: CartShipment) -> str:
        order_path = f"{API}/orders/{shipment.order_external_id}"
        order = self._order(order_path, shipment)
        reference = f"{shipment.order_external_id}:{shipment.tracking_number}"
        link = ""
        if self.setup.get("tracking_extension"):
            reference, link = self._upload_tracking(shipment)
        notes = self.client.get(f"{order_path}/notes")
        if not any(
            shipment.tracking_number in str(note.get("note", ""))
            for note in notes
            if isinstance(note, dict)
        ):
            self.client.post(
                f"{order_path}/notes",
                {
                    "note": mappers.tracking_note(shipment, link),
                    "customer_note": bool(self.setup.get("note_to_customer")),
                },
            )
        self._record_package(order_path, order, shipment)
        return reference

    def _order(self, order_path: str, shipment: CartShipment) -> dict[str, Any]:
        try:
            order = self.client.get(order_path)
        except WooCommerceError as exc:
            if exc.status == 404:
                raise AdapterError(
                    f"WooCommerce at {self.store_url} has no order {shipment.order_number} "
                    f"(id {shipment.order_external_id}) any more: tracking "
                    f"{shipment.tracking_number} was not uploaded. Was the order deleted?",
                    permanent=True,
                ) from None
            raise
        if not isinstance(order, dict):
            raise AdapterError(
                f"WooCommerce answered order {shipment.order_external_id} with something other "
                "than an order.",
                permanent=True,
            )
        return order

    def _upload_tracking(self, shipment: CartShipment) -> tuple[str, str]:
        """Add the package's tracking through the extension unless it is there; return its id."""
        path = f"{self.namespace}/orders/{shipment.order_external_id}/shipment-trackings"
        try:
            existing = self.client.get(path)
            for item in existing if isinstance(existing, list) else []:
                if str(item.get("tracking_number", "")).strip() == shipment.tracking_number:
                    return str(item.get("tracking_id", "")), str(item.get("tracking_link", ""))
            provider = self._provider_names().get(mappers.normalise_provider(shipment.carrier))
            created = self.client.post(path, mappers.tracking_item(shipment, provider))
        except WooCommerceError as exc:
            if self._tracking_missing(exc):
                raise AdapterError(
                    NO_TRACKING_EXTENSION.format(url=self.store_url, namespace=self.namespace),
                    permanent=True,
                ) from None
            raise
        return str(created.get("tracking_id", "")), str(created.get("tracking_link", ""))

    def _provider_names(self) -> dict[str, str]:
        if self._providers is None:
            try:
                providers = self.client.get(f"{self.namespace}/shipment-trackings/providers")
            except WooCommerceError as exc:
                if self._tracking_missing(exc):
                    raise AdapterError(
                        NO_TRACKING_EXTENSION.format(url=self.store_url, namespace=self.namespace),
                        permanent=True,
                    ) from None
                raise
            self._providers = mappers.provider_names(providers)
        return self._providers

    def _record_package(
        self, order_path: str, order: dict[str, Any], shipment: CartShipment
    ) -> None:
        """Keep the package in the order's meta; complete the order once every line shipped."""
        packages = mappers.packages_meta(order)
        known = shipment.tracking_number in packages
        packages[shipment.tracking_number] = mappers.package_items(shipment)
        change: dict[str, Any] = {}
        if not known:
            change["meta_data"] = [{"key": mappers.PACKAGES_META_KEY, "value": packages}]
        status = str(order.get("status") or "")
        if (
            self.setup.get("complete_orders")
            and status in ("pending", "processing", "on-hold")
            and mappers.fully_shipped(order, packages)
        ):
            change["status"] = "completed"
        if change:
            self.client.put(order_path, change)

    # --- inventory ----------------------------------------------------------------------------

    def upload_inventory(self, levels: list[StockLevel]) -> list[ItemResult]:
        self._resolve([level.sku for level in levels])
        products: list[tuple[StockLevel, dict[str, Any]]] = []
        variations: dict[int, list[tuple[StockLevel, dict[str, Any]]]] = {}
        errors: dict[int, str] = {}
        for index, level in enumerate(levels):
            found = self._products.get(level.sku)
            if "," in level.sku:
                errors[index] = (
                    f"SKU {level.sku!r} contains a comma, which WooCommerce's SKU search "
                    "splits on: remove the comma from the SKU in WooCommerce and the WMS."
                )
            elif found is None:
                errors[index] = (
                    f"No product or variation with SKU {level.sku!r} in WooCommerce at "
                    f"{self.store_url}: give the product this SKU, or map it with an alias."
                )
            elif found.get("type") == "variation":
                variations.setdefault(int(found["parent_id"]), []).append((level, found))
            else:
                products.append((level, found))
        outcome: dict[str, str | None] = {}
        self._batch(f"{API}/products/batch", products, outcome)
        for parent_id, items in variations.items():
            self._batch(f"{API}/products/{parent_id}/variations/batch", items, outcome)
        results = []
        for index, level in enumerate(levels):
            if index in errors:
                results.append(ItemResult(sku=level.sku, ok=False, error=errors[index]))
                continue
            error = outcome.get(level.sku)
            results.append(ItemResult(sku=level.sku, ok=error is None, error=error or ""))
        return results

    def _resolve(self, skus: list[str]) -> None:
        """Find the product or variation of each SKU not yet cached (GET /products?sku=).

        The sku filter takes up to a page of SKUs separated by commas and also finds
        variations. It splits on commas, so a SKU containing one cannot be looked up.
        """
        wanted = sorted({s for s in skus if s and "," not in s and s not in self._products})
        for start in range(0, len(wanted), MAX_PER_PAGE):
            group = wanted[start : start + MAX_PER_PAGE]
            for sku in group:
                self._products[sku] = None
            for page in self.client.pages(f"{API}/products", {"sku": ",".join(group)}):
                for product in page:
                    sku = str(product.get("sku") or "") if isinstance(product, dict) else ""
                    if sku in self._products and self._products[sku] is None:
                        self._products[sku] = product

    def _batch(
        self,
        path: str,
        items: list[tuple[StockLevel, dict[str, Any]]],
        outcome: dict[str, str | None],
    ) -> None:
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start : start + MAX_BATCH]
            answer = self.client.post(
                path,
                {
                    "update": [
                        {
                            "id": product["id"],
                            "manage_stock": True,
                            "stock_quantity": max(0, int(level.quantity)),
                        }
                        for level, product in chunk
                    ]
                },
            )
            updated = answer.get("update") if isinstance(answer, dict) else None
            by_id = {item.get("id"): item for item in updated or [] if isinstance(item, dict)}
            for level, product in chunk:
                item = by_id.get(product["id"])
                if item is None:
                    outcome[level.sku] = "WooCommerce did not answer for this product."
                elif isinstance(item.get("error"), dict):
                    error = item["error"]
                    outcome[level.sku] = (
                        f"WooCommerce refused the stock of {level.sku}: "
                        f"{error.get('message', '')} ({error.get('code', '')})"
                    )
                else:
                    outcome[level.sku] = None

    # --- webhooks -----------------------------------------------------------------------------

    def register_webhooks(self, address: str) -> list[str]:
        secret = str(self.credentials.get("webhook_secret") or "")
        if not secret:
            raise AdapterError(
                "Enter a webhook secret in the cart's credentials before registering "
                "webhooks: WooCommerce signs every webhook with it.",
                permanent=True,
            )
        existing = [
            hook
            for page in self.client.pages(f"{API}/webhooks", {})
            for hook in page
            if isinstance(hook, dict) and hook.get("delivery_url") == address
        ]
        for topic in WEBHOOK_TOPICS:
            mine = [hook for hook in existing if hook.get("topic") == topic]
            if any(hook.get("status") == "active" for hook in mine):
                continue
            for hook in mine:  # paused or disabled after failed deliveries: replace it
                self.client.request(
                    "DELETE", f"{API}/webhooks/{hook['id']}", params={"force": "true"}
                )
            self.client.post(
                f"{API}/webhooks",
                {
                    "name": f"Cartrover {topic}",
                    "topic": topic,
                    "delivery_url": address,
                    "secret": secret,
                    "status": "active",
                },
            )
        return list(WEBHOOK_TOPICS)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        given = lower.get(SIGNATURE_HEADER.lower(), "")
        if not given and body.startswith(b"webhook_id="):
            # WooCommerce pings a new webhook with an unsigned form body and wants a 2xx back;
            # there is nothing to download.
            return WebhookNotice(event_id="", topic=PING_TOPIC)
        secret = str(self.credentials.get("webhook_secret") or "")
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        if not secret or not given or not hmac.compare_digest(given.encode(), expected):
            raise AuthError(
                "The webhook's X-WC-Webhook-Signature does not match the webhook secret: it was "
                "not sent by this store, or the webhook was created with another secret."
            )
        topic = lower.get("x-wc-webhook-topic", "")
        delivery = lower.get("x-wc-webhook-delivery-id", "")
        try:
            payload = json.loads(body)
        except ValueError:
            raise BadPayload("The webhook body is not WooCommerce's JSON.") from None
        order_id = payload.get("id") if isinstance(payload, dict) else None
        ids = [str(order_id)] if order_id not in (None, "") and topic.startswith("order.") else []
        if not delivery:
            delivery = hashlib.sha256(body).hexdigest()
        # Delivery ids are per webhook and second, so two orders changed in one second share
        # one: the order id keeps their events apart.
        event_id = f"{lower.get('x-wc-webhook-id', '')}:{delivery}:{':'.join(ids)}"
        return WebhookNotice(event_id=event_id, topic=topic, order_external_ids=ids)


def _modified_gmt(raw: Any) -> str | None:
    """Return an order's date_modified_gmt in the query format, or None when unreadable."""
    if not isinstance(raw, dict):
        return None
    try:
        return mappers.format_gmt(mappers.parse_gmt(raw.get("date_modified_gmt")))
    except (TypeError, ValueError):
        return None


def _one_second_before(moment: str) -> str:
    """Return the GMT query time one second before `moment` (modified_after is exclusive)."""
    return mappers.format_gmt(mappers.parse_gmt(moment) - timedelta(seconds=1))
