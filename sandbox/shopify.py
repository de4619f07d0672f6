"""A Shopify Admin REST emulator: orders, fulfillment orders, inventory, webhooks.

Paths live under `/admin/api/{version}/`; any `YYYY-MM` version is accepted. The emulator keeps
orders in their wire shape and copies them out, so a client can never change state by mutating
what it received. Deliberate behaviour worth knowing:

- `status` defaults to `open`; fulfilled seed orders are archived (`closed_at` set), as shops
  with auto-archive do, so only `status=any` sees every order.
- Without the `read_all_orders` scope, orders created more than 60 days ago are invisible.
- `POST fulfillments.json` answers 200, as the live API does (its docs say 201).
- The legacy `POST orders/{id}/fulfillments.json` answers 404, as it has since 2022-04.
- Error bodies come in all three live shapes: a string, an object of field → messages, a list.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import gc
import hashlib
import hmac
import json
import math
import operator
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from sandbox import seed as seed_data
from sandbox.clock import Clock, parse_datetime
from sandbox.server import (
    Emulator,
    Request,
    Response,
    WebhookDelivery,
    field_check,
    json_bytes,
    json_response,
)

UNRECOGNIZED_LOGIN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
)
# Well-known sandbox credentials, printed by `python -m sandbox shopify`; never real ones.
SANDBOX_ACCESS_TOKEN = "shpat_sandbox_token"  # noqa: S105
SANDBOX_CLIENT_SECRET = "shpss_sandbox_secret"  # noqa: S105
DEFAULT_SCOPES = frozenset(
    {
        "read_orders",
        "write_orders",
        "read_all_orders",
        "read_products",
        "write_products",
        "read_inventory",
        "write_inventory",
        "read_locations",
        "read_merchant_managed_fulfillment_orders",
        "write_merchant_managed_fulfillment_orders",
    }
)
TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/paid",
        "fulfillments/create",
        "fulfillments/update",
        "inventory_levels/update",
        "app/uninstalled",
    }
)
TRACKING_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={number}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={number}&brand=DHL",
    "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
}
ORDER_FILTERS = (
    "ids",
    "since_id",
    "status",
    "financial_status",
    "fulfillment_status",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "processed_at_min",
    "processed_at_max",
)
PRODUCT_FILTERS = ("ids", "since_id")
MAX_LIMIT = 250
VERSION = r"/admin/api/(?P<version>\d{4}-\d{2}|unstable)"

# Ids above 2**31, as real shops have, so a client storing them in 32-bit ints fails here.
ORDER_ID_START = 5_600_000_001
LINE_ID_START = 13_800_000_001
FO_ID_START = 6_100_000_001
FO_LINE_ID_START = 14_200_000_001
FULFILLMENT_ID_START = 4_400_000_001
PRODUCT_ID_START = 8_000_000_001
VARIANT_ID_START = 44_000_000_001
INVENTORY_ITEM_ID_START = 46_000_000_001
LOCATION_ID_START = 61_000_000_001
CUSTOMER_ID_START = 7_100_000_000
REFUND_ID_START = 9_300_000_001
WEBHOOK_ID_START = 1_200_000_001


class FulfillmentError(Exception):
    """A fulfillment request the shop refuses; `messages` become the 422 `errors` list."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class LeakyBucket:
    """Shopify's per-app call bucket: each call adds one, the bucket leaks at a steady rate."""

    def __init__(self, capacity: int, leak_per_second: float, clock: Clock) -> None:
        self.capacity = capacity
        self.leak_per_second = leak_per_second
        self._clock = clock
        self._level = 0.0
        self._at = clock.now()

    def _leak(self) -> None:
        now = self._clock.now()
        elapsed = max((now - self._at).total_seconds(), 0.0)
        self._level = max(self._level - elapsed * self.leak_per_second, 0.0)
        self._at = now

    def take(self) -> bool:
        """Add one call if it fits and return True; return False when the bucket is full."""
        self._leak()
        if self._level + 1 > self.capacity:
            return False
        self._level += 1
        return True

    @property
    def level(self) -> int:
        """Return the calls in the bucket, rounded up as the header shows them."""
        self._leak()
        return min(math.ceil(self._level - 1e-9), self.capacity)


