"""The Shopify adapter against the Shopify emulator, over a real socket on 127.0.0.1.

The contract suite, the platform's edge cases (no shipping address, null SKU, digital lines,
cancellations, two locations, partial quantities, fractional Retry-After, Link paging), the
rate limiter following Shopify's call-limit header, and one run of the real flows.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from cartrover.adapters import (
    AdapterError,
    AuthError,
    BadPayload,
    CartOrder,
    CartShipment,
    RateLimited,
    ShipmentItem,
    StockLevel,
)
from carts.adapters import CART_KINDS
from carts.adapters.base import CartAdapter
from carts.adapters.shopify.adapter import ShopifyAdapter
from carts.models import CartConnection
from orders.models import Order, OrderStatus, Shipment
from sandbox.clock import ManualClock
from sandbox.seed import SHIP_METHODS, LineSpec, OrderSpec
from sandbox.server import json_bytes
from sandbox.shopify import ShopifyEmulator
from sync.models import WebhookEvent
from tests.carts.contract import CartContract
from tests.hub import Hub
from wms.models import WmsConfig, WmsShipMethod

_USED_PORTS: set[int] = set()


def start_shop(**options: Any) -> ShopifyEmulator:
    """Start an emulator on a port no earlier test used.

    The adapter's rate limiter is shared per shop address for the whole process (as it must
    be in production), so a shop reusing an earlier test's port would inherit its bucket.
    """
    for _ in range(20):
        shop = ShopifyEmulator(**options)
        shop.start()
        port = urlsplit(shop.base_url).port
        assert port is not None
        if port not in _USED_PORTS:
            _USED_PORTS.add(port)
            return shop
        shop.stop()
    raise RuntimeError("no fresh port for the Shopify emulator")


def credentials(shop: ShopifyEmulator, *, token: str | None = None) -> dict[str, str]:
    return {
        "shop_url": shop.base_url,
        "access_token": token or shop.access_token,
        "webhook_secret": shop.client_secret,
    }


def make_adapter(shop: ShopifyEmulator, *, token: str | None = None, **setup: Any):
    return ShopifyAdapter(
        credentials=credentials(shop, token=token), setup=setup, connection_key="cart:test"
    )


def fetch(adapter: ShopifyAdapter, since: datetime | None = None) -> list[Any]:
    return list(adapter.fetch_orders(since))


def orders_by_id(items: list[Any]) -> dict[str, CartOrder]:
    return {o.external_id: o for o in items if isinstance(o, CartOrder)}


def posts(shop: ShopifyEmulator, suffix: str) -> list[Any]:
    return [r for r in shop.requests if r.method == "POST" and r.path.endswith(suffix)]


def fo_lines(shop: ShopifyEmulator, order: dict) -> dict[str, tuple[int, int, int]]:
    """Return SKU → (fulfillment order id, FO line id, location id) of an order."""
    skus = {line["id"]: line["sku"] for line in order["line_items"]}
    return {
        skus[line["line_item_id"]]: (fo["id"], line["id"], fo["assigned_location_id"])
        for fo in shop.fulfillment_orders_of(order["id"])
        for line in fo["line_items"]
    }


def line_id(order: dict, sku: str) -> str:
    return str(next(line["id"] for line in order["line_items"] if line["sku"] == sku))


@pytest.fixture
def shop(settings) -> Iterator[ShopifyEmulator]:
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    emulator = start_shop()
    yield emulator
    emulator.stop()


@pytest.fixture
def two_location_shop(settings) -> Iterator[ShopifyEmulator]:
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    emulator = start_shop(locations=2)
    yield emulator
    emulator.stop()


# --- 1. The contract ----------------------------------------------------------------------------


class TestShopifyContract(CartContract):
    orders_for_paging = 30

    def start_emulator(self) -> ShopifyEmulator:
        return start_shop()

    def make_adapter(self, emulator: Any, *, wrong_credentials: bool = False) -> CartAdapter:
        token = "shpat_not_the_right_token" if wrong_credentials else None
        return make_adapter(emulator, token=token, page_size=7)

    def add_orders(self, emulator: Any, count: int) -> list[str]:
        return [str(emulator.add_order(notify=False)["id"]) for _ in range(count)]

    def corrupt_order(self, emulator: Any, external_id: str) -> None:
        emulator.update_order(int(external_id), line_items="not a list")

    def fail_next(self, emulator: Any, status: int, *, retry_after: str | None = None) -> None:
        if status == 429:
            # The emulator's fail_next(status=429) sends no Retry-After; its throttle does.
            emulator.retry_after = retry_after or "2.0"
            emulator.throttle_every_other()
        else:
            emulator.fail_next(1, status=status)

    def secrets(self, adapter: CartAdapter) -> list[str]:
        # The shop address is not a secret (it is in every log line); the token and key are.
        return [str(adapter.credentials[name]) for name in ("access_token", "webhook_secret")]


def test_shopify_is_registered():
    assert CART_KINDS.adapter_class("shopify") is ShopifyAdapter


# --- 2. Orders: what the adapter must survive ----------------------------------------------------


def test_order_maps_number_dates_customer_address_ship_method_and_total(shop):
    placed = shop.add_order(
        OrderSpec(lines=(LineSpec("MUG-BLU", 2),), ship_method=SHIP_METHODS[5]),
        note="Leave at the door",
        notify=False,
    )

    [order] = fetch(make_adapter(shop))

    assert order.external_id == str(placed["id"])
    assert order.order_number == placed["name"]
    assert order.updated_at == datetime.fromisoformat(placed["updated_at"])
    assert order.placed_at is not None and order.placed_at.utcoffset() == timedelta(hours=-4)
    assert order.customer_email == "ana.garcia@example.com"
    assert order.customer_name == "Ana García"
    assert order.ship_to is not None
    assert (order.ship_to.city, order.ship_to.state, order.ship_to.country) == (
        "Dayton",
        "OH",
        "US",
    )
    assert order.ship_method_code == "DHL-EXP-INTL-0042"
    assert str(order.total) == placed["total_price"]
    assert order.notes == "Leave at the door"
    assert [(li.line_id, li.sku, li.quantity) for li in order.lines] == [
        (line_id(placed, "MUG-BLU"), "MUG-BLU", 2)
    ]
    assert order.raw["id"] == placed["id"]


def test_order_without_shipping_address_has_no_ship_to(shop):
    placed = shop.add_order(OrderSpec(shipping_address=None), notify=False)

    order = orders_by_id(fetch(make_adapter(shop)))[str(placed["id"])]

    assert "shipping_address" not in placed
    assert order.ship_to is None
    assert order.bill_to is not None and order.bill_to.name == "Ana García"


def test_line_with_null_sku_is_kept_with_a_blank_sku(shop):
    placed = shop.add_order(
        OrderSpec(lines=(LineSpec(None, 4), LineSpec("NB-A5", 1))), notify=False
    )

    order = orders_by_id(fetch(make_adapter(shop)))[str(placed["id"])]

    assert placed["line_items"][0]["sku"] is None
    assert [(li.sku, li.quantity) for li in order.lines] == [("", 4), ("NB-A5", 1)]


def test_lines_that_need_no_shipping_are_left_out_unless_the_setup_keeps_them(shop):
    mixed = shop.add_order(
        OrderSpec(lines=(LineSpec("GIFT-25", 1), LineSpec("MUG-BLU", 1))), notify=False
    )
    digital = shop.add_order(
        OrderSpec(lines=(LineSpec("EBOOK-01", 1),), shipping_address=None, ship_method=None),
        notify=False,
    )

    default = orders_by_id(fetch(make_adapter(shop)))
    kept = orders_by_id(fetch(make_adapter(shop, include_non_shipping_lines=True)))

    assert [li.sku for li in default[str(mixed["id"])].lines] == ["MUG-BLU"]
    assert str(digital["id"]) not in default
    assert [li.sku for li in kept[str(mixed["id"])].lines] == ["GIFT-25", "MUG-BLU"]
    assert [li.sku for li in kept[str(digital["id"])].lines] == ["EBOOK-01"]


def test_cancelled_orders_come_through_as_canceled_whatever_their_financial_status(shop):
    born_cancelled = shop.add_order(OrderSpec(outcome="cancelled"), notify=False)
    later_cancelled = shop.add_order(notify=False)
    pending = shop.add_order(OrderSpec(outcome="pending"), notify=False)
    shop.cancel_order(later_cancelled["id"])

    orders = orders_by_id(fetch(make_adapter(shop)))

    assert shop.order(born_cancelled["id"])["financial_status"] == "refunded"
    assert orders[str(born_cancelled["id"])].canceled
    assert orders[str(later_cancelled["id"])].canceled
    assert [li.quantity for li in orders[str(later_cancelled["id"])].lines] == [1]
    assert str(pending["id"]) not in orders
    assert str(pending["id"]) in orders_by_id(
        fetch(make_adapter(shop, financial_statuses=["pending"]))
    )


def test_partly_fulfilled_and_refunded_lines_send_only_what_is_left_to_ship(shop):
    partly = shop.add_order(OrderSpec(lines=(LineSpec("MUG-BLU", 3),)), notify=False)
    refunded = shop.add_order(
        OrderSpec(
            lines=(LineSpec("TEE-S-BLK", 3, refunded=1), LineSpec("MUG-GRN", 1)),
            outcome="partially_refunded",
        ),
        notify=False,
    )
    adapter = make_adapter(shop)
    adapter.upload_shipment(
        CartShipment(
            order_external_id=str(partly["id"]),
            order_number=partly["name"],
            tracking_number="1ZPART1",
            carrier="UPS",
            items=[ShipmentItem(sku="MUG-BLU", quantity=2, line_id=line_id(partly, "MUG-BLU"))],
        )
    )

    orders = orders_by_id(fetch(adapter))

    assert [li.quantity for li in orders[str(partly["id"])].lines] == [1]
    assert [(li.sku, li.quantity) for li in orders[str(refunded["id"])].lines] == [
        ("TEE-S-BLK", 2),
        ("MUG-GRN", 1),
    ]


def test_an_order_with_a_wrong_field_type_is_a_bad_payload_with_its_raw_order(shop):
    good = shop.add_order(notify=False)
    bad = shop.add_order(notify=False)
    shop.update_order(bad["id"], total_price={"amount": "19.95"})

    items = fetch(make_adapter(shop))

    [payload] = [i for i in items if isinstance(i, BadPayload)]
    assert payload.external_id == str(bad["id"])
    assert "total_price" in payload.message
    assert payload.raw["id"] == bad["id"]
    assert list(orders_by_id(items)) == [str(good["id"])]


def test_first_page_carries_the_filters_and_later_pages_only_the_link(shop):
    placed = [str(shop.add_order(notify=False)["id"]) for _ in range(260)]

    items = fetch(make_adapter(shop))

    listing = [r for r in shop.requests if r.path.endswith("/orders.json")]
    assert sorted(orders_by_id(items)) == sorted(placed)
    assert len(listing) == 2
    first, second = (r.query for r in listing)
    assert first["status"] == ["any"] and first["limit"] == ["250"]
    assert first["fulfillment_status"] == ["unfulfilled"]
    assert "updated_at_min" in first
    assert sorted(second) == ["limit", "page_info"]


def test_since_is_sent_as_updated_at_min_and_older_orders_are_not_read(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    clock = ManualClock(datetime.now(UTC))
    shop = start_shop(clock=clock)
    try:
        old = shop.add_order(notify=False)
        since = clock.advance(60)
        clock.advance(60)
        new = shop.add_order(notify=False)

        orders = orders_by_id(fetch(make_adapter(shop), since))
    finally:
        shop.stop()

    assert list(orders) == [str(new["id"])]
    assert str(old["id"]) not in orders
    [listing] = [r for r in shop.requests if r.path.endswith("/orders.json")]
    assert datetime.fromisoformat(listing.query["updated_at_min"][0]) == since.replace(
        microsecond=0
    )


# --- 2b. Connection checks -----------------------------------------------------------------------


def test_test_connection_counts_the_orders(shop):
    shop.add_order(notify=False)

    message = make_adapter(shop).test_connection()

    assert "Connected to Shopify shop" in message and "1 orders" in message


def test_wrong_token_says_to_reconnect_without_showing_the_token(shop):
    with pytest.raises(AuthError) as refused:
        make_adapter(shop, token="shpat_wrong_wrong").test_connection()

    assert "rejected the access token" in refused.value.message
    assert "reconnect" in refused.value.message
    assert "shpat_wrong_wrong" not in refused.value.message


def test_missing_scope_names_the_permission(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    shop = start_shop(scopes={"read_products"})
    try:
        with pytest.raises(AuthError) as refused:
            make_adapter(shop).test_connection()
    finally:
        shop.stop()

    assert "read_orders" in refused.value.message
    assert "scopes" in refused.value.message


def test_unreachable_shop_address_is_said_to_look_wrong(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    closed = start_shop()
    closed.stop()
    adapter = ShopifyAdapter(
        credentials={"shop_url": closed.base_url, "access_token": "x", "webhook_secret": "y"},
        setup={},
        connection_key="cart:test",
    )

    with pytest.raises(AdapterError) as failed:
        adapter.test_connection()

    assert "shop address looks wrong" in failed.value.message


def test_a_host_that_is_not_shopify_is_said_to_look_wrong(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"Not Found")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        adapter = ShopifyAdapter(
            credentials={
                "shop_url": f"http://127.0.0.1:{server.server_address[1]}",
                "access_token": "shpat_x",
                "webhook_secret": "y",
            },
            setup={},
            connection_key="cart:test",
        )
        with pytest.raises(AdapterError) as failed:
            adapter.test_connection()
    finally:
        server.shutdown()
        server.server_close()

    assert "looks wrong" in failed.value.message


# --- 3. Shipments --------------------------------------------------------------------------------


def test_package_over_two_locations_makes_one_fulfillment_per_location(two_location_shop):
    shop = two_location_shop
    order = shop.add_order(
        OrderSpec(lines=(LineSpec("MUG-BLU", 3), LineSpec("TEE-M-BLK", 1))), notify=False
    )
    fo = fo_lines(shop, order)

    reference = make_adapter(shop).upload_shipment(
        CartShipment(
            order_external_id=str(order["id"]),
            order_number=order["name"],
            tracking_number="1Z999AA10123456784",
            carrier="ups",
            items=[
                ShipmentItem(sku="MUG-BLU", quantity=3, line_id=line_id(order, "MUG-BLU")),
                ShipmentItem(sku="TEE-M-BLK", quantity=1, line_id=line_id(order, "TEE-M-BLK")),
            ],
        )
    )

    sent = [r.body["fulfillment"] for r in posts(shop, "/fulfillments.json")]
    assert [
        [
            (g["fulfillment_order_id"], [(li["id"], li["quantity"]) for li in g[k]])
            for g in body["line_items_by_fulfillment_order"]
            for k in ["fulfillment_order_line_items"]
        ]
        for body in sent
    ] == [
        [(fo["MUG-BLU"][0], [(fo["MUG-BLU"][1], 3)])],
        [(fo["TEE-M-BLK"][0], [(fo["TEE-M-BLK"][1], 1)])],
    ]
    assert all(
        body["tracking_info"] == {"number": "1Z999AA10123456784", "company": "UPS"} for body in sent
    )
    assert {f["location_id"] for f in shop.fulfillments.values()} == {
        fo["MUG-BLU"][2],
        fo["TEE-M-BLK"][2],
    }
    assert sorted(reference.split(",")) == sorted(str(i) for i in shop.fulfillments)
    assert shop.order(order["id"])["fulfillment_status"] == "fulfilled"


def test_partial_quantities_ship_in_two_packages(shop):
    order = shop.add_order(OrderSpec(lines=(LineSpec("MUG-BLU", 3),)), notify=False)
    adapter = make_adapter(shop)

    def ship(number: str, quantity: int) -> None:
        adapter.upload_shipment(
            CartShipment(
                order_external_id=str(order["id"]),
                order_number=order["name"],
                tracking_number=number,
                carrier="USPS",
                items=[ShipmentItem(sku="MUG-BLU", quantity=quantity)],  # no line id: by SKU
            )
        )

    ship("9400100000000000000001", 2)
    after_first = shop.order(order["id"])["fulfillment_status"]
    ship("9400100000000000000002", 1)

    fulfillments = sorted(shop.fulfillments.values(), key=lambda f: f["id"])
    assert after_first == "partial"
    assert [(f["tracking_number"], f["line_items"][0]["quantity"]) for f in fulfillments] == [
        ("9400100000000000000001", 2),
        ("9400100000000000000002", 1),
    ]
    assert shop.order(order["id"])["fulfillment_status"] == "fulfilled"


def test_retrying_an_uploaded_package_posts_nothing_and_returns_the_same_fulfillment(shop):
    order = shop.add_order(notify=False)
    package = CartShipment(
        order_external_id=str(order["id"]),
        order_number=order["name"],
        tracking_number="1ZRETRY",
        carrier="UPS",
        items=[ShipmentItem(sku="MUG-BLU", quantity=1, line_id=line_id(order, "MUG-BLU"))],
    )
    adapter = make_adapter(shop)

    first = adapter.upload_shipment(package)
    second = adapter.upload_shipment(package)

    assert first == second
    assert len(posts(shop, "/fulfillments.json")) == 1


def test_an_interrupted_upload_over_two_locations_posts_only_the_missing_location(
    two_location_shop,
):
    shop = two_location_shop
    order = shop.add_order(
        OrderSpec(lines=(LineSpec("MUG-BLU", 3), LineSpec("TEE-M-BLK", 1))), notify=False
    )
    fo = fo_lines(shop, order)
    # An earlier attempt fulfilled the first location, then lost its connection.
    earlier = requests.post(
        shop.url("/admin/api/2024-10/fulfillments.json"),
        headers={"X-Shopify-Access-Token": shop.access_token},
        json=fulfillment_request("1ZHALF", fo["MUG-BLU"][0], fo["MUG-BLU"][1], 3),
        timeout=5,
    )
    assert earlier.status_code == 200

    make_adapter(shop).upload_shipment(
        CartShipment(
            order_external_id=str(order["id"]),
            order_number=order["name"],
            tracking_number="1ZHALF",
            carrier="UPS",
            items=[
                ShipmentItem(sku="MUG-BLU", quantity=3, line_id=line_id(order, "MUG-BLU")),
                ShipmentItem(sku="TEE-M-BLK", quantity=1),  # no line id: found by SKU
            ],
        )
    )

    [_, resent] = posts(shop, "/fulfillments.json")
    assert resent.body["fulfillment"]["line_items_by_fulfillment_order"] == [
        {
            "fulfillment_order_id": fo["TEE-M-BLK"][0],
            "fulfillment_order_line_items": [{"id": fo["TEE-M-BLK"][1], "quantity": 1}],
        }
    ]
    assert len(shop.fulfillments) == 2
    assert shop.order(order["id"])["fulfillment_status"] == "fulfilled"


def fulfillment_request(number: str, fo_id: int, fo_line_id: int, quantity: int) -> dict:
    return {
        "fulfillment": {
            "tracking_info": {"number": number, "company": "UPS"},
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fo_id,
                    "fulfillment_order_line_items": [{"id": fo_line_id, "quantity": quantity}],
                }
            ],
        }
    }


def test_package_for_a_cancelled_order_is_refused_with_a_reason(shop):
    order = shop.add_order(notify=False)
    shop.cancel_order(order["id"])

    with pytest.raises(AdapterError) as refused:
        make_adapter(shop).upload_shipment(
            CartShipment(
                order_external_id=str(order["id"]),
                order_number=order["name"],
                tracking_number="1ZLATE",
                items=[ShipmentItem(sku="MUG-BLU", quantity=1, line_id=line_id(order, "MUG-BLU"))],
            )
        )

    assert refused.value.permanent
    assert "cancelled" in refused.value.message
    assert posts(shop, "/fulfillments.json") == []


# --- 4. Inventory --------------------------------------------------------------------------------


def test_stock_is_set_per_sku_at_the_chosen_locations_and_unknown_skus_fail(two_location_shop):
    shop = two_location_shop
    adapter = make_adapter(shop, inventory_location="all")

    results = adapter.upload_inventory(
        [StockLevel("MUG-RED", 7), StockLevel("NO-SUCH-SKU", 3), StockLevel("GIFT-25", 1)]
    )
    adapter.upload_inventory([StockLevel("MUG-BLU", 4)])

    by_sku = {r.sku: r for r in results}
    assert by_sku["MUG-RED"].ok
    assert not by_sku["NO-SUCH-SKU"].ok and "NO-SUCH-SKU" in by_sku["NO-SUCH-SKU"].error
    assert not by_sku["GIFT-25"].ok and "tracking" in by_sku["GIFT-25"].error
    red = shop.variant_by_sku("MUG-RED")["inventory_item_id"]
    assert [shop.available(red, location) for location in shop.locations] == [7, 7]
    assert len([r for r in shop.requests if r.path.endswith("/products.json")]) == 1


def test_stock_goes_to_the_first_location_by_default(two_location_shop):
    shop = two_location_shop
    first, second = list(shop.locations)
    before = shop.available(shop.variant_by_sku("NB-A5")["inventory_item_id"], second)

    [result] = make_adapter(shop).upload_inventory([StockLevel("NB-A5", 11)])

    item = shop.variant_by_sku("NB-A5")["inventory_item_id"]
    assert result.ok
    assert (shop.available(item, first), shop.available(item, second)) == (11, before)


# --- 5. Webhooks ---------------------------------------------------------------------------------


def test_webhooks_are_registered_once(shop):
    adapter = make_adapter(shop)

    adapter.register_webhooks("https://hub.example.com/webhooks/abc")
    topics = adapter.register_webhooks("https://hub.example.com/webhooks/abc")

    assert sorted(topics) == ["orders/cancelled", "orders/create", "orders/updated"]
    assert sorted(w["topic"] for w in shop.webhooks.values()) == sorted(topics)


def test_signed_webhook_is_verified_on_the_raw_body_and_a_forged_one_refused(shop):
    order = shop.add_order(notify=False)
    body = json_bytes(order)
    headers = shop.webhook_headers("orders/create", body)
    adapter = make_adapter(shop)

    notice = adapter.parse_webhook(headers, body)

    assert notice.event_id == headers["X-Shopify-Webhook-Id"]
    assert notice.topic == "orders/create"
    assert notice.order_external_ids == [str(order["id"])]
    with pytest.raises(AuthError):
        adapter.parse_webhook(headers, body.replace(b"Ana", b"Eve"))
    with pytest.raises(AuthError):
        adapter.parse_webhook({k: v for k, v in headers.items() if "Hmac" not in k}, body)


@pytest.mark.django_db
def test_a_shopify_webhook_reaches_the_hub_once_and_a_forged_one_is_refused(
    client, world, shop, django_capture_on_commit_callbacks
):
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="shopify",
        order_source="Shopify sandbox",
        credentials=credentials(shop),
    )
    order = shop.add_order(notify=False)
    body = json_bytes(order)
    headers = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in shop.webhook_headers("orders/create", body).items()
    }
    address = reverse("cart_webhook", args=[cart.webhook_key])

    with django_capture_on_commit_callbacks(execute=False):
        accepted = client.post(address, body, content_type="application/json", **headers)
        repeated = client.post(address, body, content_type="application/json", **headers)
        forged = client.post(address, body + b" ", content_type="application/json", **headers)

    assert accepted.status_code == 200 and accepted.json() == {"status": "accepted"}
    assert repeated.json() == {"status": "duplicate"}
    assert forged.status_code == 401
    assert WebhookEvent.objects.filter(cart=cart, topic="orders/create").count() == 1


# --- 6. Rate limits ------------------------------------------------------------------------------


def test_fractional_retry_after_is_passed_on(shop):
    shop.add_order(notify=False)
    shop.retry_after = "0.75"
    shop.throttle_every_other()

    with pytest.raises(RateLimited) as limited:
        fetch(make_adapter(shop))

    assert limited.value.retry_after == pytest.approx(0.75)


def test_after_a_429_nothing_is_sent_before_retry_after(shop):
    placed = shop.add_order(notify=False)
    shop.retry_after = "1.5"
    shop.throttle_every_other()
    with pytest.raises(RateLimited):
        fetch(make_adapter(shop))
    shop.clear_faults()
    sent = len(shop.requests)

    # A new adapter, as the next run builds: the block belongs to the shop, not the instance.
    with pytest.raises(RateLimited) as early:
        fetch(make_adapter(shop))
    assert "nothing was sent" in early.value.message
    assert len(shop.requests) == sent

    fetched: list[Any] = []
    for _ in range(100):  # bounded: the block is 1.5 s
        try:
            fetched = fetch(make_adapter(shop))
            break
        except RateLimited:
            assert len(shop.requests) == sent
            time.sleep(0.05)
    assert list(orders_by_id(fetched)) == [str(placed["id"])]
    assert len(shop.requests) == sent + 1


def test_following_the_call_limit_header_never_overflows_a_small_bucket(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    shop = start_shop(bucket_capacity=4, leak_per_second=2.0)
    try:
        placed = [str(shop.add_order(notify=False)["id"]) for _ in range(20)]

        items = fetch(make_adapter(shop, page_size=2))
    finally:
        shop.stop()

    # A 429 would have raised RateLimited; each page was asked for exactly once.
    assert sorted(orders_by_id(items)) == sorted(placed)
    assert len(shop.requests) == 10


# --- 7. The real flows ---------------------------------------------------------------------------

FLOWS = ("download", "delivery", "ship_confirm", "shipment_upload", "inventory", "inventory_upload")


@pytest.mark.django_db
def test_orders_flow_to_the_warehouse_and_tracking_and_stock_back_once(
    world, tmp_path, two_location_shop
):
    shop = two_location_shop
    three = shop.add_order(
        OrderSpec(lines=(LineSpec("MUG-BLU", 3), LineSpec("TEE-M-BLK", 1), LineSpec("NB-A5", 2))),
        notify=False,
    )
    single = shop.add_order(
        OrderSpec(lines=(LineSpec("MUG-RED", 2),), ship_method=SHIP_METHODS[1]), notify=False
    )
    cancelled = shop.add_order(OrderSpec(outcome="cancelled"), notify=False)
    fos = {**fo_lines(shop, three), **{f"single:{k}": v for k, v in fo_lines(shop, single).items()}}
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={
            "name": f"wh{world.account.pk}",
            "ledger_dir": str(tmp_path),
            "skus": "MUG-BLU,MUG-RED,TEE-M-BLK,NB-A5",
            "split_packages": True,
        },
    )
    for code, carrier in (("standard", "UPS"), ("express", "FedEx")):
        WmsShipMethod.objects.create(account=world.account, code=code, carrier=carrier)
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="shopify",
        order_source="Shopify sandbox",
        credentials=credentials(shop),
        setup={"inventory_location": "all"},
    )
    cart.inventory_upload_interval = 60
    cart.save()
    hub = Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)

    for flow in FLOWS:
        run = hub.run(flow)
        assert run.outcome == "ok", (flow, run.error, run.log)

    statuses = dict(Order.objects.filter(cart=cart).values_list("external_id", "status"))
    assert statuses == {
        str(three["id"]): OrderStatus.CONFIRMED,
        str(single["id"]): OrderStatus.CONFIRMED,
        str(cancelled["id"]): OrderStatus.CANCELED,
    }
    # What Shopify should have received: per package and location, the FO lines it holds.
    expected = []
    for shipment in Shipment.objects.filter(order__cart=cart).prefetch_related("lines__order_line"):
        prefix = "single:" if shipment.order.external_id == str(single["id"]) else ""
        by_location: dict[int, set] = defaultdict(set)
        for line in shipment.lines.all():
            fo_id, fo_line_id, location = fos[prefix + line.sku]
            by_location[location].add((fo_id, fo_line_id, line.quantity))
        expected += [(shipment.tracking_number, frozenset(s)) for s in by_location.values()]
    received = [
        (
            r.body["fulfillment"]["tracking_info"]["number"],
            frozenset(
                (group["fulfillment_order_id"], item["id"], item["quantity"])
                for group in r.body["fulfillment"]["line_items_by_fulfillment_order"]
                for item in group["fulfillment_order_line_items"]
            ),
        )
        for r in posts(shop, "/fulfillments.json")
    ]
    # Two packages for the three-line order (one spans both locations), one for the other.
    assert len(expected) == 4
    assert sorted(received, key=repr) == sorted(expected, key=repr)
    assert len(shop.fulfillments) == 4
    # Stock: 100 each in the warehouse, minus what shipped, set at both locations.
    stock = {"MUG-BLU": 97, "TEE-M-BLK": 99, "NB-A5": 98, "MUG-RED": 98}
    sets = sorted((s["sku"], s["location_id"], s["available"]) for s in shop.inventory_sets)
    assert sets == sorted(
        (sku, location, quantity) for sku, quantity in stock.items() for location in shop.locations
    )

    writes = len([r for r in shop.requests if r.method == "POST"])
    for flow in FLOWS:
        run = hub.run(flow)
        assert run.outcome == "ok", (flow, run.error, run.log)

    assert len([r for r in shop.requests if r.method == "POST"]) == writes
    assert len(shop.fulfillments) == 4
    assert Order.objects.filter(cart=cart).count() == 3


def test_setup_defaults_are_applied():
    adapter = ShopifyAdapter(credentials={}, setup={}, connection_key="cart:1")

    assert adapter.setup["api_version"] == "2024-10"
    assert adapter.setup["page_size"] == 250
    assert "shpat" not in repr(adapter)
    assert json.dumps(adapter.setup)
