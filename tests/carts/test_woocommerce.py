"""The WooCommerce adapter against the WooCommerce emulator, over a real socket on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.urls import reverse

from cartrover.adapters import (
    AdapterError,
    AuthError,
    CartOrder,
    CartShipment,
    RateLimited,
    ShipmentItem,
    StockLevel,
)
from carts.adapters.base import CartAdapter
from carts.adapters.woocommerce.adapter import WooCommerceAdapter
from carts.adapters.woocommerce.client import OAuth1Signature, WooCommerceClient
from carts.models import CartConnection
from carts.services import cart_webhooks_register
from sandbox.seed import CUSTOMERS, SHIP_METHODS, LineSpec, OrderSpec
from sandbox.server import Request, Response, json_bytes
from sandbox.woocommerce import WooCommerceEmulator
from sync.models import Schedule, WebhookEvent
from tests.carts.contract import CartContract
from tests.hub import Hub
from wms.models import WmsConfig, WmsShipMethod

WC = "/wp-json/wc/v3"
WEBHOOK_SECRET = "whsec-woo-0123456789abcdef"
SKUS = ["MUG-BLU", "MUG-GRN", "TEE-M-BLK", "TOTE-OL", "NB-A5", "CANDLE-FIG", "TEA-MATCHA"]


class Site(WooCommerceEmulator):
    """A plain-http WooCommerce site, strict like the real one, with Retry-After on 429/503.

    Real WooCommerce ignores Basic and query-string keys unless the site is on HTTPS, so the
    emulator runs with basic_auth_over_http=False: only OAuth 1.0a signatures get in. Its
    fail_next cannot add headers, but hosts send Retry-After with their 429s and 503s.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("basic_auth_over_http", False)
        super().__init__(**kwargs)
        self.retry_after: str | None = None
        # One rate limiter per site: a Retry-After block must not outlive its test.
        self.connection_key = f"test-{uuid.uuid4().hex[:8]}"

    def after(self, request: Request, response: Response) -> None:
        super().after(request, response)
        if response.status in (429, 503) and self.retry_after:
            response.headers["Retry-After"] = self.retry_after


def credentials(site: WooCommerceEmulator, **changes: str) -> dict[str, str]:
    return {
        "store_url": site.base_url,
        "consumer_key": site.consumer_key,
        "consumer_secret": site.consumer_secret,
        "webhook_secret": WEBHOOK_SECRET,
        **changes,
    }


def adapter_for(site: WooCommerceEmulator, **setup) -> WooCommerceAdapter:
    return WooCommerceAdapter(
        credentials=credentials(site),
        setup={"lookback_days": 45, **setup},
        connection_key=getattr(site, "connection_key", "test"),
    )


def spec(*lines: tuple[str | None, int], **changes) -> OrderSpec:
    return OrderSpec(lines=tuple(LineSpec(sku, qty) for sku, qty in lines), **changes)


def orders_of(items) -> dict[str, CartOrder]:
    return {o.external_id: o for o in items if isinstance(o, CartOrder)}


def posts(site: WooCommerceEmulator, fragment: str = "") -> list:
    return [
        r for r in site.requests if r.method in ("POST", "PUT", "DELETE") and fragment in r.path
    ]


@pytest.fixture
def site(settings) -> Iterator[Site]:
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    with Site() as running:
        yield running


# --- 1. The contract every cart adapter passes -------------------------------------------------


class TestWooCommerceContract(CartContract):
    orders_for_paging = 23

    def start_emulator(self) -> Site:
        site = Site()
        site.start()
        return site

    def make_adapter(self, emulator: Site, *, wrong_credentials: bool = False) -> CartAdapter:
        creds = credentials(emulator)
        if wrong_credentials:
            creds["consumer_secret"] = "cs_wrong_secret_0000000000000000000000000"
        return WooCommerceAdapter(
            credentials=creds,
            setup={"per_page": 5, "lookback_days": 45},
            connection_key=emulator.connection_key,
        )

    def add_orders(self, emulator: Site, count: int) -> list[str]:
        ids = []
        for i in range(count):
            sku = SKUS[i % len(SKUS)]
            order = emulator.add_order(
                spec((sku, 1 + i % 3), customer=CUSTOMERS[i % len(CUSTOMERS)]), notify=False
            )
            ids.append(str(order["id"]))
        return ids

    def corrupt_order(self, emulator: Site, external_id: str) -> None:
        with emulator.lock:
            emulator.orders[int(external_id)]["line_items"] = "not a list"

    def fail_next(self, emulator: Site, status: int, *, retry_after: str | None = None) -> None:
        emulator.retry_after = retry_after
        emulator.fail_next(1, status)

    def secrets(self, adapter: CartAdapter) -> list[str]:
        # The store URL is an address, not a secret; it appears in log lines on purpose.
        return [
            str(adapter.credentials[name])
            for name in ("consumer_key", "consumer_secret", "webhook_secret")
        ]


