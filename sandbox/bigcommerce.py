"""A BigCommerce emulator: V2 orders and shipments, V3 inventory, catalog variants and hooks.

Paths live under `/stores/{store_hash}/v2|v3`. Deliberate behaviour worth knowing:

- Empty V2 lists (no matching orders, a page past the end, an order without shipments or
  shipping addresses) answer 204 with an empty body.
- V2 errors are arrays `[{"status","message"}]`; V3 errors are `application/problem+json`.
- The order's `shipping_addresses` link says `shippingaddresses`; both spellings are served.
- Orders with three or more lines send the last line to a second address (a gift recipient).
- Paid digital-only orders are `Completed` (10) at once; paid physical ones wait in
  `Awaiting Fulfillment` (11).
- Inventory adjustments are accepted at once (`transaction_id`) but become visible only after
  `inventory_delay` seconds of clock time, as the live API applies them asynchronously.
- Hooks may point at plain http only on loopback hosts; elsewhere BigCommerce needs https.
"""

from __future__ import annotations

import copy
import email.utils
import hashlib
import hmac
import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from sandbox import seed as seed_data
from sandbox.clock import Clock, parse_datetime
from sandbox.server import (
    LOOPBACK_HOSTS,
    Emulator,
    Request,
    Response,
    WebhookDelivery,
    empty_response,
    field_check,
    json_bytes,
    json_response,
)

# Well-known sandbox credentials, printed by `python -m sandbox bigcommerce`; never real ones.
SANDBOX_STORE_HASH = "sbx123"
SANDBOX_ACCESS_TOKEN = "bc_sandbox_token"  # noqa: S105
STATUSES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
SHIPPING_PROVIDERS = frozenset(
    {
        "",
        "auspost",
        "canadapost",
        "endicia",
        "usps",
        "fedex",
        "royalmail",
        "ups",
        "upsready",
        "shipperhq",
    }
)
SCOPES = frozenset(
    {
        "store/order/*",
        "store/order/created",
        "store/order/updated",
        "store/order/archived",
        "store/order/statusUpdated",
        "store/order/message/created",
        "store/shipment/*",
        "store/shipment/created",
        "store/shipment/updated",
        "store/shipment/deleted",
        "store/product/inventory/updated",
        "store/sku/inventory/updated",
    }
)
PROBLEM_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
ORDER_SORT_FIELDS = (
    "id",
    "customer_id",
    "date_created",
    "date_modified",
    "status_id",
    "channel_id",
)
MAX_LIMIT = 250
MAX_ADJUSTMENT_ITEMS = 2000


def v2_error(status: int, message: str) -> Response:
    """Answer a V2 error: an array of `{"status","message"}`."""
    return json_response([{"status": status, "message": message}], status)


def problem(status: int, title: str, errors: dict[str, str] | None = None) -> Response:
    """Answer a V3 error as `application/problem+json`."""
    return json_response(
        {"status": status, "title": title, "type": PROBLEM_TYPE, "errors": errors or {}},
        status,
        content_type="application/problem+json",
    )


def rfc2822(moment: datetime) -> str:
    """Format `moment` as BigCommerce V2 does: `Fri, 02 Oct 2026 16:20:05 +0000`."""
    return email.utils.format_datetime(moment.astimezone(UTC).replace(microsecond=0)).replace(
        "-0000", "+0000"
    )


def money(amount: Decimal) -> str:
    """Format money with the four decimals V2 uses."""
    return f"{amount:.4f}"


class RateWindow:
    """BigCommerce's per-store quota: `quota` requests per fixed window."""

    def __init__(self, quota: int, window: timedelta, clock: Clock) -> None:
        self.quota = quota
        self.window = window
        self._clock = clock
        self._start = clock.now()
        self.used = 0

    def _roll(self) -> None:
        now = self._clock.now()
        if now >= self._start + self.window:
            self._start, self.used = now, 0

    def take(self) -> bool:
        """Count one request and return True, or return False when the quota is spent."""
        self._roll()
        if self.used >= self.quota:
            return False
        self.used += 1
        return True

    def headers(self) -> dict[str, str]:
        """Return the four rate-limit headers for the current window."""
        self._roll()
        reset = self._start + self.window - self._clock.now()
        return {
            "X-Rate-Limit-Time-Window-Ms": str(int(self.window.total_seconds() * 1000)),
            "X-Rate-Limit-Time-Reset-Ms": str(max(int(reset.total_seconds() * 1000), 0)),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Requests-Left": str(max(self.quota - self.used, 0)),
        }


