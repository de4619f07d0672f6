"""A WooCommerce REST v3 emulator: orders, notes, products with variations, tracking, webhooks.

Routes live under `/wp-json/wc/v3`; the Shipment Tracking extension under its own namespace
(default `wc-shipment-tracking/v3`). Deliberate behaviour worth knowing:

- Authentication: by default the emulator behaves like a site on HTTPS and accepts HTTP Basic
  (consumer key:secret) and `consumer_key`/`consumer_secret` query parameters even though it is
  served over plain http. Real WooCommerce only accepts those when `is_ssl()`; pass
  `basic_auth_over_http=False` to get that: Basic and query keys are ignored (the request is
  anonymous, so 401 `woocommerce_rest_cannot_view`) and only OAuth 1.0a one-legged signatures
  (HMAC-SHA1/-SHA256, key `secret&`, 15-minute timestamp window, single-use nonces) work.
- Dates: `date_created` is site-local without an offset, `date_created_gmt` is UTC.
- Line `price` is a JSON number although the schema says string; `sku` may be `""`,
  `variation_id` is 0 for simple products, names carry HTML entities (`&ndash;`, `&amp;`).
- Digital-only paid orders are `completed` at once, as WooCommerce does for virtual goods.
- Partially refunded orders stay `processing` with a non-empty `refunds[]`.
- Stock writes are ignored unless the product or variation manages stock.
- Creating an active webhook first POSTs an unsigned form-encoded ping `webhook_id=N`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

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

# Well-known sandbox credentials, printed by `python -m sandbox woocommerce`; never real ones.
SANDBOX_CONSUMER_KEY = "ck_sandbox0000000000000000000000000000000"
SANDBOX_CONSUMER_SECRET = "cs_sandbox0000000000000000000000000000000"  # noqa: S105
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
)
TOPICS = frozenset(
    f"{resource}.{event}"
    for resource in ("order", "product", "customer", "coupon")
    for event in ("created", "updated", "deleted", "restored")
)
TRACKING_PROVIDERS = {
    "United States (US)": {
        "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
        "UPS": "https://www.ups.com/track?loc=en_US&tracknum=%1$s",
        "FedEx": "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=%1$s",
        "DHL US": "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id=%1$s",
    },
    "Canada": {
        "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=%1$s",
    },
    "Germany": {
        "DHL Intraship (DE)": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=%1$s",
        "DPD.de": "https://tracking.dpd.de/parcelstatus?query=%1$s&locale=en_DE",
    },
}
MAX_PER_PAGE = 100
MAX_BATCH = 100
OAUTH_WINDOW = timedelta(minutes=15)
WC = "/wp-json/wc/v3"


def wp_error(code: str, message: str, status: int, **data: Any) -> Response:
    """Answer a WordPress REST error `{"code","message","data":{"status",...}}`."""
    return json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status
    )


def invalid_param(name: str, reason: str) -> Response:
    """Answer WordPress's 400 for one invalid request argument."""
    return wp_error(
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        400,
        params={name: reason},
        details={name: {"code": "rest_invalid_param", "message": reason, "data": None}},
    )


def missing_param(name: str) -> Response:
    """Answer WordPress's 400 for a required argument that is absent."""
    return wp_error(
        "rest_missing_callback_param", f"Missing parameter(s): {name}", 400, params=[name]
    )


def entities(text: str) -> str:
    """Encode `text` as WordPress stores titles: `&` and typographic dashes as entities."""
    encoded = html.escape(text, quote=False)
    return encoded.replace("–", "&ndash;").replace("«", "&laquo;").replace("»", "&raquo;")  # noqa: RUF001