# --- 2. WooCommerce's edge cases ---------------------------------------------------------------


def test_dates_come_from_the_gmt_fields_as_aware_utc(site):
    raw = site.add_order(notify=False)

    [order] = adapter_for(site).fetch_orders(None)

    assert isinstance(order, CartOrder)
    gmt = datetime.fromisoformat(raw["date_created_gmt"]).replace(tzinfo=UTC)
    assert order.placed_at == gmt
    assert order.updated_at == datetime.fromisoformat(raw["date_modified_gmt"]).replace(tzinfo=UTC)
    assert raw["date_created"] != raw["date_created_gmt"]


def test_order_fields_are_mapped_with_numeric_prices_and_unescaped_names(site):
    raw = site.add_order(
        spec(
            ("TOTE-OL", 2),
            ("MUG-BLU", 1),
            ship_method=SHIP_METHODS[1],
            note="Ring twice &amp; wait",
        ),
        notify=False,
    )

    [order] = adapter_for(site).fetch_orders(None)

    tote, mug = order.lines
    assert isinstance(raw["line_items"][0]["price"], int | float)
    assert "&ndash;" in raw["line_items"][0]["name"]
    assert (tote.sku, tote.quantity, tote.price) == ("TOTE-OL", 2, Decimal("20"))
    assert tote.name == "Tote – Olive & Sand - Olive"  # noqa: RUF001
    assert tote.line_id == str(raw["line_items"][0]["id"])
    assert mug.price == Decimal("19.95")
    assert order.external_id == str(raw["id"])
    assert order.order_number == raw["number"]
    assert order.ship_method_code == "express"
    assert order.total == Decimal(raw["total"])
    assert order.notes == "Ring twice & wait"
    assert order.customer_email == "ana.garcia@example.com"
    assert order.ship_to.name == "Ana García"
    assert order.ship_to.postal_code == "45402"
    assert order.raw["id"] == raw["id"]


def test_a_line_without_sku_keeps_an_empty_sku(site):
    site.add_order(spec((None, 4), ("NB-A5", 1)), notify=False)

    [order] = adapter_for(site).fetch_orders(None)

    assert [(li.sku, li.quantity) for li in order.lines] == [("", 4), ("NB-A5", 1)]


def test_blank_address_strings_stay_blank(site):
    site.add_order(spec(("EBOOK-01", 1), shipping_address=None, ship_method=None), notify=False)
    site.update_order(next(iter(site.orders)), status="processing")

    [order] = adapter_for(site).fetch_orders(None)

    assert order.ship_to.name == ""
    assert order.ship_to.address1 == ""
    assert order.ship_to.country == ""
    assert order.ship_method_code == ""
    assert order.customer_email == "ana.garcia@example.com"


def test_cancelled_refunded_and_failed_orders_are_read_as_canceled(site):
    cancelled = site.add_order(spec(("CANDLE-FIG", 1), outcome="cancelled"), notify=False)
    refunded = site.add_order(spec(("MUG-RED", 2), outcome="refunded"), notify=False)
    partial = site.add_order(
        OrderSpec(lines=(LineSpec("TEE-S-BLK", 3, refunded=1),), outcome="partially_refunded"),
        notify=False,
    )
    failed = site.add_order(status="failed", notify=False)
    pending = site.add_order(spec(("MUG-BLU", 1), outcome="pending"), notify=False)

    orders = orders_of(adapter_for(site).fetch_orders(None))

    assert orders[str(cancelled["id"])].canceled
    assert orders[str(refunded["id"])].canceled
    assert orders[str(failed["id"])].canceled
    assert not orders[str(partial["id"])].canceled
    assert str(pending["id"]) not in orders