class BigCommerceEmulator(Emulator):
    """One BigCommerce store with one API account token."""

    name = "bigcommerce"

    def __init__(
        self,
        *,
        store_hash: str = SANDBOX_STORE_HASH,
        access_token: str = SANDBOX_ACCESS_TOKEN,
        store_id: str = "1001",
        rate_limit: bool = True,
        quota: int = 150,
        window_seconds: float = 30.0,
        inventory_delay: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.store_hash = store_hash
        self.access_token = access_token
        self.store_id = store_id
        self.rate_limit = rate_limit
        self.rate_window = RateWindow(quota, timedelta(seconds=window_seconds), self.clock)
        # Platform overload: every request gets a 429 without rate-limit headers.
        self.overloaded = False
        self.inventory_delay = timedelta(seconds=inventory_delay)
        self.orders: dict[int, dict[str, Any]] = {}
        self.order_products: dict[int, dict[str, Any]] = {}
        self.order_addresses: dict[int, dict[str, Any]] = {}
        self.shipments: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.locations: dict[int, dict[str, Any]] = {}
        self.stock: dict[tuple[int, int], int] = {}
        self.inventory_adjustments: list[dict[str, Any]] = []
        self.hooks: dict[int, dict[str, Any]] = {}
        self._ids: dict[str, int] = {}
        self._seed_catalog()
        self._register_routes()

    # -- public helpers ----------------------------------------------------------------------

    def add_order(
        self, spec: seed_data.OrderSpec | None = None, *, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Create an order from `spec` (default: one blue mug, paid); `fields` override keys.

        Fires `store/order/created` to hooks when `notify`. Returns the order as V2 shows it.
        """
        spec = spec or seed_data.OrderSpec()
        with self.lock:
            order = self._build_order(spec)
            order.update(fields)
            payload = self._render_order(order)
        if notify:
            self._deliver([("store/order/created", {"type": "order", "id": payload["id"]})])
        return payload

    def generate_orders(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """Add `count` deterministic seed orders without firing hooks; return them."""
        specs = seed_data.order_specs(count, seed, self.clock.now())
        return [self.add_order(spec, notify=False) for spec in specs]

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change top-level fields (a `status_id` also renames `status`), bump `date_modified`."""
        with self.lock:
            order = self.orders[order_id]
            events = self._change_order(order, fields)
            payload = self._render_order(order)
        self._deliver(events)
        return payload

    def order(self, order_id: int) -> dict[str, Any]:
        """Return one order as V2 shows it."""
        with self.lock:
            return self._render_order(self.orders[order_id])

    def products_of(self, order_id: int) -> list[dict[str, Any]]:
        """Return copies of an order's product lines."""
        with self.lock:
            return [
                copy.deepcopy(p) for p in self.order_products.values() if p["order_id"] == order_id
            ]

    def addresses_of(self, order_id: int) -> list[dict[str, Any]]:
        """Return copies of an order's shipping addresses."""
        with self.lock:
            return [
                self._render_address(a)
                for a in self.order_addresses.values()
                if a["order_id"] == order_id
            ]

    def available(self, sku: str, location_id: int = 1) -> int:
        """Return the visible stock of `sku` at a location (applying due adjustments)."""
        with self.lock:
            self._apply_due_adjustments()
            variant = self._variant_by_sku(sku)
            if variant is None:
                raise KeyError(sku)
            return self.stock[(variant["id"], location_id)]

    def subscribe(
        self, scope: str, destination: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Register an active hook, as `POST /v3/hooks` would."""
        with self.lock:
            return copy.deepcopy(self._new_hook(scope, destination, headers or {}, True))

    def send_webhook(
        self, scope: str, data: dict[str, Any], hook_id: int | None = None
    ) -> list[WebhookDelivery]:
        """POST a BigCommerce callback for `scope` to every matching hook (or only `hook_id`)."""
        with self.lock:
            targets = [
                copy.deepcopy(h)
                for h in self.hooks.values()
                if h["is_active"]
                and (h["id"] == hook_id if hook_id else _scope_matches(h["scope"], scope))
            ]
        attempts: list[WebhookDelivery] = []
        for hook in targets:
            body = json_bytes(
                {
                    "created_at": int(self.clock.now().timestamp()),
                    "store_id": self.store_id,
                    "producer": f"stores/{self.store_hash}",
                    "scope": scope,
                    "hash": hashlib.sha1(json_bytes(data), usedforsecurity=False).hexdigest(),
                    "data": data,
                }
            )
            attempts += self.post_webhook(hook["destination"], body, dict(hook["headers"]))
        return attempts

    def credentials(self) -> dict[str, str]:
        """Return what a client needs to connect: API root, store hash and token."""
        return {
            "api": self.url(f"/stores/{self.store_hash}"),
            "store_hash": self.store_hash,
            "access_token": self.access_token,
        }

    # -- platform hooks ----------------------------------------------------------------------

    def before(self, request: Request) -> Response | None:
        """Refuse a wrong token with 401, an overloaded platform or a spent quota with 429."""
        if self.overloaded:
            return self.throttled_response(request)
        if not hmac.compare_digest(request.header("X-Auth-Token") or "", self.access_token):
            return self.error_response(
                request, 401, "You are not authorized to access this resource. Check X-Auth-Token."
            )
        if self.rate_limit:
            with self.lock:
                admitted = self.rate_window.take()
            if not admitted:
                return self.throttled_response(request)
        return None

    def after(self, request: Request, response: Response) -> None:
        """Show the store's quota on every authenticated answer, except platform overload."""
        if self.overloaded and response.status == 429:
            return
        if self.rate_limit and request.header("X-Auth-Token") == self.access_token:
            with self.lock:
                response.headers.update(self.rate_window.headers())

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Answer a V3 path with problem+json and anything else with a V2 array."""
        if "/v3/" in request.path:
            return problem(status, message)
        return v2_error(status, message)

    def throttled_response(self, request: Request) -> Response:
        """Answer 429 in the version's error shape."""
        return self.error_response(
            request, 429, "Too many requests. Retry after the window resets."
        )

    # -- routes ------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        v2 = f"/stores/{re.escape(self.store_hash)}/v2"
        v3 = f"/stores/{re.escape(self.store_hash)}/v3"
        order = v2 + r"/orders/(?P<id>\d+)"
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", v2 + r"/orders", self._get_orders),
            ("GET", v2 + r"/orders/count", self._get_order_count),
            ("GET", order, self._get_order),
            ("PUT", order, self._put_order),
            ("GET", order + r"/products", self._get_order_products),
            ("GET", order + r"/products/(?P<line>\d+)", self._get_order_product),
            ("GET", order + r"/(?:shipping_addresses|shippingaddresses)", self._get_addresses),
            (
                "GET",
                order + r"/(?:shipping_addresses|shippingaddresses)/(?P<aid>\d+)",
                self._get_address,
            ),
            ("GET", order + r"/shipments", self._get_shipments),
            ("POST", order + r"/shipments", self._post_shipment),
            ("GET", order + r"/shipments/(?P<sid>\d+)", self._get_shipment),
            ("DELETE", order + r"/shipments/(?P<sid>\d+)", self._delete_shipment),
            ("PUT", v3 + r"/inventory/adjustments/absolute", self._adjust_absolute),
            ("GET", v3 + r"/inventory/locations", self._get_locations),
            ("GET", v3 + r"/inventory/locations/(?P<lid>\d+)/items", self._get_location_items),
            ("GET", v3 + r"/catalog/variants", self._get_variants),
            ("GET", v3 + r"/hooks", self._get_hooks),
            ("POST", v3 + r"/hooks", self._post_hook),
            ("GET", v3 + r"/hooks/(?P<id>\d+)", self._get_hook),
            ("PUT", v3 + r"/hooks/(?P<id>\d+)", self._put_hook),
            ("DELETE", v3 + r"/hooks/(?P<id>\d+)", self._delete_hook),
        ]
        for method, path, handler in routes:
            self.route(method, path, handler)

    def _get_orders(self, request: Request) -> Response:
        paging = _v2_paging(request)
        if isinstance(paging, Response):
            return paging
        with self.lock:
            found = self._matching_orders(request)
            if isinstance(found, Response):
                return found
            page, limit = paging
            window = found[(page - 1) * limit : page * limit]
            if not window:
                return empty_response(204)
            return json_response([self._render_order(o) for o in window])

    def _get_order_count(self, request: Request) -> Response:
        with self.lock:
            found = self._matching_orders(request)
            if isinstance(found, Response):
                return found
        statuses = [
            {
                "id": status_id,
                "name": name,
                "system_label": name,
                "custom_label": name,
                "system_description": name,
                "count": sum(1 for o in found if o["status_id"] == status_id),
                "sort_order": status_id,
            }
            for status_id, name in STATUSES.items()
        ]
        return json_response({"statuses": statuses, "count": len(found)})

    def _get_order(self, request: Request) -> Response:
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
            if order is None:
                return _not_found()
            return json_response(self._render_order(order))

    def _put_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        status_id = body.get("status_id")
        if status_id is not None and (not isinstance(status_id, int) or status_id not in STATUSES):
            return v2_error(400, "The field 'status_id' is invalid.")
        allowed = {
            k: body[k] for k in ("status_id", "staff_notes", "customer_message") if k in body
        }
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
            if order is None:
                return _not_found()
            events = self._change_order(order, allowed)
            payload = self._render_order(order)
        self._deliver(events)
        return json_response(payload)

    def _get_order_products(self, request: Request) -> Response:
        paging = _v2_paging(request)
        if isinstance(paging, Response):
            return paging
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _not_found()
            lines = [p for p in self.order_products.values() if p["order_id"] == order_id]
            page, limit = paging
            window = lines[(page - 1) * limit : page * limit]
            if not window:
                return empty_response(204)
            return json_response(copy.deepcopy(window))

    def _get_order_product(self, request: Request) -> Response:
        with self.lock:
            line = self.order_products.get(int(request.params["line"]))
            if line is None or line["order_id"] != int(request.params["id"]):
                return _not_found()
            return json_response(copy.deepcopy(line))

    def _get_addresses(self, request: Request) -> Response:
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _not_found()
            found = [
                self._render_address(a)
                for a in self.order_addresses.values()
                if a["order_id"] == order_id
            ]
        return json_response(found) if found else empty_response(204)

    def _get_address(self, request: Request) -> Response:
        with self.lock:
            address = self.order_addresses.get(int(request.params["aid"]))
            if address is None or address["order_id"] != int(request.params["id"]):
                return _not_found()
            return json_response(self._render_address(address))

    def _get_shipments(self, request: Request) -> Response:
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _not_found()
            found = [copy.deepcopy(s) for s in self.shipments.values() if s["order_id"] == order_id]
        return json_response(found) if found else empty_response(204)

    def _get_shipment(self, request: Request) -> Response:
        with self.lock:
            shipment = self.shipments.get(int(request.params["sid"]))
            if shipment is None or shipment["order_id"] != int(request.params["id"]):
                return _not_found()
            return json_response(copy.deepcopy(shipment))

    def _delete_shipment(self, request: Request) -> Response:
        with self.lock:
            shipment = self.shipments.get(int(request.params["sid"]))
            if shipment is None or shipment["order_id"] != int(request.params["id"]):
                return _not_found()
            del self.shipments[shipment["id"]]
            for item in shipment["items"]:
                self.order_products[item["order_product_id"]]["quantity_shipped"] -= item[
                    "quantity"
                ]
            order = self.orders[shipment["order_id"]]
            # Deleting a shipment leaves the order status alone, as the live store does.
            order["items_shipped"] = self._items_shipped(order["id"])
            order["date_modified"] = rfc2822(self.clock.now())
        return empty_response(204)

    def _post_shipment(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else None
        if body is None:
            return v2_error(400, "The request body is invalid.")
        order_id = int(request.params["id"])
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return _not_found()
            try:
                shipment, events = self._ship(order, body)
            except ShipmentError as error:
                return v2_error(400, str(error))
        self._deliver(events)
        return json_response(shipment, 201)

    def _adjust_absolute(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        items = body.get("items")
        if not isinstance(items, list) or not items:
            return problem(422, "JSON data is missing or invalid", {"items": "items is required."})
        if len(items) > MAX_ADJUSTMENT_ITEMS:
            return problem(
                422,
                "JSON data is missing or invalid",
                {"items": f"No more than {MAX_ADJUSTMENT_ITEMS} items per request."},
            )
        with self.lock:
            resolved, errors = self._resolve_adjustments(items)
            if errors:
                return problem(422, "Inventory adjustment could not be applied", errors)
            transaction_id = str(uuid.uuid4())
            now = self.clock.now()
            self.inventory_adjustments.append(
                {
                    "transaction_id": transaction_id,
                    "reason": body.get("reason", ""),
                    "items": resolved,
                    "received_at": now,
                    "visible_at": now + self.inventory_delay,
                    "applied": False,
                }
            )
            self._apply_due_adjustments()
        return json_response({"transaction_id": transaction_id})

    def _get_locations(self, request: Request) -> Response:
        with self.lock:
            data = copy.deepcopy(list(self.locations.values()))
        return json_response({"data": data, "meta": _v3_meta(request, len(data), 1, 50)})

    def _get_location_items(self, request: Request) -> Response:
        location_id = int(request.params["lid"])
        paging = _v3_paging(request)
        with self.lock:
            if location_id not in self.locations:
                return problem(404, f"Location {location_id} not found.")
            self._apply_due_adjustments()
            skus = set(request.args("sku:in"))
            variant_ids = {v for v in request.args("variant_id:in") if v.isdigit()}
            data = []
            for variant in self.variants.values():
                if skus and variant["sku"] not in skus:
                    continue
                if variant_ids and str(variant["id"]) not in variant_ids:
                    continue
                if self.products[variant["product_id"]]["inventory_tracking"] == "none":
                    continue
                quantity = self.stock[(variant["id"], location_id)]
                data.append(
                    {
                        "identity": {
                            "sku": variant["sku"],
                            "variant_id": variant["id"],
                            "product_id": variant["product_id"],
                            "sku_id": variant["sku_id"],
                        },
                        "available_to_sell": quantity,
                        "total_inventory_onhand": quantity,
                        "settings": {
                            "safety_stock": 0,
                            "is_in_stock": quantity > 0,
                            "warning_level": 0,
                            "bin_picking_number": "",
                        },
                    }
                )
        page, limit = paging
        window = data[(page - 1) * limit : page * limit]
        return json_response({"data": window, "meta": _v3_meta(request, len(data), page, limit)})

    def _get_variants(self, request: Request) -> Response:
        paging = _v3_paging(request)
        skus = set(request.args("sku") + request.args("sku:in"))
        with self.lock:
            self._apply_due_adjustments()
            data = [
                self._render_variant(v)
                for v in self.variants.values()
                if not skus or v["sku"] in skus
            ]
        page, limit = paging
        window = data[(page - 1) * limit : page * limit]
        return json_response({"data": window, "meta": _v3_meta(request, len(data), page, limit)})

    def _get_hooks(self, request: Request) -> Response:
        with self.lock:
            data = copy.deepcopy(list(self.hooks.values()))
        return json_response({"data": data, "meta": _v3_meta(request, len(data), 1, 50)})

    def _get_hook(self, request: Request) -> Response:
        with self.lock:
            hook = self.hooks.get(int(request.params["id"]))
            if hook is None:
                return problem(404, "Webhook not found.")
            return json_response({"data": copy.deepcopy(hook), "meta": {}})

    def _post_hook(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        invalid = _hook_problems(body, creating=True)
        if invalid:
            return problem(422, "Invalid webhook", invalid)
        with self.lock:
            hook = self._new_hook(
                body["scope"],
                body["destination"],
                body.get("headers") or {},
                body.get("is_active", True),
            )
            return json_response({"data": copy.deepcopy(hook), "meta": {}})

    def _put_hook(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        invalid = _hook_problems(body, creating=False)
        if invalid:
            return problem(422, "Invalid webhook", invalid)
        with self.lock:
            hook = self.hooks.get(int(request.params["id"]))
            if hook is None:
                return problem(404, "Webhook not found.")
            for field in ("scope", "destination", "headers", "is_active"):
                if field in body:
                    hook[field] = body[field]
            hook["updated_at"] = int(self.clock.now().timestamp())
            return json_response({"data": copy.deepcopy(hook), "meta": {}})

    def _delete_hook(self, request: Request) -> Response:
        with self.lock:
            hook = self.hooks.pop(int(request.params["id"]), None)
        if hook is None:
            return problem(404, "Webhook not found.")
        return json_response({"data": hook, "meta": {}})

    # -- queries -----------------------------------------------------------------------------

    def _matching_orders(self, request: Request) -> list[dict[str, Any]] | Response:
        checks: list[Callable[[dict[str, Any]], bool]] = [lambda o: not o["is_deleted"]]
        for name, field in (("status_id", "status_id"), ("customer_id", "customer_id")):
            text = request.arg(name)
            if text is None:
                continue
            if not text.isdigit():
                return v2_error(400, f"The field '{name}' is invalid.")
            checks.append(field_check(field, operator.eq, int(text)))
        for name, compare in (("min_id", operator.ge), ("max_id", operator.le)):
            text = request.arg(name)
            if text is None:
                continue
            if not text.isdigit():
                return v2_error(400, f"The field '{name}' is invalid.")
            checks.append(field_check("id", compare, int(text)))
        for name in (
            "min_date_created",
            "max_date_created",
            "min_date_modified",
            "max_date_modified",
        ):
            text = request.arg(name)
            if not text:
                continue
            try:
                bound = parse_datetime(text)
            except ValueError:
                return v2_error(400, f"The field '{name}' is invalid.")
            compare = operator.ge if name.startswith("min_") else operator.le
            checks.append(field_check(name[4:], compare, bound, email.utils.parsedate_to_datetime))
        wanted_email = request.arg("email")
        if wanted_email:
            checks.append(lambda o: o["billing_address"]["email"] == wanted_email)
        sort = request.arg("sort") or "id:asc"
        field, _, direction = sort.partition(":")
        if field not in ORDER_SORT_FIELDS or direction not in ("", "asc", "desc"):
            return v2_error(400, "The field 'sort' is invalid.")
        found = [o for o in self.orders.values() if all(check(o) for check in checks)]
        key: Callable[[dict[str, Any]], Any] = (
            (lambda o: (email.utils.parsedate_to_datetime(o[field]), o["id"]))
            if field.startswith("date_")
            else (lambda o: (o[field], o["id"]))
        )
        return sorted(found, key=key, reverse=direction == "desc")

    # -- building state ----------------------------------------------------------------------

    def _next_id(self, kind: str, start: int) -> int:
        value = self._ids.get(kind, start)
        self._ids[kind] = value + 1
        return value

    def _link(self, path: str) -> dict[str, str]:
        return {"url": self.url(f"/stores/{self.store_hash}/v2{path}"), "resource": path}

    def _render_order(self, order: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(order)
        rendered["products"] = self._link(f"/orders/{order['id']}/products")
        rendered["shipping_addresses"] = self._link(f"/orders/{order['id']}/shippingaddresses")
        rendered["coupons"] = self._link(f"/orders/{order['id']}/coupons")
        return rendered

    def _render_address(self, address: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(address)
        lines = [p for p in self.order_products.values() if p["order_address_id"] == address["id"]]
        rendered["items_total"] = sum(p["quantity"] for p in lines)
        rendered["items_shipped"] = sum(p["quantity_shipped"] for p in lines)
        rendered["shipping_quotes"] = self._link(
            f"/orders/{address['order_id']}/shipping_addresses/{address['id']}/shipping_quotes"
        )
        return rendered

    def _render_variant(self, variant: dict[str, Any]) -> dict[str, Any]:
        rendered = copy.deepcopy(variant)
        rendered["inventory_level"] = sum(
            amount for (variant_id, _), amount in self.stock.items() if variant_id == variant["id"]
        )
        return rendered

    def _variant_by_sku(self, sku: str | None) -> dict[str, Any] | None:
        return next((v for v in self.variants.values() if sku and v["sku"] == sku), None)

    def _seed_catalog(self) -> None:
        for location_id, code, label in (
            (1, "BC-LOCATION-1", "Default location"),
            (2, "EAST", "East warehouse"),
        ):
            self.locations[location_id] = {
                "id": location_id,
                "code": code,
                "label": label,
                "description": "",
                "managed_by_external_source": False,
                "type_id": "PHYSICAL",
                "enabled": True,
                "storefront_visibility": True,
            }
        for position, spec in enumerate(seed_data.CATALOG):
            product_id = 111 + position
            if not spec.requires_shipping or spec.variants[0].sku is None:
                tracking = "none"
            else:
                tracking = "variant" if len(spec.variants) > 1 else "product"
            self.products[product_id] = {
                "id": product_id,
                "name": spec.title,
                "type": "physical" if spec.requires_shipping else "digital",
                "sku": "" if len(spec.variants) > 1 else (spec.variants[0].sku or ""),
                "inventory_tracking": tracking,
            }
            for index, variant_spec in enumerate(spec.variants):
                variant_id = self._next_id("variant", 501)
                self.variants[variant_id] = {
                    "id": variant_id,
                    "product_id": product_id,
                    "sku": variant_spec.sku or "",
                    "sku_id": variant_id + 1000 if len(spec.variants) > 1 else None,
                    "price": float(variant_spec.price),
                    "calculated_price": float(variant_spec.price),
                    "weight": variant_spec.grams / 1000,
                    "option_values": (
                        [
                            {
                                "id": 70 + index,
                                "label": variant_spec.title,
                                "option_display_name": "Option",
                            }
                        ]
                        if len(spec.variants) > 1
                        else []
                    ),
                    "purchasing_disabled": False,
                }
                for location_id in self.locations:
                    self.stock[(variant_id, location_id)] = (
                        (23 + 7 * position + 5 * index) % 50 if location_id == 1 else 3
                    )

    def _build_order(self, spec: seed_data.OrderSpec) -> dict[str, Any]:
        placed = spec.placed_at or self.clock.now()
        order_id = self._next_id("order", 100)
        customer = spec.customer
        addresses: list[dict[str, Any]] = []
        if spec.shipping_address is not None:
            addresses.append(
                self._add_address(order_id, spec.shipping_address, customer.email, spec)
            )
            if len(spec.lines) >= 3 and _ships(spec.lines[-1]):
                recipient = seed_data.CUSTOMERS[(customer.number + 5) % len(seed_data.CUSTOMERS)]
                addresses.append(
                    self._add_address(order_id, recipient.address, recipient.email, spec)
                )
        lines = []
        for index, line in enumerate(spec.lines):
            target = (
                addresses[-1]
                if addresses and index == len(spec.lines) - 1
                else (addresses[0] if addresses else None)
            )
            lines.append(self._add_product_line(order_id, line, target))
        subtotal = seed_data.line_total(spec.lines)
        shipping = spec.ship_method.price if spec.ship_method else Decimal("0")
        total = subtotal + shipping
        billing = customer.address
        order: dict[str, Any] = {
            "id": order_id,
            "customer_id": 0 if customer.number % 4 == 0 else customer.number,
            "date_created": rfc2822(placed),
            "date_modified": rfc2822(placed),
            "date_shipped": "",
            "status_id": 11,
            "status": STATUSES[11],
            "custom_status": STATUSES[11],
            "subtotal_ex_tax": money(subtotal),
            "subtotal_inc_tax": money(subtotal),
            "subtotal_tax": money(Decimal(0)),
            "base_shipping_cost": money(shipping),
            "shipping_cost_ex_tax": money(shipping),
            "shipping_cost_inc_tax": money(shipping),
            "shipping_cost_tax": money(Decimal(0)),
            "handling_cost_ex_tax": money(Decimal(0)),
            "handling_cost_inc_tax": money(Decimal(0)),
            "wrapping_cost_ex_tax": money(Decimal(0)),
            "wrapping_cost_inc_tax": money(Decimal(0)),
            "total_ex_tax": money(total),
            "total_inc_tax": money(total),
            "total_tax": money(Decimal(0)),
            "items_total": sum(line.quantity for line in spec.lines),
            "items_shipped": 0,
            "payment_method": "Credit Card",
            "payment_provider_id": f"pi_{order_id}",
            "payment_status": "captured",
            "refunded_amount": money(Decimal(0)),
            "order_is_digital": spec.shipping_address is None,
            "store_credit_amount": money(Decimal(0)),
            "gift_certificate_amount": money(Decimal(0)),
            "ip_address": "203.0.113.9",
            "geoip_country": billing.country,
            "geoip_country_iso2": billing.country_code,
            "currency_id": 1,
            "currency_code": "USD",
            "currency_exchange_rate": "1.0000000000",
            "default_currency_id": 1,
            "default_currency_code": "USD",
            "store_default_currency_code": "USD",
            "staff_notes": "",
            "customer_message": spec.note,
            "discount_amount": money(Decimal(0)),
            "coupon_discount": money(Decimal(0)),
            "shipping_address_count": len(addresses),
            "is_deleted": False,
            "is_email_opt_in": False,
            "order_source": "www",
            "channel_id": 1,
            "external_source": None,
            "external_id": None,
            "customer_locale": "en",
            "billing_address": {
                "first_name": billing.first_name,
                "last_name": billing.last_name,
                "company": billing.company,
                "street_1": billing.address1,
                "street_2": billing.address2,
                "city": billing.city,
                "state": billing.province,
                "zip": billing.zip,
                "country": billing.country,
                "country_iso2": billing.country_code,
                "phone": billing.phone,
                "email": customer.email,
                "form_fields": [],
            },
        }
        self.orders[order_id] = order
        self._apply_outcome(order, spec, lines, placed)
        return order

    def _add_address(
        self,
        order_id: int,
        address: seed_data.Address,
        email_address: str,
        spec: seed_data.OrderSpec,
    ) -> dict[str, Any]:
        address_id = self._next_id("address", 1)
        method = spec.ship_method
        record = {
            "id": address_id,
            "order_id": order_id,
            "first_name": address.first_name,
            "last_name": address.last_name,
            "company": address.company,
            "street_1": address.address1,
            "street_2": address.address2,
            "city": address.city,
            "zip": address.zip,
            "country": address.country,
            "country_iso2": address.country_code,
            "state": address.province,
            "email": email_address,
            "phone": address.phone,
            "shipping_method": method.title if method else "",
            "base_cost": money(method.price if method else Decimal(0)),
            "cost_ex_tax": money(method.price if method else Decimal(0)),
            "cost_inc_tax": money(method.price if method else Decimal(0)),
            "cost_tax": money(Decimal(0)),
            "shipping_zone_id": 1,
            "shipping_zone_name": "Everywhere",
            "form_fields": [],
        }
        self.order_addresses[address_id] = record
        return record

    def _add_product_line(
        self, order_id: int, line: seed_data.LineSpec, address: dict[str, Any] | None
    ) -> dict[str, Any]:
        found = seed_data.find_variant(line.sku)
        variant = next(
            (
                v
                for v in self.variants.values()
                if found
                and v["sku"] == (line.sku or "")
                and self.products[v["product_id"]]["name"] == found[0].title
            ),
            None,
        )
        price = seed_data.unit_price(line.sku)
        line_id = self._next_id("order_product", 1)
        if found is None or variant is None:
            name, product_id, variant_id, kind = "Hand-made custom item", 0, 0, "physical"
        else:
            product = found[0]
            name = product.title
            product_id, variant_id = variant["product_id"], variant["id"]
            kind = "physical" if product.requires_shipping else "digital"
        record: dict[str, Any] = {
            "id": line_id,
            "order_id": order_id,
            "product_id": product_id,
            "variant_id": variant_id,
            "order_address_id": address["id"] if address and kind == "physical" else 0,
            "name": name,
            "name_customer": name,
            "name_merchant": name,
            "sku": line.sku or "",
            "type": kind,
            "base_price": money(price),
            "price_ex_tax": money(price),
            "price_inc_tax": money(price),
            "price_tax": money(Decimal(0)),
            "base_total": money(price * line.quantity),
            "total_ex_tax": money(price * line.quantity),
            "total_inc_tax": money(price * line.quantity),
            "total_tax": money(Decimal(0)),
            "quantity": line.quantity,
            "quantity_shipped": 0,
            "quantity_refunded": 0,
            "is_refunded": False,
            "refund_amount": money(Decimal(0)),
            "is_bundled_product": False,
            "parent_order_product_id": None,
            "bin_picking_number": "",
            "product_options": [],
            "applied_discounts": [],
            "configurable_fields": [],
        }
        self.order_products[line_id] = record
        return record

    def _apply_outcome(
        self,
        order: dict[str, Any],
        spec: seed_data.OrderSpec,
        lines: list[dict[str, Any]],
        placed: datetime,
    ) -> None:
        later = min(placed + timedelta(hours=20), self.clock.now())
        if spec.outcome == "pending":
            self._set_status(order, 7, placed)
            order["payment_status"] = ""
        elif spec.outcome == "cancelled":
            self._set_status(order, 5, min(placed + timedelta(hours=2), self.clock.now()))
            order["payment_status"] = "void"
        elif spec.outcome in ("refunded", "partially_refunded"):
            refunded = Decimal(0)
            for record, wanted in zip(lines, spec.lines, strict=True):
                quantity = record["quantity"] if spec.outcome == "refunded" else wanted.refunded
                if quantity:
                    record["quantity_refunded"] = quantity
                    record["is_refunded"] = quantity == record["quantity"]
                    amount = Decimal(record["base_price"]) * quantity
                    record["refund_amount"] = money(amount)
                    refunded += amount
            order["refunded_amount"] = money(refunded)
            full = spec.outcome == "refunded"
            order["payment_status"] = "refunded" if full else "partially refunded"
            self._set_status(order, 4 if full else 14, later)
        elif spec.outcome == "fulfilled":
            for address in [
                a for a in self.order_addresses.values() if a["order_id"] == order["id"]
            ]:
                items = [
                    {"order_product_id": p["id"], "quantity": p["quantity"]}
                    for p in lines
                    if p["order_address_id"] == address["id"]
                ]
                if not items:
                    continue
                body = {
                    "order_address_id": address["id"],
                    "items": items,
                    "tracking_number": f"1Z999AA1{order['id']:010d}",
                    "shipping_provider": "ups",
                }
                self._ship(order, body, at=later)
            if order["order_is_digital"]:
                self._set_status(order, 10, later)
        elif order["order_is_digital"]:
            self._set_status(order, 10, later)

    def _set_status(self, order: dict[str, Any], status_id: int, at: datetime) -> None:
        order["status_id"] = status_id
        order["status"] = order["custom_status"] = STATUSES[status_id]
        order["date_modified"] = rfc2822(at)

    def _change_order(
        self, order: dict[str, Any], fields: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        previous = order["status_id"]
        order.update(fields)
        now = self.clock.now()
        if "status_id" in fields:
            self._set_status(order, fields["status_id"], now)
        order["date_modified"] = rfc2822(now)
        events: list[tuple[str, dict[str, Any]]] = [
            ("store/order/updated", {"type": "order", "id": order["id"]})
        ]
        if order["status_id"] != previous:
            events.append(
                (
                    "store/order/statusUpdated",
                    {
                        "type": "order",
                        "id": order["id"],
                        "status": {
                            "previous_status_id": previous,
                            "new_status_id": order["status_id"],
                        },
                    },
                )
            )
        return events

    def _items_shipped(self, order_id: int) -> int:
        return sum(
            p["quantity_shipped"] for p in self.order_products.values() if p["order_id"] == order_id
        )

    def _ship(
        self, order: dict[str, Any], body: dict[str, Any], at: datetime | None = None
    ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        """Record a shipment after validating address, items and tracking; move the status."""
        at = at or self.clock.now()
        address_id = _as_int(body.get("order_address_id"))
        if body.get("order_address_id") in (None, ""):
            raise ShipmentError("The required field 'order_address_id' was not supplied.")
        address = self.order_addresses.get(address_id) if address_id is not None else None
        if address is None or address["order_id"] != order["id"]:
            raise ShipmentError("The field 'order_address_id' is invalid.")
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise ShipmentError("The required field 'items' was not supplied.")
        tracking_number = str(body.get("tracking_number") or "")
        if len(tracking_number) > 50:
            raise ShipmentError("The field 'tracking_number' is invalid: at most 50 characters.")
        if len(str(body.get("tracking_link") or "")) > 500:
            raise ShipmentError("The field 'tracking_link' is invalid: at most 500 characters.")
        provider = str(body.get("shipping_provider") or "")
        if provider not in SHIPPING_PROVIDERS and not re.fullmatch(r"carrier_\d+", provider):
            raise ShipmentError("The field 'shipping_provider' is invalid.")
        wanted: dict[int, int] = {}
        for item in items:
            line_id = _as_int(item.get("order_product_id")) if isinstance(item, dict) else None
            quantity = item.get("quantity") if isinstance(item, dict) else None
            line = self.order_products.get(line_id) if line_id is not None else None
            if line is None or line["order_id"] != order["id"]:
                raise ShipmentError("The field 'order_product_id' is invalid.")
            if line["order_address_id"] != address["id"]:
                raise ShipmentError(
                    f"Order product {line_id} does not ship to order address {address['id']}."
                )
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise ShipmentError("The field 'quantity' is invalid.")
            wanted[line["id"]] = wanted.get(line["id"], 0) + quantity
            remaining = line["quantity"] - line["quantity_shipped"] - line["quantity_refunded"]
            if wanted[line["id"]] > remaining:
                raise ShipmentError(
                    "The quantity specified is greater than the quantity of the product that "
                    "is available to ship."
                )
        for line_id, quantity in wanted.items():
            self.order_products[line_id]["quantity_shipped"] += quantity
        shipment_id = self._next_id("shipment", 1)
        shipment = {
            "id": shipment_id,
            "order_id": order["id"],
            "customer_id": order["customer_id"],
            "order_address_id": address["id"],
            "date_created": rfc2822(at),
            "tracking_number": tracking_number,
            "merchant_shipping_cost": money(Decimal(0)),
            "shipping_method": address["shipping_method"],
            "comments": str(body.get("comments") or ""),
            "shipping_provider": provider,
            "tracking_carrier": str(body.get("tracking_carrier") or ""),
            "tracking_link": str(body.get("tracking_link") or ""),
            "billing_address": copy.deepcopy(order["billing_address"]),
            "shipping_address": self._render_address(address),
            "items": [
                {
                    "order_product_id": line_id,
                    "product_id": self.order_products[line_id]["product_id"],
                    "quantity": quantity,
                }
                for line_id, quantity in wanted.items()
            ],
        }
        self.shipments[shipment_id] = shipment
        previous = order["status_id"]
        order["items_shipped"] = self._items_shipped(order["id"])
        physical = [
            p
            for p in self.order_products.values()
            if p["order_id"] == order["id"] and p["type"] == "physical"
        ]
        done = all(
            p["quantity_shipped"] >= p["quantity"] - p["quantity_refunded"] for p in physical
        )
        self._set_status(order, 2 if done else 3, at)
        order["date_shipped"] = rfc2822(at)
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "store/shipment/created",
                {"type": "shipment", "id": shipment_id, "orderId": order["id"]},
            ),
            ("store/order/updated", {"type": "order", "id": order["id"]}),
        ]
        if order["status_id"] != previous:
            events.append(
                (
                    "store/order/statusUpdated",
                    {
                        "type": "order",
                        "id": order["id"],
                        "status": {
                            "previous_status_id": previous,
                            "new_status_id": order["status_id"],
                        },
                    },
                )
            )
        return copy.deepcopy(shipment), events

    def _resolve_adjustments(self, items: list[Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        resolved, errors = [], {}
        for index, item in enumerate(items):
            where = f"items.{index}"
            if not isinstance(item, dict):
                errors[where] = "Each item must be an object."
                continue
            location_id = item.get("location_id")
            if location_id not in self.locations:
                errors[f"{where}.location_id"] = f"Location {location_id} does not exist."
                continue
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                errors[f"{where}.quantity"] = "Quantity must be a whole number of at least 0."
                continue
            variant, error = self._identify(item)
            if variant is None:
                errors[f"{where}.{error[0]}"] = error[1]
                continue
            resolved.append(
                {
                    "location_id": location_id,
                    "variant_id": variant["id"],
                    "sku": variant["sku"],
                    "quantity": quantity,
                }
            )
        return resolved, errors

    def _identify(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, str]]:
        """Find the variant an adjustment item names, checking the product's tracking level."""
        if "sku" in item:
            variant = self._variant_by_sku(str(item["sku"]))
            if variant is None:
                return None, ("sku", f"SKU {item['sku']!r} does not exist.")
        elif "variant_id" in item:
            variant = (
                self.variants.get(item["variant_id"])
                if isinstance(item["variant_id"], int)
                else None
            )
            if variant is None:
                return None, ("variant_id", f"Variant {item['variant_id']} does not exist.")
        elif "product_id" in item:
            product = (
                self.products.get(item["product_id"])
                if isinstance(item["product_id"], int)
                else None
            )
            if product is None:
                return None, ("product_id", f"Product {item['product_id']} does not exist.")
            if product["inventory_tracking"] == "variant":
                return None, (
                    "product_id",
                    "This product tracks inventory by variant; adjust its variants.",
                )
            variant = next(v for v in self.variants.values() if v["product_id"] == product["id"])
        else:
            return None, ("sku", "One of sku, variant_id or product_id is required.")
        tracking = self.products[variant["product_id"]]["inventory_tracking"]
        if tracking == "none":
            return None, ("sku", "Inventory tracking is off for this product.")
        return variant, ("", "")

    def _apply_due_adjustments(self) -> None:
        now = self.clock.now()
        for adjustment in self.inventory_adjustments:
            if adjustment["applied"] or adjustment["visible_at"] > now:
                continue
            for item in adjustment["items"]:
                self.stock[(item["variant_id"], item["location_id"])] = item["quantity"]
            adjustment["applied"] = True

    # -- webhooks ----------------------------------------------------------------------------

    def _new_hook(
        self, scope: str, destination: str, headers: dict[str, str], is_active: bool
    ) -> dict[str, Any]:
        if scope not in SCOPES:
            raise ValueError(f"unknown BigCommerce webhook scope {scope!r}")
        hook_id = self._next_id("hook", 20_000_001)
        now = int(self.clock.now().timestamp())
        hook = {
            "id": hook_id,
            "client_id": "sandbox-client",
            "store_hash": self.store_hash,
            "scope": scope,
            "destination": destination,
            "headers": dict(headers),
            "is_active": bool(is_active),
            "events_history_enabled": False,
            "created_at": now,
            "updated_at": now,
        }
        self.hooks[hook_id] = hook
        return hook

    def _deliver(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Send each (scope, data) to matching hooks; call without holding the lock."""
        for scope, data in events:
            self.send_webhook(scope, data)


class ShipmentError(Exception):
    """A shipment the store refuses; the message becomes the V2 error."""


def _ships(line: seed_data.LineSpec) -> bool:
    """Return whether a line is physical (custom items are)."""
    found = seed_data.find_variant(line.sku)
    return found is None or found[0].requires_shipping


def _scope_matches(subscribed: str, scope: str) -> bool:
    if subscribed.endswith("/*"):
        return scope.startswith(subscribed[:-1])
    return subscribed == scope


def _hook_problems(body: dict[str, Any], *, creating: bool) -> dict[str, str]:
    problems = {}
    if (creating or "scope" in body) and body.get("scope") not in SCOPES:
        problems["scope"] = "scope is required and must be a known webhook scope."
    if creating or "destination" in body:
        parts = urlsplit(str(body.get("destination") or ""))
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if not (parts.scheme == "https" and parts.hostname) and not loopback:
            problems["destination"] = "destination must be an https URL."
    if "headers" in body and not isinstance(body["headers"], dict):
        problems["headers"] = "headers must be an object of strings."
    return problems


def _v2_paging(request: Request) -> tuple[int, int] | Response:
    page_text, limit_text = request.arg("page", "1") or "1", request.arg("limit", "50") or "50"
    if not page_text.isdigit() or int(page_text) < 1:
        return v2_error(400, "The field 'page' is invalid.")
    if not limit_text.isdigit() or int(limit_text) < 1:
        return v2_error(400, "The field 'limit' is invalid.")
    if int(limit_text) > MAX_LIMIT:
        return v2_error(413, f"The maximum limit is {MAX_LIMIT}.")
    return int(page_text), int(limit_text)


def _v3_paging(request: Request) -> tuple[int, int]:
    page_text, limit_text = request.arg("page", "1") or "1", request.arg("limit", "50") or "50"
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    limit = int(limit_text) if limit_text.isdigit() and int(limit_text) > 0 else 50
    return page, min(limit, MAX_LIMIT)


def _v3_meta(request: Request, total: int, page: int, limit: int) -> dict[str, Any]:
    pages = max(-(-total // limit), 1)
    links = {"current": "?" + urlencode({"page": page, "limit": limit})}
    if page > 1:
        links["previous"] = "?" + urlencode({"page": page - 1, "limit": limit})
    if page < pages:
        links["next"] = "?" + urlencode({"page": page + 1, "limit": limit})
    count = max(min(limit, total - (page - 1) * limit), 0)
    return {
        "pagination": {
            "total": total,
            "count": count,
            "per_page": limit,
            "current_page": page,
            "total_pages": pages,
            "links": links,
        }
    }


def _as_int(value: Any) -> int | None:
    """Accept ids sent as numbers or numeric strings, as BigCommerce's docs do."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _not_found() -> Response:
    return v2_error(404, "The requested resource was not found.")