class WooCommerceEmulator(Emulator):
    """One WooCommerce site with one REST API key."""

    name = "woocommerce"

    def __init__(
        self,
        *,
        consumer_key: str = SANDBOX_CONSUMER_KEY,
        consumer_secret: str = SANDBOX_CONSUMER_SECRET,
        permissions: str = "read_write",
        basic_auth_over_http: bool = True,
        tracking_enabled: bool = True,
        tracking_namespace: str = "wc-shipment-tracking/v3",
        ping_webhooks: bool = True,
        utc_offset: timedelta = timedelta(hours=-4),
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if permissions not in ("read", "write", "read_write"):
            raise ValueError("permissions must be read, write or read_write")
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.permissions = permissions
        self.basic_auth_over_http = basic_auth_over_http
        self.tracking_enabled = tracking_enabled
        self.tracking_namespace = tracking_namespace.strip("/")
        self.ping_webhooks = ping_webhooks
        self.tz = timezone(utc_offset)
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.trackings: dict[int, list[dict[str, Any]]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.stock_updates: list[dict[str, Any]] = []
        self.webhooks: dict[int, dict[str, Any]] = {}
        self._webhook_secrets: dict[int, str] = {}
        self._used_nonces: dict[str, datetime] = {}
        self._ids: dict[str, int] = {}
        self._seed_catalog()
        self._register_routes()

    # -- public helpers ----------------------------------------------------------------------

    def add_order(
        self, spec: seed_data.OrderSpec | None = None, *, notify: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Create an order from `spec` (default: one blue mug, paid); `fields` override keys.

        Fires `order.created` to webhooks when `notify`. Returns a copy of the order.
        """
        spec = spec or seed_data.OrderSpec()
        with self.lock:
            order = self._build_order(spec)
            order.update(fields)
            payload = copy.deepcopy(order)
        if notify:
            self._deliver([("order.created", payload)])
        return payload

    def generate_orders(self, count: int, seed: int = 0) -> list[dict[str, Any]]:
        """Add `count` deterministic seed orders without firing webhooks; return copies."""
        specs = seed_data.order_specs(count, seed, self.clock.now())
        return [self.add_order(spec, notify=False) for spec in specs]

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change top-level order fields, bump `date_modified` and fire `order.updated`."""
        with self.lock:
            order = self.orders[order_id]
            order.update(fields)
            self._touch(order, self.clock.now())
            payload = copy.deepcopy(order)
        self._deliver([("order.updated", payload)])
        return payload

    def order(self, order_id: int) -> dict[str, Any]:
        """Return a copy of one order as the API shows it."""
        with self.lock:
            return copy.deepcopy(self.orders[order_id])

    def product_by_sku(self, sku: str) -> dict[str, Any]:
        """Return a copy of the product or variation with `sku`; KeyError when none."""
        with self.lock:
            for product in self.products.values():
                if product["sku"] == sku:
                    return copy.deepcopy(product)
        raise KeyError(sku)

    def subscribe(
        self, topic: str, delivery_url: str, secret: str = "", name: str = ""
    ) -> dict[str, Any]:
        """Register an active webhook as `POST /webhooks` would (pings it when enabled)."""
        with self.lock:
            webhook = self._new_webhook(topic, delivery_url, secret, name)
            payload = copy.deepcopy(webhook)
        if self.ping_webhooks:
            self._ping(payload)
        return payload

    def send_webhook(
        self, topic: str, payload: Any, webhook_id: int | None = None
    ) -> list[WebhookDelivery]:
        """POST `payload` signed with each matching webhook's secret (or only `webhook_id`)."""
        with self.lock:
            targets = [
                (w["id"], w["delivery_url"], self._webhook_secrets[w["id"]])
                for w in self.webhooks.values()
                if w["status"] == "active"
                and (w["id"] == webhook_id or (webhook_id is None and w["topic"] == topic))
            ]
        body = json_bytes(payload)
        attempts: list[WebhookDelivery] = []
        for hook_id, url, secret in targets:
            attempts += self.post_webhook(
                url, body, self.webhook_headers(topic, body, hook_id, secret)
            )
        return attempts

    def webhook_headers(
        self, topic: str, body: bytes, webhook_id: int, secret: str
    ) -> dict[str, str]:
        """Return the headers WooCommerce sends with a delivery whose raw body is `body`."""
        resource, _, event = topic.partition(".")
        signature = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        with self.lock:
            delivery_id = self._next_id("delivery", 1)
        return {
            "User-Agent": "WooCommerce/9.3.0 Hookshot (WordPress/6.6.2)",
            "X-WC-Webhook-Source": f"{self.base_url}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": str(delivery_id),
        }

    def credentials(self) -> dict[str, str]:
        """Return what a client needs to connect: API root and the key pair."""
        return {
            "api": self.url("/wp-json/wc/v3"),
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "tracking_api": self.url(f"/wp-json/{self.tracking_namespace}"),
        }

    # -- platform hooks ----------------------------------------------------------------------

    def before(self, request: Request) -> Response | None:
        """Authenticate like WC_REST_Authentication, then check the key's permissions."""
        outcome = self._authenticate(request)
        if isinstance(outcome, Response):
            return outcome
        if not request.routed:
            return None
        if not outcome:
            return _cannot(request)
        writing = request.method in ("POST", "PUT", "PATCH", "DELETE")
        if writing and self.permissions == "read":
            return wp_error(
                "woocommerce_rest_authentication_error",
                "The API key provided does not have write permissions.",
                401,
            )
        if not writing and self.permissions == "write":
            return wp_error(
                "woocommerce_rest_authentication_error",
                "The API key provided does not have read permissions.",
                401,
            )
        return None

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Answer in WordPress's shape; an unknown route or method is `rest_no_route` 404."""
        if status in (404, 405):
            return _no_route()
        if status == 400:
            return wp_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if status == 500:
            return wp_error(
                "internal_server_error",
                "<p>There has been a critical error on this website.</p>",
                500,
            )
        return wp_error(f"http_{status}", message, status)

    # -- authentication ----------------------------------------------------------------------

    def _authenticate(self, request: Request) -> bool | Response:
        """Return True for the site's key, False for an anonymous request, or a 401."""
        if self.basic_auth_over_http:
            key, secret = _query_or_basic_credentials(request)
            if key and secret:
                if not hmac.compare_digest(key, self.consumer_key):
                    return False
                if not hmac.compare_digest(secret, self.consumer_secret):
                    return wp_error(
                        "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
                    )
                return True
        return self._authenticate_oauth(request)

    def _authenticate_oauth(self, request: Request) -> bool | Response:
        params = {name: values[-1] for name, values in request.query.items()}
        if isinstance(request.body, dict) and "form-urlencoded" in (
            request.header("Content-Type") or ""
        ):
            params.update({k: str(v) for k, v in request.body.items()})
        params.update(_oauth_header(request.header("Authorization") or ""))
        required = (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        )
        missing = [name for name in required if not params.get(name)]
        if len(missing) == len(required):
            return False
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            return wp_error(
                "woocommerce_rest_authentication_missing_parameter",
                f"Missing OAuth {noun} {', '.join(missing)}",
                401,
            )
        if not hmac.compare_digest(params["oauth_consumer_key"], self.consumer_key):
            return _auth_error("Consumer key is invalid.")
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return _auth_error("Invalid signature - signature method is invalid.")
        expected = oauth_signature(
            request.method, self.url(request.path), params, self.consumer_secret
        )
        given = unquote(params["oauth_signature"].replace(" ", "+"))
        if not hmac.compare_digest(expected, given):
            return _auth_error("Invalid signature - provided signature does not match.")
        now = self.clock.now()
        try:
            stamp = datetime.fromtimestamp(int(params["oauth_timestamp"]), UTC)
        except ValueError:
            return _auth_error("Invalid timestamp.")
        if abs(now - stamp) > OAUTH_WINDOW:
            return _auth_error("Invalid timestamp.")
        with self.lock:
            self._used_nonces = {
                n: at for n, at in self._used_nonces.items() if now - at <= OAUTH_WINDOW
            }
            if params["oauth_nonce"] in self._used_nonces:
                return _auth_error("Invalid nonce - nonce has already been used.")
            self._used_nonces[params["oauth_nonce"]] = stamp
        return True

    # -- routes ------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", WC + r"/orders", self._get_orders),
            ("GET", WC + r"/orders/(?P<id>\d+)", self._get_order),
            ("PUT", WC + r"/orders/(?P<id>\d+)", self._put_order),
            ("GET", WC + r"/orders/(?P<id>\d+)/notes", self._get_notes),
            ("POST", WC + r"/orders/(?P<id>\d+)/notes", self._post_note),
            ("GET", WC + r"/products", self._get_products),
            ("POST", WC + r"/products/batch", self._batch_products),
            ("GET", WC + r"/products/(?P<id>\d+)", self._get_product),
            ("PUT", WC + r"/products/(?P<id>\d+)", self._put_product),
            ("GET", WC + r"/products/(?P<pid>\d+)/variations", self._get_variations),
            ("POST", WC + r"/products/(?P<pid>\d+)/variations/batch", self._batch_variations),
            ("GET", WC + r"/products/(?P<pid>\d+)/variations/(?P<id>\d+)", self._get_variation),
            ("PUT", WC + r"/products/(?P<pid>\d+)/variations/(?P<id>\d+)", self._put_variation),
            ("GET", WC + r"/webhooks", self._get_webhooks),
            ("POST", WC + r"/webhooks", self._post_webhook),
            ("GET", WC + r"/webhooks/(?P<id>\d+)", self._get_webhook),
            ("DELETE", WC + r"/webhooks/(?P<id>\d+)", self._delete_webhook),
        ]
        tracking = "/wp-json/" + re.escape(self.tracking_namespace)
        trackings = tracking + r"/orders/(?P<id>\d+)/shipment-trackings"
        routes += [
            ("GET", trackings, self._get_trackings),
            ("POST", trackings, self._post_tracking),
            ("GET", trackings + r"/providers", self._get_providers),
            ("GET", tracking + r"/shipment-trackings/providers", self._get_providers),
            ("GET", trackings + r"/(?P<tracking_id>[0-9a-f]+)", self._get_tracking),
            ("DELETE", trackings + r"/(?P<tracking_id>[0-9a-f]+)", self._delete_tracking),
        ]
        for method, path, handler in routes:
            self.route(method, path, handler)

    def _get_orders(self, request: Request) -> Response:
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        statuses = request.args("status") or ["any"]
        unknown = [s for s in statuses if s != "any" and s not in ORDER_STATUSES]
        if unknown:
            return invalid_param(
                "status", f"status[0] is not one of any, {', '.join(ORDER_STATUSES)}."
            )
        gmt = (request.arg("dates_are_gmt") or "").lower() in ("1", "true")
        checks: list[Callable[[dict[str, Any]], bool]] = []
        for name, field, compare in (
            ("after", "date_created_gmt", operator.gt),
            ("before", "date_created_gmt", operator.lt),
            ("modified_after", "date_modified_gmt", operator.gt),
            ("modified_before", "date_modified_gmt", operator.lt),
        ):
            text = request.arg(name)
            if not text:
                continue
            try:
                bound = parse_datetime(text, UTC if gmt else self.tz)
            except ValueError:
                return invalid_param(name, "Invalid date.")
            checks.append(field_check(field, compare, bound, _parse_gmt))
        if "any" not in statuses:
            checks.append(lambda o: o["status"] in statuses)
        else:
            checks.append(lambda o: o["status"] != "trash")
        try:
            include = {int(v) for v in request.args("include")}
            exclude = {int(v) for v in request.args("exclude")}
            customer_text = request.arg("customer")
            customer = int(customer_text) if customer_text else None
        except ValueError:
            return invalid_param("include", "include[0] is not of type integer.")
        if include:
            checks.append(lambda o: o["id"] in include)
        if exclude:
            checks.append(lambda o: o["id"] not in exclude)
        if customer is not None:
            checks.append(lambda o: o["customer_id"] == customer)
        order_by = request.arg("orderby") or "date"
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "date": lambda o: (o["date_created_gmt"], o["id"]),
            "id": lambda o: o["id"],
            "include": lambda o: o["id"],
            "modified": lambda o: (o["date_modified_gmt"], o["id"]),
            "title": lambda o: o["id"],
            "slug": lambda o: o["id"],
        }
        if order_by not in keys:
            return invalid_param("orderby", f"orderby is not one of {', '.join(keys)}.")
        direction = request.arg("order") or "desc"
        if direction not in ("asc", "desc"):
            return invalid_param("order", "order is not one of asc, desc.")
        with self.lock:
            found = [o for o in self.orders.values() if all(check(o) for check in checks)]
            found.sort(key=keys[order_by], reverse=direction == "desc")
            return self._page_of(request, found, paging)

    def _get_order(self, request: Request) -> Response:
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
            if order is None:
                return _invalid_order()
            return json_response(copy.deepcopy(order))

    def _put_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        status = body.get("status")
        if status is not None and status not in ORDER_STATUSES:
            return invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
            if order is None:
                return _invalid_order()
            now = self.clock.now()
            for field in ("customer_note", "transaction_id"):
                if field in body:
                    order[field] = body[field]
            for field in ("billing", "shipping"):
                if isinstance(body.get(field), dict):
                    order[field].update(body[field])
            if isinstance(body.get("meta_data"), list):
                _merge_meta(order, body["meta_data"], lambda: self._next_id("meta", 9001))
            if status is not None and status != order["status"]:
                self._set_status(order, status, now)
            self._touch(order, now)
            payload = copy.deepcopy(order)
        self._deliver([("order.updated", payload)])
        return json_response(payload)

    def _get_notes(self, request: Request) -> Response:
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _invalid_order()
            return json_response(copy.deepcopy(list(reversed(self.notes.get(order_id, [])))))

    def _post_note(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("note"):
            return missing_param("note")
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _invalid_order()
            now = self.clock.now()
            note = {
                "id": self._next_id("note", 501),
                "author": "WooCommerce" if not body.get("added_by_user") else "shop-manager",
                "date_created": self._local(now),
                "date_created_gmt": _gmt(now),
                "note": str(body["note"]),
                "customer_note": bool(body.get("customer_note", False)),
            }
            self.notes.setdefault(order_id, []).append(note)
            return json_response(copy.deepcopy(note), 201)

    def _get_products(self, request: Request) -> Response:
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        skus = set(request.args("sku"))
        with self.lock:
            if skus:
                # The SKU filter searches variations too, returning them in product shape.
                found = [p for p in self.products.values() if p["sku"] in skus]
            else:
                found = [p for p in self.products.values() if p["type"] != "variation"]
            if request.arg("type"):
                found = [p for p in found if p["type"] == request.arg("type")]
            found.sort(key=lambda p: p["id"], reverse=(request.arg("order") or "desc") == "desc")
            return self._page_of(request, found, paging)

    def _get_product(self, request: Request) -> Response:
        with self.lock:
            product = self.products.get(int(request.params["id"]))
            if product is None:
                return _invalid_product()
            return json_response(copy.deepcopy(product))

    def _put_product(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        with self.lock:
            product = self.products.get(int(request.params["id"]))
            if product is None or product["type"] == "variation":
                return _invalid_product()
            result = self._update_stock(product, body)
            payload = copy.deepcopy(product)
        if isinstance(result, Response):
            return result
        self._deliver([("product.updated", payload)])
        return json_response(payload)

    def _get_variations(self, request: Request) -> Response:
        paging = _paging(request)
        if isinstance(paging, Response):
            return paging
        with self.lock:
            parent = self.products.get(int(request.params["pid"]))
            if parent is None:
                return _invalid_product()
            found = [self.products[v] for v in parent["variations"]]
            return self._page_of(request, found, paging)

    def _get_variation(self, request: Request) -> Response:
        with self.lock:
            variation = self._variation(request)
            if variation is None:
                return _invalid_product()
            return json_response(copy.deepcopy(variation))

    def _put_variation(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        with self.lock:
            variation = self._variation(request)
            if variation is None:
                return _invalid_product()
            result = self._update_stock(variation, body)
            payload = copy.deepcopy(variation)
        if isinstance(result, Response):
            return result
        self._deliver([("product.updated", payload)])
        return json_response(payload)

    def _batch_products(self, request: Request) -> Response:
        return self._batch(request, parent_id=None)

    def _batch_variations(self, request: Request) -> Response:
        with self.lock:
            if int(request.params["pid"]) not in self.products:
                return _invalid_product()
        return self._batch(request, parent_id=int(request.params["pid"]))

    def _batch(self, request: Request, parent_id: int | None) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        sections = {name: body.get(name) or [] for name in ("create", "update", "delete")}
        if not all(isinstance(items, list) for items in sections.values()):
            return invalid_param("update", "update is not of type array.")
        if sum(len(items) for items in sections.values()) > MAX_BATCH:
            return wp_error(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {MAX_BATCH} items for this request.",
                413,
            )
        result: dict[str, list[dict[str, Any]]] = {}
        events: list[tuple[str, Any]] = []
        with self.lock:
            updated = []
            for item in sections["update"]:
                updated.append(self._batch_update(item, parent_id, events))
            if sections["update"]:
                result["update"] = updated
            for name in ("create", "delete"):
                if sections[name]:
                    result[name] = [
                        _batch_item_error(
                            item, "sandbox_not_supported", f"Batch {name} is not emulated.", 501
                        )
                        for item in sections[name]
                    ]
        self._deliver(events)
        return json_response(result)

    def _batch_update(
        self, item: Any, parent_id: int | None, events: list[tuple[str, Any]]
    ) -> dict[str, Any]:
        product_id = item.get("id") if isinstance(item, dict) else None
        product = self.products.get(product_id) if isinstance(product_id, int) else None
        wrong_parent = product is not None and (
            (parent_id is None and product["type"] == "variation")
            or (parent_id is not None and product.get("parent_id") != parent_id)
        )
        if product is None or wrong_parent:
            return _batch_item_error(
                item, "woocommerce_rest_product_invalid_id", "Invalid ID.", 400
            )
        result = self._update_stock(product, item)
        if isinstance(result, Response):
            return {"id": product_id, "error": result.json}
        events.append(("product.updated", copy.deepcopy(product)))
        return copy.deepcopy(product)

    def _get_trackings(self, request: Request) -> Response:
        if not self.tracking_enabled:
            return _no_route()
        order_id = int(request.params["id"])
        with self.lock:
            if order_id not in self.orders:
                return _invalid_order()
            return json_response(copy.deepcopy(self.trackings.get(order_id, [])))

    def _get_tracking(self, request: Request) -> Response:
        if not self.tracking_enabled:
            return _no_route()
        with self.lock:
            for item in self.trackings.get(int(request.params["id"]), []):
                if item["tracking_id"] == request.params["tracking_id"]:
                    return json_response(copy.deepcopy(item))
        return wp_error("woocommerce_rest_order_invalid_tracking_id", "Invalid tracking ID.", 404)

    def _delete_tracking(self, request: Request) -> Response:
        if not self.tracking_enabled:
            return _no_route()
        with self.lock:
            items = self.trackings.get(int(request.params["id"]), [])
            for item in items:
                if item["tracking_id"] == request.params["tracking_id"]:
                    items.remove(item)
                    return json_response(copy.deepcopy(item))
        return wp_error("woocommerce_rest_order_invalid_tracking_id", "Invalid tracking ID.", 404)

    def _post_tracking(self, request: Request) -> Response:
        if not self.tracking_enabled:
            return _no_route()
        body = request.body if isinstance(request.body, dict) else {}
        number = str(body.get("tracking_number") or "").strip()
        if not number:
            return missing_param("tracking_number")
        provider = str(body.get("tracking_provider") or "")
        custom_provider = str(body.get("custom_tracking_provider") or "")
        known = _provider(provider)
        if known is None and not custom_provider:
            return invalid_param(
                "tracking_provider",
                "tracking_provider is not a known provider; use custom_tracking_provider.",
            )
        order_id = int(request.params["id"])
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return _invalid_order()
            shipped = _shipped_date(body.get("date_shipped"), self.clock.now().astimezone(self.tz))
            if known is not None:
                name, template = known
            else:
                name, template = custom_provider, str(body.get("custom_tracking_link") or "")
            item = {
                "tracking_id": uuid.uuid4().hex,
                "tracking_provider": name,
                "tracking_link": template.replace("%1$s", quote(number)).replace(
                    "%2$s", quote(order["shipping"]["postcode"])
                ),
                "tracking_number": number,
                "date_shipped": shipped,
            }
            self.trackings.setdefault(order_id, []).append(item)
            _merge_meta(
                order,
                [
                    {
                        "key": "_wc_shipment_tracking_items",
                        "value": copy.deepcopy(self.trackings[order_id]),
                    }
                ],
                lambda: self._next_id("meta", 9001),
            )
            location = self.url(
                f"/wp-json/{self.tracking_namespace}/orders/{order_id}/shipment-trackings/{item['tracking_id']}"
            )
            return json_response(copy.deepcopy(item), 201, {"Location": location})

    def _get_providers(self, request: Request) -> Response:
        if not self.tracking_enabled:
            return _no_route()
        return json_response(copy.deepcopy(TRACKING_PROVIDERS))

    def _get_webhooks(self, request: Request) -> Response:
        with self.lock:
            return json_response(copy.deepcopy(list(self.webhooks.values())))

    def _get_webhook(self, request: Request) -> Response:
        with self.lock:
            webhook = self.webhooks.get(int(request.params["id"]))
            if webhook is None:
                return _invalid_webhook()
            return json_response(copy.deepcopy(webhook))

    def _post_webhook(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        topic = str(body.get("topic") or "")
        url = str(body.get("delivery_url") or "")
        if not url:
            return missing_param("delivery_url")
        if topic not in TOPICS:
            return wp_error(
                "woocommerce_rest_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
                400,
            )
        if urlsplit(url).scheme not in ("http", "https"):
            return invalid_param("delivery_url", "Invalid URL.")
        with self.lock:
            webhook = self._new_webhook(
                topic, url, str(body.get("secret") or ""), str(body.get("name") or "")
            )
            if body.get("status") in ("paused", "disabled"):
                webhook["status"] = body["status"]
            payload = copy.deepcopy(webhook)
        if self.ping_webhooks and payload["status"] == "active":
            self._ping(payload)
        return json_response(payload, 201)

    def _delete_webhook(self, request: Request) -> Response:
        if (request.arg("force") or "").lower() not in ("1", "true"):
            return wp_error(
                "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501
            )
        with self.lock:
            webhook = self.webhooks.pop(int(request.params["id"]), None)
            if webhook is None:
                return _invalid_webhook()
            self._webhook_secrets.pop(webhook["id"], None)
            return json_response(copy.deepcopy(webhook))

    # -- paging ------------------------------------------------------------------------------

    def _page_of(
        self, request: Request, items: list[dict[str, Any]], paging: tuple[int, int, int | None]
    ) -> Response:
        page, per_page, offset = paging
        total = len(items)
        pages = -(-total // per_page) if total else 0
        start = offset if offset is not None else (page - 1) * per_page
        window = [copy.deepcopy(item) for item in items[start : start + per_page]]
        links = []
        query = {
            name: values
            for name, values in request.query.items()
            if name not in ("page", "consumer_key", "consumer_secret")
            and not name.startswith("oauth_")
        }
        for rel, target in (("prev", page - 1), ("next", page + 1)):
            if 1 <= target <= pages:
                link_query = urlencode({**query, "page": [str(target)]}, doseq=True)
                links.append(f'<{self.url(request.path)}?{link_query}>; rel="{rel}"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(window, headers=headers)

    # -- building state ----------------------------------------------------------------------

    def _next_id(self, kind: str, start: int) -> int:
        value = self._ids.get(kind, start)
        self._ids[kind] = value + 1
        return value

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M:%S")

    def _touch(self, record: dict[str, Any], now: datetime) -> None:
        record["date_modified"] = self._local(now)
        record["date_modified_gmt"] = _gmt(now)

    def _variation(self, request: Request) -> dict[str, Any] | None:
        variation = self.products.get(int(request.params["id"]))
        if variation is None or variation.get("parent_id") != int(request.params["pid"]):
            return None
        return variation

    def _seed_catalog(self) -> None:
        created = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
        for position, spec in enumerate(seed_data.CATALOG):
            product_id = 40 + position * 10
            variable = len(spec.variants) > 1
            managed = spec.requires_shipping and spec.handle != "candle-fig"
            product = self._product_record(
                product_id,
                entities(spec.title),
                spec.handle,
                "variable" if variable else "simple",
                "" if variable else (spec.variants[0].sku or ""),
                spec.variants[0].price,
                created,
            )
            product["virtual"] = not spec.requires_shipping
            product["downloadable"] = spec.handle == "field-guide-ebook"
            # Tote variations inherit stock from the parent ("parent"), a common setup.
            parent_managed = spec.handle == "tote"
            if managed and (not variable or parent_managed):
                product["manage_stock"] = True
                product["stock_quantity"] = 12 + position * 3
            self.products[product_id] = product
            if not variable:
                continue
            for index, variant in enumerate(spec.variants, start=1):
                variation_id = product_id + index
                variation = self._product_record(
                    variation_id,
                    entities(f"{spec.title} - {variant.title}"),
                    f"{spec.handle}-{index}",
                    "variation",
                    variant.sku or "",
                    variant.price,
                    created,
                )
                variation["parent_id"] = product_id
                variation["attributes"] = [{"id": 0, "name": "Option", "option": variant.title}]
                if parent_managed:
                    variation["manage_stock"] = "parent"
                    variation["stock_quantity"] = product["stock_quantity"]
                elif managed:
                    variation["manage_stock"] = True
                    variation["stock_quantity"] = 8 + index * 4
                self.products[variation_id] = variation
                product["variations"].append(variation_id)

    def _product_record(
        self,
        product_id: int,
        name: str,
        slug: str,
        kind: str,
        sku: str,
        price: Decimal,
        created: datetime,
    ) -> dict[str, Any]:
        return {
            "id": product_id,
            "name": name,
            "slug": slug,
            "permalink": f"https://sandbox-woo.example/product/{slug}/",
            "type": kind,
            "status": "publish",
            "sku": sku,
            "price": f"{price:.2f}",
            "regular_price": f"{price:.2f}",
            "sale_price": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": "instock",
            "backorders": "no",
            "virtual": False,
            "downloadable": False,
            "parent_id": 0,
            "variations": [],
            "attributes": [],
            "date_created": self._local(created),
            "date_created_gmt": _gmt(created),
            "date_modified": self._local(created),
            "date_modified_gmt": _gmt(created),
            "meta_data": [],
        }

    def _update_stock(self, product: dict[str, Any], body: dict[str, Any]) -> Response | None:
        """Apply stock fields from `body`; quantities count only when stock is managed."""
        quantity = body.get("stock_quantity")
        if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
            return invalid_param("stock_quantity", "stock_quantity is not of type integer.")
        if "manage_stock" in body:
            product["manage_stock"] = bool(body["manage_stock"])
        applied = False
        if body.get("stock_quantity") is not None and product["manage_stock"] is True:
            product["stock_quantity"] = body["stock_quantity"]
            if product["backorders"] == "no":
                product["stock_status"] = "instock" if body["stock_quantity"] > 0 else "outofstock"
            applied = True
        if (
            body.get("stock_status") in ("instock", "outofstock", "onbackorder")
            and product["manage_stock"] is not True
        ):
            product["stock_status"] = body["stock_status"]
        if "stock_quantity" in body or "manage_stock" in body or "stock_status" in body:
            self.stock_updates.append(
                {
                    "id": product["id"],
                    "sku": product["sku"],
                    "requested": {
                        k: body[k]
                        for k in ("manage_stock", "stock_quantity", "stock_status")
                        if k in body
                    },
                    "applied": applied,
                    "stock_quantity": product["stock_quantity"],
                    "at": self.clock.now(),
                }
            )
        self._touch(product, self.clock.now())
        return None

    def _address(self, address: seed_data.Address | None, *, email: str | None) -> dict[str, str]:
        fields = {
            "first_name": "",
            "last_name": "",
            "company": "",
            "address_1": "",
            "address_2": "",
            "city": "",
            "state": "",
            "postcode": "",
            "country": "",
        }
        if address is not None:
            fields.update(
                first_name=address.first_name,
                last_name=address.last_name,
                company=address.company,
                address_1=address.address1,
                address_2=address.address2,
                city=address.city,
                state=address.province_code,
                postcode=address.zip,
                country=address.country_code,
            )
        if email is not None:
            fields["email"] = email
            fields["phone"] = address.phone if address else ""
        return fields

    def _build_order(self, spec: seed_data.OrderSpec) -> dict[str, Any]:
        placed = spec.placed_at or self.clock.now()
        order_id = self._next_id("order", 3101)
        lines = [self._build_line(line) for line in spec.lines]
        subtotal = seed_data.line_total(spec.lines)
        shipping = spec.ship_method.price if spec.ship_method else Decimal("0.00")
        customer = spec.customer
        order: dict[str, Any] = {
            "id": order_id,
            "parent_id": 0,
            "number": str(order_id),
            "order_key": "wc_order_" + hashlib.sha256(str(order_id).encode()).hexdigest()[:13],
            "created_via": "checkout",
            "version": "9.3.0",
            "status": "processing",
            "currency": "USD",
            "date_created": self._local(placed),
            "date_created_gmt": _gmt(placed),
            "date_modified": self._local(placed),
            "date_modified_gmt": _gmt(placed),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": f"{shipping:.2f}",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": f"{subtotal + shipping:.2f}",
            "total_tax": "0.00",
            "prices_include_tax": False,
            "customer_id": 0 if customer.number % 4 == 0 else 10 + customer.number,
            "customer_ip_address": "203.0.113.7",
            "customer_user_agent": "Mozilla/5.0",
            "customer_note": spec.note,
            "billing": self._address(customer.address, email=customer.email),
            "shipping": self._address(spec.shipping_address, email=None),
            "payment_method": "stripe",
            "payment_method_title": "Credit card",
            "transaction_id": f"ch_{order_id}",
            "date_paid": self._local(placed),
            "date_paid_gmt": _gmt(placed),
            "date_completed": None,
            "date_completed_gmt": None,
            "cart_hash": hashlib.sha256(f"cart{order_id}".encode()).hexdigest()[:32],
            "meta_data": [],
            "line_items": lines,
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        }
        if spec.ship_method is not None:
            method = spec.ship_method
            order["shipping_lines"].append(
                {
                    "id": self._next_id("line", 88),
                    "method_title": entities(method.title),
                    "method_id": "flat_rate" if method.code == "standard" else method.code,
                    "instance_id": "3",
                    "total": f"{method.price:.2f}",
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            )
        if spec.tags:
            order["meta_data"].append(
                {
                    "id": self._next_id("meta", 9001),
                    "key": "_order_tags",
                    "value": ", ".join(spec.tags),
                }
            )
        self.orders[order_id] = order
        self._apply_outcome(order, spec, placed)
        return order

    def _build_line(self, line: seed_data.LineSpec) -> dict[str, Any]:
        found = seed_data.find_variant(line.sku)
        record = next(
            (
                p
                for p in self.products.values()
                if found and p["sku"] == (line.sku or "") and p["type"] != "variable"
            ),
            None,
        )
        price = seed_data.unit_price(line.sku)
        if found is None or record is None:
            name, product_id, variation_id, sku = "Hand-made custom item", 0, 0, line.sku or ""
        else:
            product, variant = found
            is_variation = record["type"] == "variation"
            name = entities(f"{product.title} - {variant.title}" if is_variation else product.title)
            product_id = record["parent_id"] if is_variation else record["id"]
            variation_id = record["id"] if is_variation else 0
            sku = record["sku"]
        total = price * line.quantity
        return {
            "id": self._next_id("line", 88),
            "name": name,
            "product_id": product_id,
            "variation_id": variation_id,
            "quantity": line.quantity,
            "tax_class": "",
            "subtotal": f"{total:.2f}",
            "subtotal_tax": "0.00",
            "total": f"{total:.2f}",
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": sku,
            # Documented as a string, sent as a number.
            "price": int(price) if price == price.to_integral_value() else float(price),
        }

    def _apply_outcome(
        self, order: dict[str, Any], spec: seed_data.OrderSpec, placed: datetime
    ) -> None:
        later = min(placed + timedelta(hours=20), self.clock.now())
        digital_only = spec.shipping_address is None
        if spec.outcome == "pending":
            order["status"] = "on-hold" if order["id"] % 2 else "pending"
            order["date_paid"] = order["date_paid_gmt"] = None
            order["payment_method"], order["payment_method_title"] = "bacs", "Direct bank transfer"
        elif spec.outcome == "cancelled":
            self._set_status(order, "cancelled", min(placed + timedelta(hours=2), self.clock.now()))
        elif spec.outcome in ("refunded", "partially_refunded"):
            amount = (
                Decimal(order["total"])
                if spec.outcome == "refunded"
                else sum(
                    (seed_data.unit_price(line.sku) * line.refunded for line in spec.lines),
                    Decimal("0"),
                )
            )
            order["refunds"].append(
                {
                    "id": self._next_id("refund", 7001),
                    "reason": "Customer return",
                    "total": f"-{amount:.2f}",
                }
            )
            if spec.outcome == "refunded":
                self._set_status(order, "refunded", later)
            else:
                self._touch(order, later)
        elif spec.outcome == "fulfilled" or digital_only:
            self._set_status(order, "completed", later)

    def _set_status(self, order: dict[str, Any], status: str, at: datetime) -> None:
        order["status"] = status
        if status == "completed":
            order["date_completed"] = self._local(at)
            order["date_completed_gmt"] = _gmt(at)
        self._touch(order, at)

    # -- webhooks ----------------------------------------------------------------------------

    def _new_webhook(self, topic: str, delivery_url: str, secret: str, name: str) -> dict[str, Any]:
        if topic not in TOPICS:
            raise ValueError(f"unknown WooCommerce webhook topic {topic!r}")
        webhook_id = self._next_id("webhook", 1)
        now = self.clock.now()
        resource, _, event = topic.partition(".")
        webhook = {
            "id": webhook_id,
            "name": name or f"Webhook created on {now:%b %d, %Y @ %I:%M %p}",
            "status": "active",
            "topic": topic,
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{topic.replace('.', '_')}"],
            "delivery_url": delivery_url,
            "date_created": self._local(now),
            "date_created_gmt": _gmt(now),
            "date_modified": self._local(now),
            "date_modified_gmt": _gmt(now),
        }
        self.webhooks[webhook_id] = webhook
        self._webhook_secrets[webhook_id] = (
            secret or hashlib.sha256(f"{self.consumer_key}{webhook_id}".encode()).hexdigest()[:32]
        )
        return webhook

    def webhook_secret(self, webhook_id: int) -> str:
        """Return the secret a webhook signs with (generated when none was given)."""
        with self.lock:
            return self._webhook_secrets[webhook_id]

    def _ping(self, webhook: dict[str, Any]) -> None:
        body = f"webhook_id={webhook['id']}".encode()
        self.post_webhook(
            webhook["delivery_url"],
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "WooCommerce/9.3.0 Hookshot (WordPress/6.6.2)",
            },
        )

    def _deliver(self, events: list[tuple[str, Any]]) -> None:
        """Send each (topic, payload) to its webhooks; call without holding the lock."""
        for topic, payload in events:
            self.send_webhook(topic, payload)


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str) -> str:
    """Return the base64 OAuth 1.0a signature WooCommerce expects for a request.

    `params` are all query, form and `oauth_*` parameters; `oauth_signature` is left out.
    """
    algorithm = (
        hashlib.sha256 if params.get("oauth_signature_method") == "HMAC-SHA256" else hashlib.sha1
    )
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    joined = "%26".join(_rfc3986(f"{_rfc3986(k)}={_rfc3986(v)}") for k, v in pairs)
    base = f"{method.upper()}&{_rfc3986(url)}&{joined}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), algorithm).digest()
    return base64.b64encode(digest).decode()


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


def _oauth_header(header: str) -> dict[str, str]:
    if not header.startswith("OAuth "):
        return {}
    pairs = re.findall(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))', header)
    return {name: unquote(quoted or bare) for name, quoted, bare in pairs}


def _query_or_basic_credentials(request: Request) -> tuple[str, str]:
    key, secret = request.arg("consumer_key") or "", request.arg("consumer_secret") or ""
    if key and secret:
        return key, secret
    header = request.header("Authorization") or ""
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        key, _, secret = decoded.partition(":")
        return key, secret
    return "", ""


def _cannot(request: Request) -> Response:
    """Answer the 401 WooCommerce gives an anonymous request, worded by method."""
    wording = {
        "GET": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        "POST": (
            "woocommerce_rest_cannot_create",
            "Sorry, you are not allowed to create resources.",
        ),
        "PUT": (
            "woocommerce_rest_cannot_edit",
            "Sorry, you are not allowed to edit this resource.",
        ),
        "DELETE": (
            "woocommerce_rest_cannot_delete",
            "Sorry, you are not allowed to delete this resource.",
        ),
    }
    code, message = wording.get(request.method, wording["GET"])
    return wp_error(code, message, 401)


def _auth_error(message: str) -> Response:
    return wp_error("woocommerce_rest_authentication_error", message, 401)


def _no_route() -> Response:
    return wp_error("rest_no_route", "No route was found matching the URL and request method.", 404)


def _invalid_order() -> Response:
    return wp_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)


def _invalid_product() -> Response:
    return wp_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)


def _invalid_webhook() -> Response:
    return wp_error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404)


def _batch_item_error(item: Any, code: str, message: str, status: int) -> dict[str, Any]:
    item_id = item.get("id", 0) if isinstance(item, dict) else 0
    return {"id": item_id, "error": {"code": code, "message": message, "data": {"status": status}}}


def _paging(request: Request) -> tuple[int, int, int | None] | Response:
    """Return (page, per_page, offset or None) or WordPress's 400 for values out of range."""
    values: dict[str, int | None] = {}
    for name, default, low, high in (
        ("per_page", 10, 1, MAX_PER_PAGE),
        ("page", 1, 1, None),
        ("offset", None, 0, None),
    ):
        text = request.arg(name)
        if text is None:
            values[name] = default
            continue
        try:
            value = int(text)
        except ValueError:
            return invalid_param(name, f"{name} is not of type integer.")
        if value < low or (high is not None and value > high):
            bounds = (
                f"between {low} (inclusive) and {high} (inclusive)"
                if high
                else f"greater than or equal to {low}"
            )
            return invalid_param(name, f"{name} must be {bounds}")
        values[name] = value
    return int(values["page"] or 1), int(values["per_page"] or 10), values["offset"]


def _provider(name: str) -> tuple[str, str] | None:
    wanted = name.strip().lower().replace("-", " ")
    if not wanted:
        return None
    for providers in TRACKING_PROVIDERS.values():
        for provider, template in providers.items():
            if provider.lower().replace("-", " ") == wanted:
                return provider, template
    return None


def _merge_meta(order: dict[str, Any], entries: list[Any], next_id: Callable[[], int]) -> None:
    for entry in entries:
        if not isinstance(entry, dict) or "key" not in entry:
            continue
        existing = next((m for m in order["meta_data"] if m["key"] == entry["key"]), None)
        if existing is not None:
            existing["value"] = entry.get("value")
        else:
            order["meta_data"].append(
                {"id": next_id(), "key": entry["key"], "value": entry.get("value")}
            )


def _shipped_date(value: Any, today: datetime) -> str:
    """Return `YYYY-MM-DD` from a date string or a Unix timestamp, defaulting to today."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), today.tzinfo).date().isoformat()
    if isinstance(value, str) and value:
        return value[:10]
    return today.date().isoformat()


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