def test_chosen_statuses_are_sent_and_per_page_never_exceeds_100(site):
    site.add_order(notify=False)

    list(adapter_for(site, statuses="processing, on-hold", per_page=500).fetch_orders(None))

    [listing] = [r for r in site.requests if r.path == f"{WC}/orders"]
    assert listing.query["status"] == ["processing,on-hold,cancelled,refunded,failed"]
    assert listing.query["per_page"] == ["100"]
    assert listing.query["dates_are_gmt"] == ["true"]
    assert listing.query["orderby"] == ["modified"]


def test_orders_changed_since_are_fetched_inclusively(site):
    old = site.add_order(notify=False)
    since = datetime.fromisoformat(old["date_modified_gmt"]).replace(tzinfo=UTC)

    found = orders_of(adapter_for(site).fetch_orders(since))

    assert list(found) == [str(old["id"])]


def test_an_order_changed_while_paging_does_not_hide_another(site):
    start = datetime.now(UTC) - timedelta(hours=1)
    orders = [
        site.add_order(spec(("MUG-BLU", 1), placed_at=start + timedelta(minutes=i)), notify=False)
        for i in range(5)
    ]
    fetching = adapter_for(site, per_page=2).fetch_orders(None)

    first = next(fetching)
    site.update_order(orders[0]["id"], customer_note="Gift wrap, please")
    rest = list(fetching)

    ids = [first.external_id, *(o.external_id for o in rest)]
    assert sorted(ids) == sorted(str(o["id"]) for o in orders)
    assert len(ids) == len(set(ids))


def test_an_http_site_gets_signed_requests_and_the_secret_never_travels(site, caplog):
    site.add_order(notify=False)

    with caplog.at_level(logging.DEBUG):
        [order] = adapter_for(site).fetch_orders(None)

    assert isinstance(order, CartOrder)
    [listing] = [r for r in site.requests if r.path == f"{WC}/orders"]
    assert listing.headers["authorization"].startswith("OAuth ")
    assert 'oauth_signature_method="HMAC-SHA256"' in listing.headers["authorization"]
    assert "consumer_key" not in listing.query
    everything = caplog.text + repr(site.requests)
    assert site.consumer_secret not in everything


def test_https_stores_use_basic_auth_and_http_stores_oauth():
    https = WooCommerceClient(
        store_url="https://shop.example.com/",
        consumer_key="ck_1",
        consumer_secret="cs_1",
        connection_key="t",
    )
    http = WooCommerceClient(
        store_url="http://shop.example.com",
        consumer_key="ck_1",
        consumer_secret="cs_1",
        connection_key="t",
    )
    prepared = requests.Request("GET", "https://shop.example.com/wp-json/wc/v3/orders")

    assert https.http._auth == ("ck_1", "cs_1")
    assert isinstance(http.http._auth, OAuth1Signature)
    assert "cs_1" not in repr(http) + repr(http.http._auth)
    assert "cs_1" not in str(http.http._auth(prepared.prepare()).headers)


def test_wrong_store_url_names_the_problem(site):
    adapter = WooCommerceAdapter(
        credentials=credentials(site, store_url=site.url("/blog")),
        setup={},
        connection_key=site.connection_key,
    )

    with pytest.raises(AdapterError) as wrong:
        adapter.test_connection()

    assert "store URL" in wrong.value.message
    assert "REST API" in wrong.value.message