class ShopifyEmulator(Emulator):
    """One Shopify shop with a custom app's access token."""

    name = "shopify"

    def __init__(
        self,
        *,
        access_token: str = SANDBOX_ACCESS_TOKEN,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        shop_domain: str = "sandbox-store.myshopify.com",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        locations: int = 1,
        rate_limit: bool = True,
        bucket_capacity: int = 40,
        leak_per_second: float = 2.0,
        retry_after: str = "2.0",
        utc_offset: timedelta = timedelta(hours=-4),
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if locations not in (1, 2):
            raise ValueError("locations must be 1 or 2")
        self.access_token = access_token
        self.client_secret = client_secret
        self.shop_domain = shop_domain
        self.scopes = set(scopes)
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.bucket = LeakyBucket(bucket_capacity, leak_per_second, self.clock)
        self.tz = timezone(utc_offset)
        self.orders: dict[int, dict[str, Any]] = {}
        self._orders_by_id: _Matches | None = None
        self.fulfillment_orders: dict[int, dict[str, Any]] = {}
        # Order id -> its fulfillment order ids, so per-order lookups stay O(1) at any size.
        self._fo_ids_by_order: dict[int, list[int]] = {}
        self.fulfillments: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.locations: dict[int, dict[str, Any]] = {}
        self.inventory: dict[tuple[int, int], int] = {}
        self.inventory_sets: list[dict[str, Any]] = []
        self.webhooks: dict[int, dict[str, Any]] = {}
        self._ids: dict[str, int] = {}
        self._next_order_number = 1001
        self._seed_locations(locations)
        self._seed_catalog()
        self._register_routes()

    # -- public helpers for tests and the standalone runner ----------------------------------

    def add_order(
        self, spec: seed_data.OrderSpec | None = None, *, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Create an order from `spec` (default: one blue mug, paid); `fields` override keys.

        Fires `orders/create` to subscribers when `notify`. Returns a copy of the order.
        """
        spec = spec or seed_data.OrderSpec()
        with self.lock:
            order = self._build_order(spec)
            order.update(fields)
            payload = _clone(order)
        if notify:
            self._deliver([("orders/create", payload)])
        return payload

    def generate_orders(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """Add `count` deterministic seed orders without firing webhooks; return copies."""
        specs = seed_data.order_specs(count, seed, self.clock.now())
        # The orders hold no cycles; collecting while the heap grows would make this quadratic.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return [self.add_order(spec, notify=False) for spec in specs]
        finally:
            if collecting:
                gc.enable()

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change top-level order fields, bump `updated_at` and fire `orders/updated`."""
        with self.lock:
            order = self.orders[order_id]
            order.update(fields)
            order["updated_at"] = self._iso(self.clock.now())
            payload = _clone(order)
        self._deliver([("orders/updated", payload)])
        return payload

    def cancel_order(self, order_id: int, reason: str = "customer") -> dict[str, Any]:
        """Cancel an order as the merchant would; fires `orders/cancelled` and `orders/updated`."""
        with self.lock:
            order = self.orders[order_id]
            self._cancel(order, self.clock.now(), reason)
            payload = _clone(order)
        self._deliver([("orders/cancelled", payload), ("orders/updated", payload)])
        return payload

    def order(self, order_id: int) -> dict[str, Any]:
        """Return a copy of one order as the API would show it."""
        with self.lock:
            return _clone(self.orders[order_id])

    def fulfillment_orders_of(self, order_id: int) -> list[dict[str, Any]]:
        """Return copies of an order's fulfillment orders."""
        with self.lock:
            return [_clone(fo) for fo in self._fos_of(order_id)]

    def variant_by_sku(self, sku: str) -> dict[str, Any]:
        """Return a copy of the variant with `sku`; KeyError when there is none."""
        with self.lock:
            for variant in self.variants.values():
                if variant["sku"] == sku:
                    return _clone(variant)
        raise KeyError(sku)

    def available(self, inventory_item_id: int, location_id: int) -> int:
        """Return the stock of an inventory item at a location."""
        with self.lock:
            return self.inventory[(inventory_item_id, location_id)]

    def subscribe(self, topic: str, address: str) -> dict[str, Any]:
        """Register a webhook subscription, as `POST webhooks.json` would."""
        with self.lock:
            webhook = self._new_webhook(topic, address)
            return _clone(webhook)

    def send_webhook(
        self, topic: str, payload: Any, address: str | None = None
    ) -> list[WebhookDelivery]:
        """POST `payload` signed as Shopify does, to `address` or to every subscriber of `topic`."""
        with self.lock:
            addresses = [address] if address else self._addresses(topic)
        body = json_bytes(payload)
        attempts: list[WebhookDelivery] = []
        for target in addresses:
            attempts += self.post_webhook(target, body, self.webhook_headers(topic, body))
        return attempts

    def webhook_headers(self, topic: str, body: bytes) -> dict[str, str]:
        """Return the headers Shopify sends with a webhook whose raw body is `body`."""
        digest = hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()
        return {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-API-Version": "2024-10",
            "X-Shopify-Triggered-At": self.clock.now().isoformat().replace("+00:00", "Z"),
        }

    def credentials(self) -> dict[str, str]:
        """Return what a client needs to connect: API root, token and webhook secret."""
        return {
            "api": self.url("/admin/api/2024-10"),
            "shop_domain": self.shop_domain,
            "access_token": self.access_token,
            "client_secret": self.client_secret,
        }

    # -- platform hooks ----------------------------------------------------------------------

    def before(self, request: Request) -> Response | None:
        """Refuse a wrong token with 401 and a full bucket with 429."""
        if not hmac.compare_digest(
            request.header("X-Shopify-Access-Token") or "", self.access_token
        ):
            return json_response({"errors": UNRECOGNIZED_LOGIN}, 401)
        if self.rate_limit:
            with self.lock:
                admitted = self.bucket.take()
            if not admitted:
                return self.throttled_response(request)
        return None

    def after(self, request: Request, response: Response) -> None:
        """Show the bucket level on every authenticated response."""
        if request.header("X-Shopify-Access-Token") == self.access_token:
            with self.lock:
                level = self.bucket.level
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{level}/{self.bucket.capacity}"
        if "version" in request.params:
            response.headers["X-Shopify-API-Version"] = request.params["version"]

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Answer `{"errors": "message"}`, Shopify's most common error shape."""
        return json_response({"errors": message}, status)

    def throttled_response(self, request: Request) -> Response:
        """Answer 429 with the live body and a fractional `Retry-After`."""
        return json_response({"errors": THROTTLED}, 429, {"Retry-After": self.retry_after})

    # -- routes ------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/orders\.json", self._get_orders),
            ("GET", r"/orders/count\.json", self._get_order_count),
            ("GET", r"/orders/(?P<id>\d+)\.json", self._get_order),
            ("GET", r"/orders/(?P<id>\d+)/fulfillment_orders\.json", self._get_fos),
            ("GET", r"/orders/(?P<id>\d+)/fulfillments\.json", self._get_order_fulfillments),
            ("POST", r"/orders/(?P<id>\d+)/fulfillments\.json", self._legacy_fulfillment),
            ("GET", r"/fulfillment_orders/(?P<id>\d+)\.json", self._get_fo),
            ("POST", r"/fulfillments\.json", self._post_fulfillment),
            ("POST", r"/fulfillments/(?P<id>\d+)/update_tracking\.json", self._update_tracking),
            ("GET", r"/products\.json", self._get_products),
            ("GET", r"/products/(?P<id>\d+)\.json", self._get_product),
            ("GET", r"/products/(?P<id>\d+)/variants\.json", self._get_product_variants),
            ("GET", r"/variants/(?P<id>\d+)\.json", self._get_variant),
            ("GET", r"/locations\.json", self._get_locations),
            ("GET", r"/inventory_levels\.json", self._get_inventory_levels),
            ("POST", r"/inventory_levels/set\.json", self._set_inventory_level),
            ("POST", r"/inventory_levels/adjust\.json", self._adjust_inventory_level),
            ("GET", r"/webhooks\.json", self._get_webhooks),
            ("POST", r"/webhooks\.json", self._post_webhook),
            ("GET", r"/webhooks/(?P<id>\d+)\.json", self._get_webhook),
            ("DELETE", r"/webhooks/(?P<id>\d+)\.json", self._delete_webhook),
        ]
        for method, path, handler in routes:
            self.route(method, VERSION + path, handler)

    def _require(self, scope: str) -> Response | None:
        """Return a 403 unless the app holds `scope` (a write scope implies its read scope)."""
        if scope in self.scopes or scope.replace("read_", "write_", 1) in self.scopes:
            return None
        message = f"[API] This action requires merchant approval for {scope} scope."
        return json_response({"errors": message}, 403)

    def _get_orders(self, request: Request) -> Response:
        denied = self._require("read_orders")
        if denied:
            return denied
        return self._paged(request, "orders", ORDER_FILTERS, self._matching_orders)

    def _get_order_count(self, request: Request) -> Response:
        denied = self._require("read_orders")
        if denied:
            return denied
        filters = {name: request.arg(name) or "" for name in ORDER_FILTERS if name in request.query}
        with self.lock:
            matching = self._matching_orders(filters)
            if isinstance(matching, Response):
                return matching
            count = len(matching)
        return json_response({"count": count})

    def _get_order(self, request: Request) -> Response:
        denied = self._require("read_orders")
        if denied:
            return denied
        with self.lock:
            order = self._visible_order(int(request.params["id"]))
            if order is None:
                return self._not_found()
            return json_response({"order": _project(order, request.arg("fields"))})

    def _get_fos(self, request: Request) -> Response:
        denied = self._require("read_merchant_managed_fulfillment_orders")
        if denied:
            return denied
        order_id = int(request.params["id"])
        with self.lock:
            if self._visible_order(order_id) is None:
                return self._not_found()
            fos = self._fos_of(order_id)
            return json_response({"fulfillment_orders": _clone(fos)})

    def _get_fo(self, request: Request) -> Response:
        denied = self._require("read_merchant_managed_fulfillment_orders")
        if denied:
            return denied
        with self.lock:
            fo = self.fulfillment_orders.get(int(request.params["id"]))
            if fo is None:
                return self._not_found()
            return json_response({"fulfillment_order": _clone(fo)})

    def _get_order_fulfillments(self, request: Request) -> Response:
        denied = self._require("read_orders")
        if denied:
            return denied
        order_id = int(request.params["id"])
        with self.lock:
            if self._visible_order(order_id) is None:
                return self._not_found()
            found = [f for f in self.fulfillments.values() if f["order_id"] == order_id]
            return json_response({"fulfillments": _clone(found)})

    def _legacy_fulfillment(self, request: Request) -> Response:
        # Removed in API 2022-04; clients must go through fulfillment orders.
        return self._not_found()

    def _post_fulfillment(self, request: Request) -> Response:
        denied = self._require("write_merchant_managed_fulfillment_orders")
        if denied:
            return denied
        body = request.body if isinstance(request.body, dict) else {}
        wanted = body.get("fulfillment")
        if not isinstance(wanted, dict):
            return _field_errors(400, fulfillment="Required parameter missing or invalid")
        groups = wanted.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups:
            return _field_errors(
                400, line_items_by_fulfillment_order="Required parameter missing or invalid"
            )
        tracking = wanted.get("tracking_info") or {}
        if not isinstance(tracking, dict):
            return _field_errors(400, tracking_info="must be an object")
        with self.lock:
            try:
                fulfillment, events = self._fulfill(groups, tracking, self.clock.now())
            except FulfillmentError as error:
                return json_response({"errors": error.messages}, 422)
            payload = _clone(fulfillment)
        self._deliver(events)
        return json_response({"fulfillment": payload})

    def _update_tracking(self, request: Request) -> Response:
        denied = self._require("write_merchant_managed_fulfillment_orders")
        if denied:
            return denied
        body = request.body if isinstance(request.body, dict) else {}
        wanted = body.get("fulfillment")
        tracking = wanted.get("tracking_info") if isinstance(wanted, dict) else None
        if not isinstance(tracking, dict):
            return _field_errors(400, tracking_info="Required parameter missing or invalid")
        with self.lock:
            fulfillment = self.fulfillments.get(int(request.params["id"]))
            if fulfillment is None:
                return self._not_found()
            now = self.clock.now()
            _apply_tracking(fulfillment, tracking)
            fulfillment["updated_at"] = self._iso(now)
            order = self.orders[fulfillment["order_id"]]
            _replace_fulfillment(order, fulfillment)
            order["updated_at"] = self._iso(now)
            payload = _clone(fulfillment)
            order_payload = _clone(order)
        self._deliver([("fulfillments/update", payload), ("orders/updated", order_payload)])
        return json_response({"fulfillment": payload})

    def _get_products(self, request: Request) -> Response:
        denied = self._require("read_products")
        if denied:
            return denied
        return self._paged(request, "products", PRODUCT_FILTERS, self._matching_products)

    def _get_product(self, request: Request) -> Response:
        denied = self._require("read_products")
        if denied:
            return denied
        with self.lock:
            product = self.products.get(int(request.params["id"]))
            if product is None:
                return self._not_found()
            return json_response({"product": self._render_product(product)})

    def _get_product_variants(self, request: Request) -> Response:
        denied = self._require("read_products")
        if denied:
            return denied
        with self.lock:
            product = self.products.get(int(request.params["id"]))
            if product is None:
                return self._not_found()
            return json_response({"variants": self._render_product(product)["variants"]})

    def _get_variant(self, request: Request) -> Response:
        denied = self._require("read_products")
        if denied:
            return denied
        with self.lock:
            variant = self.variants.get(int(request.params["id"]))
            if variant is None:
                return self._not_found()
            return json_response({"variant": self._render_variant(variant)})

    def _get_locations(self, request: Request) -> Response:
        denied = self._require("read_locations")
        if denied:
            return denied
        with self.lock:
            return json_response({"locations": _clone(list(self.locations.values()))})

    def _get_inventory_levels(self, request: Request) -> Response:
        denied = self._require("read_inventory")
        if denied:
            return denied
        try:
            items = {int(v) for v in request.args("inventory_item_ids")}
            locations = {int(v) for v in request.args("location_ids")}
        except ValueError:
            return _field_errors(400, inventory_item_ids="must be a list of integers")
        if not items and not locations:
            return json_response(
                {"errors": ["inventory_item_ids, location_ids, or both must be provided"]}, 422
            )
        with self.lock:
            levels = [
                self._render_level(item, location)
                for (item, location) in sorted(self.inventory)
                if (not items or item in items) and (not locations or location in locations)
            ]
        return json_response({"inventory_levels": levels})

    def _set_inventory_level(self, request: Request) -> Response:
        return self._change_inventory(request, "available")

    def _adjust_inventory_level(self, request: Request) -> Response:
        return self._change_inventory(request, "available_adjustment")

    def _change_inventory(self, request: Request, amount_field: str) -> Response:
        denied = self._require("write_inventory")
        if denied:
            return denied
        body = request.body if isinstance(request.body, dict) else {}
        missing = [
            name
            for name in ("location_id", "inventory_item_id", amount_field)
            if not isinstance(body.get(name), int) or isinstance(body.get(name), bool)
        ]
        if missing:
            return _field_errors(
                400, **dict.fromkeys(missing, "Required parameter missing or invalid")
            )
        item, location, amount = body["inventory_item_id"], body["location_id"], body[amount_field]
        with self.lock:
            variant = self._variant_by_inventory_item(item)
            if variant is None:
                return self._not_found()
            if location not in self.locations:
                return json_response({"errors": ["Location could not be found"]}, 422)
            if variant["inventory_management"] is None:
                message = "Inventory item does not have inventory tracking enabled"
                return json_response({"errors": [message]}, 422)
            key = (item, location)
            before = self.inventory.get(key, 0)
            after = amount if amount_field == "available" else before + amount
            self.inventory[key] = after
            self.inventory_sets.append(
                {
                    "inventory_item_id": item,
                    "location_id": location,
                    "available": after,
                    "previous": before,
                    "sku": variant["sku"],
                    "at": self.clock.now(),
                }
            )
            level = self._render_level(item, location)
        self._deliver([("inventory_levels/update", level)])
        return json_response({"inventory_level": level})

    def _get_webhooks(self, request: Request) -> Response:
        with self.lock:
            found = [
                w
                for w in self.webhooks.values()
                if request.arg("topic") in (None, w["topic"])
                and request.arg("address") in (None, w["address"])
            ]
            return json_response({"webhooks": _clone(found)})

    def _get_webhook(self, request: Request) -> Response:
        with self.lock:
            webhook = self.webhooks.get(int(request.params["id"]))
            if webhook is None:
                return self._not_found()
            return json_response({"webhook": _clone(webhook)})

    def _post_webhook(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        wanted = body.get("webhook")
        if not isinstance(wanted, dict):
            return _field_errors(400, webhook="Required parameter missing or invalid")
        topic, address = str(wanted.get("topic") or ""), str(wanted.get("address") or "")
        if topic not in TOPICS:
            return _field_errors(422, topic=f"Invalid topic specified: {topic}")
        if urlsplit(address).scheme not in ("http", "https") or not urlsplit(address).hostname:
            return _field_errors(422, address="is invalid")
        with self.lock:
            if address in self._addresses(topic):
                return _field_errors(422, address="for this topic has already been taken")
            webhook = self._new_webhook(topic, address)
            return json_response({"webhook": _clone(webhook)}, 201)

    def _delete_webhook(self, request: Request) -> Response:
        with self.lock:
            if self.webhooks.pop(int(request.params["id"]), None) is None:
                return self._not_found()
        return json_response({})

    # -- paging ------------------------------------------------------------------------------

    def _paged(
        self,
        request: Request,
        resource: str,
        filter_names: tuple[str, ...],
        matching: Callable[[dict[str, str]], _Matches | list[dict[str, Any]] | Response],
    ) -> Response:
        """List `resource` sorted by id with Shopify's cursor paging in a `Link` header."""
        limit_text = request.arg("limit", "50") or "50"
        if not limit_text.isdigit() or int(limit_text) < 1:
            return _field_errors(400, limit="must be an integer greater than 0")
        limit = int(limit_text)
        if limit > MAX_LIMIT:
            return _field_errors(400, limit=f"must be less than or equal to {MAX_LIMIT}")
        page_info = request.arg("page_info")
        if page_info:
            others = sorted(set(request.query) - {"page_info", "limit", "fields"})
            if others:
                return _field_errors(
                    400, page_info=f"cannot be combined with other parameters: {', '.join(others)}"
                )
            cursor = _decode_cursor(page_info, resource)
            if cursor is None:
                return _field_errors(400, page_info="Invalid value.")
            filters, direction, anchor = cursor
        else:
            filters = {
                name: request.arg(name) or "" for name in filter_names if name in request.query
            }
            direction, anchor = "next", None
        with self.lock:
            found = matching(filters)
            if isinstance(found, Response):
                return found
            page, has_previous, has_next = _slice(found, direction, anchor, limit)
            fields = request.arg("fields")
            render = self._render_product if resource == "products" else _as_is
            items = [_project(render(item), fields) if fields else render(item) for item in page]
            # Serialised under the lock, so the live orders need no copy first.
            response = json_response({resource: items})
        links = []
        base = f"/admin/api/{request.params['version']}/{resource}.json"
        for rel, flag, direction_, item in (
            ("previous", has_previous, "previous", page[0] if page else None),
            ("next", has_next, "next", page[-1] if page else None),
        ):
            if flag and item is not None:
                query = {
                    "limit": limit,
                    "page_info": _encode_cursor(resource, filters, direction_, item["id"]),
                }
                if fields:
                    query["fields"] = fields
                links.append(f'<{self.url(base)}?{urlencode(query)}>; rel="{rel}"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    def _matching_orders(self, filters: dict[str, str]) -> _Matches | Response:
        status = filters.get("status") or "open"
        status_checks: dict[str, Callable[[dict[str, Any]], bool]] = {
            "open": lambda o: o["closed_at"] is None and o["cancelled_at"] is None,
            "closed": lambda o: o["closed_at"] is not None,
            "cancelled": lambda o: o["cancelled_at"] is not None,
            "any": lambda o: True,
        }
        if status not in status_checks:
            return _field_errors(400, status=f"is not included in the list: {status}")
        checks = [status_checks[status]]
        financial = filters.get("financial_status") or "any"
        if financial != "any":
            wanted = (
                {"pending", "authorized", "partially_paid"}
                if financial == "unpaid"
                else {financial}
            )
            checks.append(lambda o: o["financial_status"] in wanted)
        fulfillment = filters.get("fulfillment_status") or "any"
        fulfillment_checks: dict[str, Callable[[dict[str, Any]], bool]] = {
            "shipped": lambda o: o["fulfillment_status"] == "fulfilled",
            "fulfilled": lambda o: o["fulfillment_status"] == "fulfilled",
            "partial": lambda o: o["fulfillment_status"] == "partial",
            "unshipped": lambda o: o["fulfillment_status"] is None,
            "unfulfilled": lambda o: o["fulfillment_status"] in (None, "partial"),
        }
        if fulfillment != "any":
            if fulfillment not in fulfillment_checks:
                return _field_errors(400, fulfillment_status=f"is not valid: {fulfillment}")
            checks.append(fulfillment_checks[fulfillment])
        try:
            checks += _id_checks(filters)
            checks += self._time_checks(filters)
        except ValueError as error:
            name = str(error)
            return _field_errors(400, **{name: "is invalid"})
        if self._orders_by_id is None or len(self._orders_by_id.items) != len(self.orders):
            # Orders are only ever added, so the sorted list is rebuilt when the count changes.
            self._orders_by_id = _Matches(sorted(self.orders.values(), key=lambda o: o["id"]))
        return self._orders_by_id.filtered(
            lambda o: self._within_history(o) and all(check(o) for check in checks)
        )

    def _matching_products(self, filters: dict[str, str]) -> list[dict[str, Any]] | Response:
        try:
            checks = _id_checks(filters)
        except ValueError as error:
            return _field_errors(400, **{str(error): "is invalid"})
        return sorted(
            (p for p in self.products.values() if all(check(p) for check in checks)),
            key=lambda p: p["id"],
        )

    def _time_checks(self, filters: dict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
        checks: list[Callable[[dict[str, Any]], bool]] = []
        for name in ORDER_FILTERS:
            if not name.endswith(("_min", "_max")) or not filters.get(name):
                continue
            try:
                bound = parse_datetime(filters[name], self.tz)
            except ValueError:
                raise ValueError(name) from None
            compare = operator.ge if name.endswith("_min") else operator.le
            checks.append(field_check(name[:-4], compare, bound, parse_datetime))
        return checks

    def _within_history(self, order: dict[str, Any]) -> bool:
        if "read_all_orders" in self.scopes:
            return True
        return parse_datetime(order["created_at"]) >= self.clock.now() - timedelta(days=60)

    def _visible_order(self, order_id: int) -> dict[str, Any] | None:
        order = self.orders.get(order_id)
        return order if order is not None and self._within_history(order) else None

    # -- building state ----------------------------------------------------------------------

    def _fos_of(self, order_id: int) -> list[dict[str, Any]]:
        """Return the fulfillment orders of one order, oldest first."""
        return [self.fulfillment_orders[i] for i in self._fo_ids_by_order.get(order_id, ())]

    def _next_id(self, kind: str, start: int) -> int:
        value = self._ids.get(kind, start)
        self._ids[kind] = value + 1
        return value

    def _iso(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).isoformat(timespec="seconds")

    def _not_found(self) -> Response:
        return json_response({"errors": "Not Found"}, 404)

    def _seed_locations(self, count: int) -> None:
        sites = [
            ("Main Warehouse", "500 Industrial Pkwy", "Reno", "NV", "89501"),
            ("East Coast 3PL", "12 Harbor Rd", "Edison", "NJ", "08817"),
        ]
        for name, address1, city, province, zip_code in sites[:count]:
            location_id = self._next_id("location", LOCATION_ID_START)
            self.locations[location_id] = {
                "id": location_id,
                "name": name,
                "address1": address1,
                "address2": "",
                "city": city,
                "province_code": province,
                "zip": zip_code,
                "country_code": "US",
                "phone": "",
                "active": True,
                "legacy": False,
                "admin_graphql_api_id": f"gid://shopify/Location/{location_id}",
            }

    def _seed_catalog(self) -> None:
        created = self._iso(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        for position, product_spec in enumerate(seed_data.CATALOG):
            product_id = self._next_id("product", PRODUCT_ID_START)
            variant_ids = []
            for index, variant_spec in enumerate(product_spec.variants, start=1):
                variant_id = self._next_id("variant", VARIANT_ID_START)
                item_id = self._next_id("inventory_item", INVENTORY_ITEM_ID_START)
                tracked = variant_spec.sku is not None and product_spec.requires_shipping
                self.variants[variant_id] = {
                    "id": variant_id,
                    "product_id": product_id,
                    "title": "Default Title"
                    if variant_spec.title == "Default"
                    else variant_spec.title,
                    "sku": variant_spec.sku,
                    "price": f"{variant_spec.price:.2f}",
                    "position": index,
                    "inventory_item_id": item_id,
                    "inventory_management": "shopify" if tracked else None,
                    "inventory_policy": "deny",
                    "requires_shipping": product_spec.requires_shipping,
                    "grams": variant_spec.grams,
                    "barcode": None,
                    "created_at": created,
                    "updated_at": created,
                    "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant_id}",
                }
                variant_ids.append(variant_id)
                for number, location_id in enumerate(self.locations):
                    self.inventory[(item_id, location_id)] = (
                        (17 + 11 * position + 3 * index) % 60 if number == 0 else 5
                    )
            self.products[product_id] = {
                "id": product_id,
                "title": product_spec.title,
                "handle": product_spec.handle,
                "vendor": product_spec.vendor,
                "product_type": "",
                "status": "active",
                "tags": "",
                "created_at": created,
                "updated_at": created,
                "published_at": created,
                "variant_ids": variant_ids,
                "admin_graphql_api_id": f"gid://shopify/Product/{product_id}",
            }

    def _render_product(self, product: dict[str, Any]) -> dict[str, Any]:
        rendered = {k: _clone(v) for k, v in product.items() if k != "variant_ids"}
        rendered["variants"] = [
            self._render_variant(self.variants[v]) for v in product["variant_ids"]
        ]
        return rendered

    def _render_variant(self, variant: dict[str, Any]) -> dict[str, Any]:
        rendered = _clone(variant)
        rendered["inventory_quantity"] = sum(
            amount
            for (item, _), amount in self.inventory.items()
            if item == variant["inventory_item_id"]
        )
        return rendered

    def _render_level(self, item: int, location: int) -> dict[str, Any]:
        return {
            "inventory_item_id": item,
            "location_id": location,
            "available": self.inventory[(item, location)],
            "updated_at": self._iso(self.clock.now()),
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
        }

    def _variant_by_inventory_item(self, item: int) -> dict[str, Any] | None:
        return next((v for v in self.variants.values() if v["inventory_item_id"] == item), None)

    def _variant_for_sku(self, sku: str | None) -> dict[str, Any] | None:
        return next((v for v in self.variants.values() if v["sku"] == sku), None)

    def _address(self, address: seed_data.Address) -> dict[str, Any]:
        return {
            "first_name": address.first_name,
            "last_name": address.last_name,
            "name": f"{address.first_name} {address.last_name}",
            "company": address.company or None,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "province": address.province or None,
            "province_code": address.province_code or None,
            "zip": address.zip,
            "country": address.country,
            "country_code": address.country_code,
            "phone": address.phone or None,
            "latitude": None,
            "longitude": None,
        }

    def _build_order(self, spec: seed_data.OrderSpec) -> dict[str, Any]:
        placed = spec.placed_at or self.clock.now()
        order_id = self._next_id("order", ORDER_ID_START)
        number = self._next_order_number
        self._next_order_number += 1
        lines = [self._build_line(line) for line in spec.lines]
        shipping_lines = []
        if spec.ship_method is not None:
            shipping_lines.append(
                {
                    "id": self._next_id("shipping_line", 4_900_000_001),
                    "code": spec.ship_method.code,
                    "title": spec.ship_method.title,
                    "source": "shopify",
                    "price": f"{spec.ship_method.price:.2f}",
                    "discounted_price": f"{spec.ship_method.price:.2f}",
                    "carrier_identifier": None,
                    "requested_fulfillment_service_id": None,
                    "tax_lines": [],
                }
            )
        subtotal = seed_data.line_total(spec.lines)
        shipping = spec.ship_method.price if spec.ship_method else Decimal("0.00")
        customer = spec.customer
        order: dict[str, Any] = {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{number}",
            "number": number - 1000,
            "order_number": number,
            "email": customer.email,
            "contact_email": customer.email,
            "phone": customer.address.phone or None,
            "created_at": self._iso(placed),
            "updated_at": self._iso(placed),
            "processed_at": self._iso(placed),
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "confirmed": True,
            "test": False,
            "financial_status": "pending" if spec.outcome == "pending" else "paid",
            "fulfillment_status": None,
            "currency": "USD",
            "presentment_currency": "USD",
            "subtotal_price": f"{subtotal:.2f}",
            "total_line_items_price": f"{subtotal:.2f}",
            "total_discounts": "0.00",
            "total_tax": "0.00",
            "taxes_included": False,
            "total_price": f"{subtotal + shipping:.2f}",
            "current_total_price": f"{subtotal + shipping:.2f}",
            "total_outstanding": f"{subtotal + shipping:.2f}"
            if spec.outcome == "pending"
            else "0.00",
            "total_weight": sum(line["grams"] * line["quantity"] for line in lines),
            "tags": ", ".join(spec.tags),
            "note": spec.note or None,
            "note_attributes": (
                [{"name": "gift_message", "value": "Happy birthday! 🎉"}]
                if "gift" in spec.tags
                else []
            ),
            "source_name": "web",
            "token": hashlib.sha256(str(order_id).encode()).hexdigest()[:32],
            "payment_gateway_names": ["shopify_payments"],
            "billing_address": self._address(customer.address),
            "customer": {
                "id": CUSTOMER_ID_START + customer.number,
                "email": customer.email,
                "first_name": customer.address.first_name,
                "last_name": customer.address.last_name,
                "phone": customer.address.phone or None,
                "state": "enabled",
                "tags": "",
                "currency": "USD",
                "default_address": self._address(customer.address),
            },
            "line_items": lines,
            "shipping_lines": shipping_lines,
            "discount_codes": [],
            "tax_lines": [],
            "fulfillments": [],
            "refunds": [],
        }
        if spec.shipping_address is not None:
            order["shipping_address"] = self._address(spec.shipping_address)
        self.orders[order_id] = order
        self._open_fulfillment_orders(order, placed)
        self._apply_outcome(order, spec, placed)
        return order

    def _build_line(self, line: seed_data.LineSpec) -> dict[str, Any]:
        variant = self._variant_for_sku(line.sku)
        found = seed_data.find_variant(line.sku)
        line_id = self._next_id("line", LINE_ID_START)
        if variant is None or found is None:
            title, variant_title, vendor = "Hand-made custom item", None, None
            product_id = variant_id = None
            requires_shipping, grams = True, 500
        else:
            product_spec, variant_spec = found
            title = product_spec.title
            variant_title = None if variant_spec.title == "Default" else variant_spec.title
            vendor, product_id, variant_id = (
                product_spec.vendor,
                variant["product_id"],
                variant["id"],
            )
            requires_shipping, grams = product_spec.requires_shipping, variant_spec.grams
        return {
            "id": line_id,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
            "variant_id": variant_id,
            "product_id": product_id,
            "product_exists": product_id is not None,
            "sku": line.sku,
            "title": title,
            "variant_title": variant_title,
            "name": f"{title} - {variant_title}" if variant_title else title,
            "vendor": vendor,
            "quantity": line.quantity,
            "current_quantity": line.quantity,
            "fulfillable_quantity": line.quantity,
            "fulfillment_status": None,
            "fulfillment_service": "manual",
            "requires_shipping": requires_shipping,
            "gift_card": line.sku == "GIFT-25",
            "taxable": True,
            "grams": grams,
            "price": f"{seed_data.unit_price(line.sku):.2f}",
            "total_discount": "0.00",
            "properties": [],
            "tax_lines": [],
            "discount_allocations": [],
        }

    def _open_fulfillment_orders(self, order: dict[str, Any], at: datetime) -> None:
        """Split an order's lines over the shop's locations, one fulfillment order each."""
        location_ids = list(self.locations)
        by_location: dict[int, list[dict[str, Any]]] = {}
        for index, line in enumerate(order["line_items"]):
            by_location.setdefault(location_ids[index % len(location_ids)], []).append(line)
        for location_id, lines in by_location.items():
            fo_id = self._next_id("fo", FO_ID_START)
            self._fo_ids_by_order.setdefault(order["id"], []).append(fo_id)
            location = self.locations[location_id]
            self.fulfillment_orders[fo_id] = {
                "id": fo_id,
                "shop_id": 55_000_000_001,
                "order_id": order["id"],
                "assigned_location_id": location_id,
                "request_status": "unsubmitted",
                "status": "open",
                "supported_actions": ["create_fulfillment", "hold", "move"],
                "destination": _clone(order.get("shipping_address")),
                "line_items": [
                    {
                        "id": self._next_id("fo_line", FO_LINE_ID_START),
                        "shop_id": 55_000_000_001,
                        "fulfillment_order_id": fo_id,
                        "line_item_id": line["id"],
                        "inventory_item_id": (
                            self.variants[line["variant_id"]]["inventory_item_id"]
                            if line["variant_id"]
                            else None
                        ),
                        "variant_id": line["variant_id"],
                        "quantity": line["quantity"],
                        "fulfillable_quantity": line["quantity"],
                    }
                    for line in lines
                ],
                "fulfillment_holds": [],
                "fulfill_at": self._iso(at),
                "fulfill_by": None,
                "international_duties": None,
                "delivery_method": {"method_type": "shipping"},
                "assigned_location": {
                    "location_id": location_id,
                    "name": location["name"],
                    "address1": location["address1"],
                    "city": location["city"],
                    "province": location["province_code"],
                    "zip": location["zip"],
                    "country_code": location["country_code"],
                },
                "merchant_requests": [],
                "created_at": self._iso(at),
                "updated_at": self._iso(at),
            }

    def _apply_outcome(
        self, order: dict[str, Any], spec: seed_data.OrderSpec, placed: datetime
    ) -> None:
        later = min(placed + timedelta(hours=20), self.clock.now())
        if spec.outcome == "cancelled":
            self._cancel(order, min(placed + timedelta(hours=2), self.clock.now()), "customer")
        elif spec.outcome in ("refunded", "partially_refunded"):
            refunds = {
                line["id"]: (
                    line.get("quantity") if spec.outcome == "refunded" else wanted.refunded
                )
                for line, wanted in zip(order["line_items"], spec.lines, strict=True)
            }
            self._refund(order, {k: v for k, v in refunds.items() if v}, later)
        elif spec.outcome == "fulfilled":
            fos = self._fos_of(order["id"])
            for number, fo in enumerate(fos):
                tracking = {
                    "company": "UPS",
                    "number": f"1Z999AA1{order['id'] % 10**8:08d}{number}",
                }
                self._fulfill([{"fulfillment_order_id": fo["id"]}], tracking, later)
            order["closed_at"] = self._iso(later)

    def _cancel(self, order: dict[str, Any], at: datetime, reason: str) -> None:
        order["cancelled_at"] = self._iso(at)
        order["cancel_reason"] = reason
        order["updated_at"] = self._iso(at)
        order["financial_status"] = (
            "voided" if order["financial_status"] == "pending" else "refunded"
        )
        for line in order["line_items"]:
            line["current_quantity"] = 0
            line["fulfillable_quantity"] = 0
        for fo in self._fos_of(order["id"]):
            if fo["status"] in ("open", "in_progress"):
                fo["status"] = "closed"
                fo["supported_actions"] = []
                for fo_line in fo["line_items"]:
                    fo_line["fulfillable_quantity"] = 0
                fo["updated_at"] = self._iso(at)

    def _refund(self, order: dict[str, Any], quantities: dict[int, int], at: datetime) -> None:
        refund_id = self._next_id("refund", REFUND_ID_START)
        refund_lines = []
        for line in order["line_items"]:
            quantity = quantities.get(line["id"], 0)
            if not quantity:
                continue
            line["current_quantity"] -= quantity
            line["fulfillable_quantity"] = max(line["fulfillable_quantity"] - quantity, 0)
            for fo in self._fos_of(order["id"]):
                for fo_line in fo["line_items"]:
                    if fo_line["line_item_id"] == line["id"]:
                        fo_line["fulfillable_quantity"] = line["fulfillable_quantity"]
                        fo_line["quantity"] = line["current_quantity"]
            refund_lines.append(
                {
                    "id": self._next_id("refund_line", 9_400_000_001),
                    "line_item_id": line["id"],
                    "quantity": quantity,
                    "restock_type": "return",
                    "subtotal": f"{Decimal(line['price']) * quantity:.2f}",
                }
            )
        for fo in self._fos_of(order["id"]):
            if not any(fo_line["fulfillable_quantity"] for fo_line in fo["line_items"]):
                fo["status"] = "closed"
                fo["supported_actions"] = []
        remaining = sum(line["current_quantity"] for line in order["line_items"])
        order["financial_status"] = "partially_refunded" if remaining else "refunded"
        order["refunds"].append(
            {
                "id": refund_id,
                "order_id": order["id"],
                "created_at": self._iso(at),
                "processed_at": self._iso(at),
                "note": "Customer return",
                "restock": True,
                "refund_line_items": refund_lines,
                "transactions": [],
            }
        )
        order["updated_at"] = self._iso(at)

    def _fulfill(
        self, groups: list[Any], tracking: dict[str, Any], at: datetime
    ) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
        """Fulfil FO lines after checking one order, one location, open FOs and quantities."""
        plan: list[tuple[dict[str, Any], dict[str, Any], int]] = []
        orders_seen, locations_seen = set(), set()
        for group in groups:
            fo_id = group.get("fulfillment_order_id") if isinstance(group, dict) else None
            fo = self.fulfillment_orders.get(fo_id) if isinstance(fo_id, int) else None
            if fo is None:
                raise FulfillmentError(f"Fulfillment order {fo_id} does not exist.")
            if fo["status"] not in ("open", "in_progress"):
                raise FulfillmentError(
                    f"Fulfillment order {fo_id} has an unfulfillable status= {fo['status']}."
                )
            orders_seen.add(fo["order_id"])
            locations_seen.add(fo["assigned_location_id"])
            plan += _planned_lines(fo, group.get("fulfillment_order_line_items"))
        if len(orders_seen) > 1:
            raise FulfillmentError("All fulfillment orders must belong to the same order.")
        if len(locations_seen) > 1:
            raise FulfillmentError("All fulfillment orders must be assigned to the same location.")
        requested: dict[int, int] = {}
        for _, fo_line, quantity in plan:
            requested[fo_line["id"]] = requested.get(fo_line["id"], 0) + quantity
            if requested[fo_line["id"]] > fo_line["fulfillable_quantity"]:
                raise FulfillmentError(
                    f"Fulfillment order line item {fo_line['id']} is requested more than its "
                    f"fulfillable quantity {fo_line['fulfillable_quantity']}."
                )
        if not any(quantity for _, _, quantity in plan):
            raise FulfillmentError("Fulfillment must contain at least one line item.")
        order = self.orders[orders_seen.pop()]
        lines_by_id = {line["id"]: line for line in order["line_items"]}
        fulfilled_lines = []
        for fo, fo_line, quantity in plan:
            if not quantity:
                continue
            fo_line["fulfillable_quantity"] -= quantity
            line = lines_by_id[fo_line["line_item_id"]]
            line["fulfillable_quantity"] -= quantity
            line["fulfillment_status"] = (
                "fulfilled" if not line["fulfillable_quantity"] else "partial"
            )
            fo["status"] = (
                "in_progress"
                if any(item["fulfillable_quantity"] for item in fo["line_items"])
                else "closed"
            )
            fo["updated_at"] = self._iso(at)
            fulfilled_lines.append({**_clone(line), "quantity": quantity})
        remaining = sum(line["fulfillable_quantity"] for line in order["line_items"])
        order["fulfillment_status"] = "partial" if remaining else "fulfilled"
        order["updated_at"] = self._iso(at)
        fulfillment_id = self._next_id("fulfillment", FULFILLMENT_ID_START)
        fulfillment: dict[str, Any] = {
            "id": fulfillment_id,
            "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment_id}",
            "order_id": order["id"],
            "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
            "status": "success",
            "service": "manual",
            "shipment_status": None,
            "location_id": locations_seen.pop(),
            "created_at": self._iso(at),
            "updated_at": self._iso(at),
            "line_items": fulfilled_lines,
            "receipt": {},
        }
        _apply_tracking(fulfillment, tracking)
        self.fulfillments[fulfillment_id] = fulfillment
        order["fulfillments"].append(_clone(fulfillment))
        order_topic = "orders/fulfilled" if not remaining else "orders/partially_fulfilled"
        order_payload = _clone(order)
        events: list[tuple[str, Any]] = [
            ("fulfillments/create", _clone(fulfillment)),
            (order_topic, order_payload),
            ("orders/updated", order_payload),
        ]
        return fulfillment, events

    # -- webhooks ----------------------------------------------------------------------------

    def _new_webhook(self, topic: str, address: str) -> dict[str, Any]:
        if topic not in TOPICS:
            raise ValueError(f"unknown Shopify webhook topic {topic!r}")
        webhook_id = self._next_id("webhook", WEBHOOK_ID_START)
        now = self._iso(self.clock.now())
        webhook = {
            "id": webhook_id,
            "address": address,
            "topic": topic,
            "format": "json",
            "fields": [],
            "metafield_namespaces": [],
            "api_version": "2024-10",
            "created_at": now,
            "updated_at": now,
        }
        self.webhooks[webhook_id] = webhook
        return webhook

    def _addresses(self, topic: str) -> list[str]:
        return [w["address"] for w in self.webhooks.values() if w["topic"] == topic]

    def _deliver(self, events: list[tuple[str, Any]]) -> None:
        """Send each (topic, payload) to its subscribers; call without holding the lock."""
        for topic, payload in events:
            self.send_webhook(topic, payload)


def _planned_lines(
    fo: dict[str, Any], wanted: Any
) -> list[tuple[dict[str, Any], dict[str, Any], int]]:
    """Return (fo, fo line, quantity) for a request group; no line list means the whole FO."""
    if wanted is None:
        return [(fo, line, line["fulfillable_quantity"]) for line in fo["line_items"]]
    if not isinstance(wanted, list):
        raise FulfillmentError("fulfillment_order_line_items must be a list.")
    by_id = {line["id"]: line for line in fo["line_items"]}
    plan = []
    for item in wanted:
        line_id = item.get("id") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        line = by_id.get(line_id) if isinstance(line_id, int) else None
        if line is None:
            raise FulfillmentError(
                f"Fulfillment order line item {line_id} does not belong to fulfillment "
                f"order {fo['id']}."
            )
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise FulfillmentError(f"Quantity for line item {line_id} must be greater than 0.")
        if quantity > line["fulfillable_quantity"]:
            raise FulfillmentError(
                f"Invalid fulfillment order line item quantity requested for line item "
                f"{line_id}: {quantity} > fulfillable {line['fulfillable_quantity']}."
            )
        plan.append((fo, line, quantity))
    return plan


def _apply_tracking(fulfillment: dict[str, Any], tracking: dict[str, Any]) -> None:
    number = tracking.get("number")
    number = None if number in (None, "") else str(number)
    company = tracking.get("company") or fulfillment.get("tracking_company")
    url = tracking.get("url")
    if url is None and number and company in TRACKING_URLS:
        url = TRACKING_URLS[company].format(number=number)
    fulfillment["tracking_company"] = company
    fulfillment["tracking_number"] = number
    fulfillment["tracking_numbers"] = [number] if number else []
    fulfillment["tracking_url"] = url
    fulfillment["tracking_urls"] = [url] if url else []


def _replace_fulfillment(order: dict[str, Any], fulfillment: dict[str, Any]) -> None:
    order["fulfillments"] = [
        _clone(fulfillment) if f["id"] == fulfillment["id"] else f for f in order["fulfillments"]
    ]


def _id_checks(filters: dict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
    """Return checks for `ids` and `since_id`; raise ValueError(name) when malformed."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    if filters.get("ids"):
        try:
            ids = {int(part) for part in filters["ids"].split(",") if part.strip()}
        except ValueError:
            raise ValueError("ids") from None
        checks.append(lambda item: item["id"] in ids)
    if filters.get("since_id"):
        if not filters["since_id"].isdigit():
            raise ValueError("since_id")
        since = int(filters["since_id"])
        checks.append(lambda item: item["id"] > since)
    return checks


class _Matches:
    """Items sorted by id and a filter applied lazily, so a page costs its size, not the shop's."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        keep: Callable[[dict[str, Any]], bool] = lambda item: True,
        ids: list[int] | None = None,
    ) -> None:
        self.items = items
        self.keep = keep
        self.ids = [item["id"] for item in items] if ids is None else ids

    def __len__(self) -> int:
        return sum(1 for item in self.items if self.keep(item))

    def filtered(self, keep: Callable[[dict[str, Any]], bool]) -> _Matches:
        """Return the same sorted items with `keep` as their filter."""
        return _Matches(self.items, keep, self.ids)

    def first(self, start: int, stop: int, step: int, count: int) -> list[dict[str, Any]]:
        """Return up to `count` kept items walking indexes from `start` towards `stop`."""
        found: list[dict[str, Any]] = []
        for index in range(start, stop, step):
            item = self.items[index]
            if self.keep(item):
                found.append(item)
                if len(found) == count:
                    break
        return found


def _as_is(item: dict[str, Any]) -> dict[str, Any]:
    return item


def _slice(
    items: list[dict[str, Any]] | _Matches, direction: str, anchor: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool, bool]:
    """Return (page, has_previous, has_next) for a cursor position."""
    if isinstance(items, _Matches):
        size = len(items.ids)
        if anchor is None:
            rest = items.first(0, size, 1, limit + 1)
            return rest[:limit], False, len(rest) > limit
        if direction == "next":
            start = bisect.bisect_right(items.ids, anchor)
            rest = items.first(start, size, 1, limit + 1)
            return rest[:limit], bool(items.first(start - 1, -1, -1, 1)), len(rest) > limit
        start = bisect.bisect_left(items.ids, anchor)
        before = items.first(start - 1, -1, -1, limit + 1)
        page = before[:limit][::-1]
        return page, len(before) > limit, bool(items.first(start, size, 1, 1))
    if anchor is None:
        return items[:limit], False, len(items) > limit
    if direction == "next":
        rest = [item for item in items if item["id"] > anchor]
        return rest[:limit], len(rest) < len(items), len(rest) > limit
    before = [item for item in items if item["id"] < anchor]
    return before[-limit:], len(before) > limit, len(before) < len(items)


def _encode_cursor(resource: str, filters: dict[str, str], direction: str, anchor: int) -> str:
    raw = json_bytes({"r": resource, "f": filters, "d": direction, "a": anchor})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str, resource: str) -> tuple[dict[str, str], str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = json.loads(raw)
        if cursor["r"] != resource or cursor["d"] not in ("next", "previous"):
            return None
        return dict(cursor["f"]), cursor["d"], int(cursor["a"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def _clone(value: Any) -> Any:
    """Return a deep copy of JSON-shaped `value`, several times faster than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: _clone(item) for key, item in value.items()}
    if kind is list:
        return [_clone(item) for item in value]
    if value is None or kind in (str, int, float, bool):
        return value
    return copy.deepcopy(value)


def _project(item: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Keep only the comma-separated `fields` of `item` (all when None)."""
    if not fields:
        return _clone(item)
    wanted = {name.strip() for name in fields.split(",")}
    return {key: _clone(value) for key, value in item.items() if key in wanted}


def _field_errors(status: int, /, **messages: str) -> Response:
    """Answer `{"errors": {field: [message]}}`, Shopify's validation shape."""
    return json_response({"errors": {name: [text] for name, text in messages.items()}}, status)