class _HtmlSite(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Welcome to my blog</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_site_answering_html_is_named_as_the_wrong_url(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        adapter = WooCommerceAdapter(
            credentials={
                "store_url": f"http://127.0.0.1:{server.server_address[1]}",
                "consumer_key": "ck_x",
                "consumer_secret": "cs_x",
            },
            setup={},
            connection_key="html",
        )
        with pytest.raises(AdapterError) as wrong:
            adapter.test_connection()
        with pytest.raises(AdapterError) as fetching:
            list(adapter.fetch_orders(None))
    finally:
        server.shutdown()
        server.server_close()

    assert wrong.value.permanent
    assert "store URL" in wrong.value.message
    assert "store URL" in fetching.value.message


def test_rejected_key_says_what_to_do(site):
    adapter = WooCommerceAdapter(
        credentials=credentials(site, consumer_secret="cs_not_the_right_one_000000"),
        setup={},
        connection_key=site.connection_key,
    )

    with pytest.raises(AuthError) as refused:
        adapter.test_connection()

    assert "rejected the consumer key/secret" in refused.value.message
    assert "Invalid signature" in refused.value.message
    assert "cs_not_the_right_one" not in refused.value.message


def test_a_503_with_retry_after_and_a_429_are_typed(site):
    adapter = adapter_for(site)
    site.retry_after = "3"
    site.fail_next(1, 429)

    with pytest.raises(RateLimited) as limited:
        adapter.test_connection()

    assert limited.value.retry_after == pytest.approx(3)


# --- shipments ---


def shipment(order: dict, tracking: str, *items: tuple[int, int], carrier: str = "UPS"):
    lines = order["line_items"]
    return CartShipment(
        order_external_id=str(order["id"]),
        order_number=order["number"],
        tracking_number=tracking,
        carrier=carrier,
        shipped_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
        items=[
            ShipmentItem(sku=lines[i]["sku"], quantity=q, line_id=str(lines[i]["id"]))
            for i, q in items
        ],
    )


def test_shipment_adds_tracking_and_note_and_completes_the_order(site):
    order = site.add_order(spec(("MUG-BLU", 2)), notify=False)
    adapter = adapter_for(site, tracking_extension=True)

    reference = adapter.upload_shipment(shipment(order, "1Z999", (0, 2)))

    [tracking] = site.trackings[order["id"]]
    assert tracking["tracking_number"] == "1Z999"
    assert tracking["tracking_provider"] == "UPS"
    assert tracking["date_shipped"] == "2026-11-20"
    assert reference == tracking["tracking_id"]
    [note] = site.notes[order["id"]]
    assert "1Z999" in note["note"] and "UPS" in note["note"]
    assert note["customer_note"] is True
    assert site.order(order["id"])["status"] == "completed"


def test_an_unknown_carrier_goes_in_as_a_custom_provider(site):
    order = site.add_order(notify=False)

    adapter_for(site, tracking_extension=True).upload_shipment(
        shipment(order, "LC-77", (0, 1), carrier="Local Courier")
    )

    [tracking] = site.trackings[order["id"]]
    assert tracking["tracking_provider"] == "Local Courier"


def test_uploading_the_same_package_twice_adds_nothing_twice(site):
    order = site.add_order(spec(("MUG-BLU", 1)), notify=False)
    package = shipment(order, "1Z111", (0, 1))

    adapter_for(site, tracking_extension=True).upload_shipment(package)
    writes = len(posts(site))
    adapter_for(site, tracking_extension=True).upload_shipment(package)

    assert len(site.trackings[order["id"]]) == 1
    assert len(site.notes[order["id"]]) == 1
    assert len(posts(site)) == writes


def test_the_order_is_completed_only_when_every_line_has_shipped(site):
    order = site.add_order(spec(("MUG-BLU", 2), ("NB-A5", 1)), notify=False)
    adapter = adapter_for(site, tracking_extension=True, note_to_customer=False)

    adapter.upload_shipment(shipment(order, "1ZA", (0, 1)))
    after_first = site.order(order["id"])["status"]
    adapter.upload_shipment(shipment(order, "1ZB", (0, 1), (1, 1)))

    assert after_first == "processing"
    assert site.order(order["id"])["status"] == "completed"
    assert [n["customer_note"] for n in site.notes[order["id"]]] == [False, False]
    assert len(site.trackings[order["id"]]) == 2


def test_without_the_tracking_extension_the_error_says_so_and_nothing_is_written():
    with Site(tracking_enabled=False) as site:
        order = site.add_order(notify=False)
        with pytest.raises(AdapterError) as missing:
            adapter_for(site, tracking_extension=True).upload_shipment(
                shipment(order, "1Z5", (0, 1))
            )

    assert missing.value.permanent
    assert "Shipment Tracking extension" in missing.value.message
    assert "install" in missing.value.message
    assert site.notes.get(order["id"]) is None
    assert site.order(order["id"])["status"] == "processing"


def test_with_the_extension_off_the_note_carries_the_tracking(site):
    order = site.add_order(notify=False)

    adapter_for(site).upload_shipment(shipment(order, "1Z6", (0, 1)))

    assert site.trackings.get(order["id"]) is None
    assert "1Z6" in site.notes[order["id"]][0]["note"]
    assert site.order(order["id"])["status"] == "completed"


def test_a_deleted_order_is_a_permanent_error_naming_it(site):
    order = site.add_order(notify=False)
    with site.lock:
        del site.orders[order["id"]]

    with pytest.raises(AdapterError) as gone:
        adapter_for(site).upload_shipment(shipment(order, "1Z7", (0, 1)))

    assert gone.value.permanent
    assert str(order["id"]) in gone.value.message


# --- inventory ---


def test_stock_is_set_on_products_and_variations_found_by_sku(site):
    adapter = adapter_for(site)

    results = adapter.upload_inventory(
        [
            StockLevel("NB-A5", 7),
            StockLevel("MUG-GRN", 4),
            StockLevel("NO-SUCH-SKU", 1),
            StockLevel("NB-A5,MUG-GRN", 1),
        ]
    )

    assert [(r.sku, r.ok) for r in results] == [
        ("NB-A5", True),
        ("MUG-GRN", True),
        ("NO-SUCH-SKU", False),
        ("NB-A5,MUG-GRN", False),
    ]
    assert "NO-SUCH-SKU" in results[2].error
    assert "comma" in results[3].error
    assert site.product_by_sku("NB-A5")["stock_quantity"] == 7
    mug = site.product_by_sku("MUG-GRN")
    assert mug["stock_quantity"] == 4
    assert [r.path for r in posts(site)] == [
        f"{WC}/products/batch",
        f"{WC}/products/{mug['parent_id']}/variations/batch",
    ]


def test_stock_is_applied_to_a_product_that_did_not_manage_stock(site):
    assert site.product_by_sku("CANDLE-FIG")["manage_stock"] is False

    [result] = adapter_for(site).upload_inventory([StockLevel("CANDLE-FIG", 9)])

    assert result.ok
    [update] = site.stock_updates
    assert update["applied"] is True
    assert site.product_by_sku("CANDLE-FIG")["stock_quantity"] == 9


def test_sku_lookups_are_cached_for_the_adapters_life(site):
    adapter = adapter_for(site)
    adapter.upload_inventory([StockLevel("NB-A5", 1)])
    adapter.upload_inventory([StockLevel("NB-A5", 2)])

    lookups = [r for r in site.requests if r.path == f"{WC}/products"]
    assert len(lookups) == 1
    assert site.product_by_sku("NB-A5")["stock_quantity"] == 2


# --- webhooks ---


def test_webhooks_are_registered_once_with_the_secret(site):
    adapter = adapter_for(site)

    adapter.register_webhooks("http://127.0.0.1:9/hooks/carts/abc/")
    adapter.register_webhooks("http://127.0.0.1:9/hooks/carts/abc/")

    assert sorted(w["topic"] for w in site.webhooks.values()) == ["order.created", "order.updated"]
    assert {site.webhook_secret(i) for i in site.webhooks} == {WEBHOOK_SECRET}


def test_a_signed_webhook_is_parsed_and_a_forged_one_refused(site):
    body = b'{"id":3101,"status":"processing"}'
    headers = site.webhook_headers("order.updated", body, 7, WEBHOOK_SECRET)
    adapter = adapter_for(site)

    notice = adapter.parse_webhook(headers, body)
    forged = site.webhook_headers("order.updated", body, 7, "another-secret")

    assert notice.topic == "order.updated"
    assert notice.order_external_ids == ["3101"]
    assert headers["X-WC-Webhook-Delivery-ID"] in notice.event_id
    with pytest.raises(AuthError):
        adapter.parse_webhook(forged, body)
    with pytest.raises(AuthError):
        adapter.parse_webhook(headers, body + b" ")
    ping = adapter.parse_webhook({}, b"webhook_id=7")
    assert (ping.topic, ping.event_id, ping.order_external_ids) == ("ping", "", [])


# --- 3. The real flows against the emulator ----------------------------------------------------


@pytest.fixture
def woo_hub(world, tmp_path, site) -> Hub:
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={
            "name": f"wh{world.account.pk}",
            "ledger_dir": str(tmp_path),
            "skus": ",".join([*SKUS, "NOT-IN-STORE"]),
        },
    )
    for code, carrier in (("flat_rate", "UPS"), ("express", "FedEx")):
        WmsShipMethod.objects.create(account=world.account, code=code, carrier=carrier)
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="woocommerce",
        order_source="Woo store",
        credentials=credentials(site),
        setup={"tracking_extension": True, "per_page": 2, "lookback_days": 45},
    )
    cart.inventory_upload_interval = 60
    cart.save()
    return Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)


FLOW_ORDER = ("download", "delivery", "ship_confirm", "shipment_upload", "inventory")


@pytest.mark.django_db
def test_orders_flow_from_woocommerce_to_the_warehouse_and_back_nothing_twice(site, woo_hub):
    paid = site.add_order(spec(("MUG-BLU", 2), ("TOTE-OL", 1)), notify=False)
    other = site.add_order(
        spec(("NB-A5", 1), customer=CUSTOMERS[4], ship_method=SHIP_METHODS[1]), notify=False
    )
    cancelled = site.add_order(spec(("CANDLE-FIG", 1), outcome="cancelled"), notify=False)

    runs = {flow: woo_hub.run(flow) for flow in (*FLOW_ORDER, "inventory_upload")}

    assert runs["download"].counts["new"] == 3
    delivered = {r["order_number"] for r in woo_hub.warehouse.records("order")}
    assert delivered == {paid["number"], other["number"]}
    assert runs["shipment_upload"].counts["uploaded"] == 2
    for order in (paid, other):
        assert site.order(order["id"])["status"] == "completed"
        [tracking] = site.trackings[order["id"]]
        [note] = site.notes[order["id"]]
        assert tracking["tracking_number"] in note["note"]
    assert site.order(cancelled["id"])["status"] == "cancelled"
    stock = {u["sku"]: u for u in site.stock_updates}
    assert stock["MUG-BLU"]["stock_quantity"] == 98
    assert stock["TOTE-OL"]["stock_quantity"] == 99
    assert stock["NB-A5"]["stock_quantity"] == 99
    assert stock["CANDLE-FIG"]["stock_quantity"] == 100
    assert all(u["applied"] for u in site.stock_updates)
    assert runs["inventory_upload"].outcome == "partial"  # NOT-IN-STORE is not in the store
    writes = len(posts(site))

    again = {flow: woo_hub.run(flow) for flow in (*FLOW_ORDER, "inventory_upload")}

    assert again["download"].counts.get("new", 0) == 0
    assert again["shipment_upload"].counts.get("uploaded", 0) == 0
    assert posts(site)[writes:] == []
    assert len(list(woo_hub.warehouse.records("order"))) == 2


# --- 4. Webhooks into the hub's intake ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_woocommerce_webhooks_reach_the_hub_and_a_duplicate_is_ignored(
    site, woo_hub, live_server, settings
):
    settings.PUBLIC_URL = live_server.url
    schedule = woo_hub.schedule("download")
    later = datetime(2099, 1, 1, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=later)

    topics = cart_webhooks_register(woo_hub.cart)
    order = site.add_order(notify=False)
    site.duplicate_webhooks(1)
    site.update_order(order["id"], customer_note="Leave at the door")

    address = live_server.url + reverse("cart_webhook", args=[woo_hub.cart.webhook_key])
    updates = [d for d in site.deliveries if d.headers.get("X-WC-Webhook-Topic")]
    pings = [d for d in site.deliveries if not d.headers.get("X-WC-Webhook-Topic")]
    assert [d.status for d in pings] == [200, 200]  # each new webhook's ping is acknowledged
    assert topics == ["order.created", "order.updated"]
    assert {d.url for d in site.deliveries} == {address}
    assert [d.status for d in updates] == [200, 200]
    [event] = WebhookEvent.objects.filter(cart=woo_hub.cart)
    assert event.topic == "order.updated"
    assert str(order["id"]) in event.event_id
    schedule.refresh_from_db()
    assert schedule.next_run_at < later


@pytest.mark.django_db
def test_an_emulator_signed_webhook_is_accepted_once_then_duplicate(site, woo_hub, client):
    schedule = woo_hub.schedule("download")
    later = datetime(2099, 1, 1, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=later)
    order = site.add_order(notify=False)
    body = json_bytes(order)
    headers = site.webhook_headers("order.created", body, 1, WEBHOOK_SECRET)
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    address = reverse("cart_webhook", args=[woo_hub.cart.webhook_key])

    first = client.post(address, body, content_type="application/json", **meta)
    second = client.post(address, body, content_type="application/json", **meta)
    forged = client.post(address, body + b" ", content_type="application/json", **meta)

    assert first.json() == {"status": "accepted"}
    assert second.json() == {"status": "duplicate"}
    assert forged.status_code == 401
    [event] = WebhookEvent.objects.filter(cart=woo_hub.cart)
    assert event.topic == "order.created"
    schedule.refresh_from_db()
    assert schedule.next_run_at < later
