"""The BigCommerce adapter against the BigCommerce emulator, over a socket on 127.0.0.1."""

from __future__ import annotations

import email.utils
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

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
from carts.adapters.bigcommerce import mappers
from carts.adapters.bigcommerce.adapter import WEBHOOK_HEADER, BigCommerceAdapter
from carts.models import CartConnection
from orders.models import Order, OrderStatus, Shipment, ShipMethodMapping, UploadState
from sandbox.bigcommerce import BigCommerceEmulator
from sandbox.clock import ManualClock
from sandbox.seed import CUSTOMERS, LineSpec, OrderSpec, order_for
from sync.models import Outcome
from tests.carts.contract import CartContract
from tests.hub import Hub
from tests.sandbox.receiver import WebhookReceiver
from wms.models import WmsConfig, WmsShipMethod

WEBHOOK_SECRET = "whsec-0123456789abcdef"
SKUS = ("MUG-BLU", "TEE-S-BLK", "NB-A5", "CANDLE-FIG", "TOTE-OL")


class StoreEmulator(BigCommerceEmulator):
    """The emulator, plus a Retry-After on the next injected answer (it has no such option)."""

    def __init__(self, **kwargs: Any) -> None:
        # A store hash of its own: the adapter's rate limiter is shared per store hash.
        kwargs.setdefault("store_hash", f"s{uuid.uuid4().hex[:10]}")
        super().__init__(**kwargs)
        self.retry_after_next: str | None = None

    def after(self, request, response) -> None:
        super().after(request, response)
        if response.status == 429 and self.retry_after_next is not None:
            response.headers["Retry-After"] = self.retry_after_next
            self.retry_after_next = None


def adapter_for(
    emulator: BigCommerceEmulator,
    *,
    token: str | None = None,
    store_hash: str | None = None,
    **setup: Any,
) -> BigCommerceAdapter:
    return BigCommerceAdapter(
        credentials={
            "api_base": emulator.base_url,
            "store_hash": store_hash or emulator.store_hash,
            "access_token": token or emulator.access_token,
            "webhook_secret": WEBHOOK_SECRET,
        },
        setup=setup,
        connection_key="cart:bc-test",
    )


def add_orders(emulator: BigCommerceEmulator, count: int) -> list[str]:
    ids = []
    for i in range(count):
        lines = (LineSpec(SKUS[i % len(SKUS)], 1 + i % 3),)
        ids.append(str(emulator.add_order(order_for(CUSTOMERS[i % 12], lines), notify=False)["id"]))
    return ids


def orders_of(items) -> dict[str, CartOrder]:
    return {o.external_id: o for o in items if isinstance(o, CartOrder)}


def list_requests(emulator: BigCommerceEmulator, suffix: str = "/v2/orders"):
    return [r for r in emulator.requests if r.method == "GET" and r.path.endswith(suffix)]


def posted_shipments(emulator: BigCommerceEmulator):
    return [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/shipments")]


# --- the contract -----------------------------------------------------------------------------


class TestBigCommerceContract(CartContract):
    orders_for_paging = 30

    def start_emulator(self) -> StoreEmulator:
        emulator = StoreEmulator()
        emulator.start()
        return emulator

    def make_adapter(self, emulator, *, wrong_credentials: bool = False) -> BigCommerceAdapter:
        return adapter_for(
            emulator, token="not-the-token" if wrong_credentials else None, page_limit=7
        )

    def add_orders(self, emulator, count: int) -> list[str]:
        return add_orders(emulator, count)

    def corrupt_order(self, emulator, external_id: str) -> None:
        with emulator.lock:
            emulator.orders[int(external_id)]["date_created"] = 1_790_000_000

    def fail_next(self, emulator, status: int, *, retry_after: str | None = None) -> None:
        emulator.retry_after_next = retry_after
        emulator.fail_next(1, status)

    def secrets(self, adapter) -> list[str]:
        return [adapter.credentials["access_token"], adapter.credentials["webhook_secret"]]


# --- edge cases of the platform ---------------------------------------------------------------


@pytest.fixture
def store(settings) -> Iterator[StoreEmulator]:
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    with StoreEmulator() as emulator:
        yield emulator


def test_an_empty_store_answers_204_and_nothing_is_yielded(store):
    assert list(adapter_for(store).fetch_orders(None)) == []
    # One request per status: 11, then cancelled, refunded and declined; each a 204.
    assert [r.query["status_id"] for r in list_requests(store)] == [["11"], ["4"], ["5"], ["6"]]


@pytest.mark.parametrize(("count", "pages"), [(7, 3), (6, 3), (2, 1)])
def test_paging_stops_at_a_short_page_or_a_204(store, count, pages):
    ids = add_orders(store, count)

    fetched = orders_of(adapter_for(store, page_limit=3).fetch_orders(None))

    assert sorted(fetched) == sorted(ids)
    awaiting = [r for r in list_requests(store) if r.query["status_id"] == ["11"]]
    assert [r.query["page"] for r in awaiting] == [[str(p)] for p in range(1, pages + 1)]


def test_the_page_limit_never_exceeds_250_so_no_413(store):
    add_orders(store, 2)

    fetched = orders_of(adapter_for(store, page_limit=1000).fetch_orders(None))

    assert len(fetched) == 2
    assert {r.query["limit"][0] for r in list_requests(store)} == {"250"}


def test_orders_are_asked_for_by_modification_date_since_the_cursor(store):
    add_orders(store, 1)
    since = datetime(2026, 11, 1, 8, 30, 15, 123456, tzinfo=UTC)

    list(adapter_for(store).fetch_orders(since))

    first = list_requests(store)[0]
    assert first.query["min_date_modified"] == ["Sun, 01 Nov 2026 08:30:15 +0000"]
    assert first.query["sort"] == ["date_modified:asc"]


def test_an_order_maps_with_its_address_ship_method_money_and_notes(store):
    spec = order_for(
        CUSTOMERS[10],
        (LineSpec("MUG-BLU", 6), LineSpec(None, 4)),
        note="Deliver to loading dock B",
    )
    wire = store.add_order(spec, notify=False)

    [order] = orders_of(adapter_for(store).fetch_orders(None)).values()

    assert order.external_id == order.order_number == str(wire["id"])
    assert order.placed_at == email.utils.parsedate_to_datetime(wire["date_created"])
    assert order.updated_at.tzinfo is not None
    assert order.customer_email == "purchasing@acme.example.com"
    assert order.ship_to is not None
    assert order.ship_to.name == "John Smith"
    assert order.ship_to.company == "Acme Fulfillment, Inc."
    assert (order.ship_to.address2, order.ship_to.country) == ("Suite 400", "US")
    assert order.ship_method_code == "Standard Shipping"
    assert order.total == Decimal(wire["total_inc_tax"])
    assert order.notes == "Deliver to loading dock B"
    assert [(li.sku, li.quantity) for li in order.lines] == [("MUG-BLU", 6), ("", 4)]
    assert order.lines[0].price == Decimal("19.9500")
    assert set(order.raw) == {"order", "products", "shipping_addresses"}


def test_cancelled_refunded_and_declined_orders_come_down_canceled(store):
    cancelled = store.add_order(OrderSpec(outcome="cancelled"), notify=False)
    refunded = store.add_order(OrderSpec(outcome="refunded"), notify=False)
    paid = store.add_order(OrderSpec(), notify=False)
    declined = store.add_order(OrderSpec(), notify=False)
    store.update_order(declined["id"], status_id=6)

    fetched = orders_of(adapter_for(store).fetch_orders(None))

    assert {k: o.canceled for k, o in fetched.items()} == {
        str(cancelled["id"]): True,
        str(refunded["id"]): True,
        str(paid["id"]): False,
        str(declined["id"]): True,
    }


def test_refunded_units_are_not_sent_to_the_warehouse(store):
    spec = OrderSpec(
        lines=(LineSpec("TEE-S-BLK", 3, refunded=1), LineSpec("MUG-GRN", 1, refunded=1)),
        outcome="partially_refunded",
    )
    wire = store.add_order(spec, notify=False)

    default = orders_of(adapter_for(store).fetch_orders(None))
    with_partial = orders_of(adapter_for(store, status_ids=["11", "14"]).fetch_orders(None))

    assert str(wire["id"]) not in default
    order = with_partial[str(wire["id"])]
    assert [(li.sku, li.quantity) for li in order.lines] == [("TEE-S-BLK", 2)]


def test_an_order_with_two_addresses_ships_to_the_first_and_says_so(store):
    lines = (LineSpec("MUG-BLU", 3), LineSpec("TEE-S-BLK", 1), LineSpec("NB-A5", 2))
    wire = store.add_order(order_for(CUSTOMERS[0], lines), notify=False)
    first, second = store.addresses_of(wire["id"])

    [order] = orders_of(adapter_for(store).fetch_orders(None)).values()

    assert order.ship_to is not None
    assert order.ship_to.address1 == first["street_1"]
    assert len(order.lines) == 3
    assert "NB-A5 x2 ships to another address" in order.notes
    assert second["street_1"] in order.notes


def test_digital_lines_are_left_out(store):
    wire = store.add_order(
        order_for(CUSTOMERS[0], (LineSpec("MUG-BLU", 1), LineSpec("EBOOK-01", 1))), notify=False
    )

    order = orders_of(adapter_for(store).fetch_orders(None))[str(wire["id"])]

    assert [li.sku for li in order.lines] == ["MUG-BLU"]


def test_429_with_the_quota_headers_waits_for_the_window_reset(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
    with StoreEmulator(clock=ManualClock(), quota=2) as store:
        for _ in range(2):  # another app of the store spends the shared quota
            requests.get(
                store.url(f"/stores/{store.store_hash}/v2/orders/count"),
                headers={"X-Auth-Token": store.access_token},
                timeout=5,
            )
        adapter = adapter_for(store)

        with pytest.raises(RateLimited) as limited:
            list(adapter.fetch_orders(None))
        sent = len(store.requests)
        with pytest.raises(RateLimited):
            list(adapter.fetch_orders(None))

    assert limited.value.retry_after == pytest.approx(30)
    assert "quota" in limited.value.message
    assert len(store.requests) == sent  # blocked here, the store was not asked again


def test_429_without_headers_is_platform_load_with_a_default_wait(store):
    store.overloaded = True

    with pytest.raises(RateLimited) as limited:
        list(adapter_for(store).fetch_orders(None))

    assert limited.value.retry_after == pytest.approx(10)
    assert "overloaded" in limited.value.message


def test_connection_errors_say_what_to_do(store):
    assert "Connected to BigCommerce store" in adapter_for(store).test_connection()

    with pytest.raises(AuthError, match="rejected the access token"):
        adapter_for(store, token="wrong-token").test_connection()
    store.fail_next(1, 403)
    with pytest.raises(AuthError, match="OAuth scope"):
        adapter_for(store).test_connection()
    with pytest.raises(AdapterError, match="no store with hash 'nosuchstore'"):
        adapter_for(store, store_hash="nosuchstore").test_connection()
    with pytest.raises(AdapterError, match="no inventory location 9"):
        adapter_for(store, location_id=9).test_connection()


# --- mappers: what the wire may look like -------------------------------------------------------


def wire_order(**changes: Any) -> dict[str, Any]:
    order = {
        "id": "5123",
        "status_id": "11",
        "date_created": "Fri, 02 Oct 2026 16:20:05 +0000",
        "date_modified": "Sat, 03 Oct 2026 09:00:00 +0000",
        "date_shipped": "",
        "total_inc_tax": "44.5000",
        "currency_code": "USD",
        "customer_message": "",
        "billing_address": {"first_name": "Ana", "last_name": "García", "email": "a@example.com"},
    }
    order.update(changes)
    return order


def test_ids_and_quantities_may_come_as_strings_or_numbers():
    products = [
        {
            "id": "7",
            "sku": "A",
            "quantity": "2",
            "quantity_refunded": 0,
            "price_inc_tax": "1.5000",
            "order_address_id": "3",
        },
        {"id": 8, "sku": "B", "quantity": 1, "quantity_refunded": "0", "order_address_id": 3},
    ]
    addresses = [{"id": "3", "first_name": "Ana", "street_1": "12 Elm Rd", "shipping_method": "X"}]

    order = mappers.order_from_wire(wire_order(), products, addresses)

    assert isinstance(order, CartOrder)
    assert order.external_id == "5123"
    assert [(li.line_id, li.quantity) for li in order.lines] == [("7", 2), ("8", 1)]
    assert order.notes == ""


def test_dates_are_rfc2822_iso_or_empty():
    assert mappers.parse_date("Fri, 02 Oct 2026 16:20:05 +0000", "d") == datetime(
        2026, 10, 2, 16, 20, 5, tzinfo=UTC
    )
    assert mappers.parse_date("2026-10-02T16:20:05Z", "d") == datetime(
        2026, 10, 2, 16, 20, 5, tzinfo=UTC
    )
    assert mappers.parse_date("", "d") is None
    order = mappers.order_from_wire(wire_order(date_modified=""), [], [])
    assert isinstance(order, CartOrder)
    assert order.updated_at == order.placed_at


def test_an_unreadable_date_is_a_bad_payload_with_the_raw_pieces():
    bad = mappers.order_from_wire(wire_order(date_modified="yesterday"), [{"id": 1}], [])

    assert isinstance(bad, BadPayload)
    assert bad.external_id == "5123"
    assert "date_modified" in bad.message
    assert isinstance(bad.raw, dict)
    assert bad.raw["products"] == [{"id": 1}]


def test_bundle_children_are_skipped_and_the_parent_kept():
    products = [
        {"id": 1, "sku": "KIT", "quantity": 1, "parent_order_product_id": None},
        {"id": 2, "sku": "KIT-A", "quantity": 1, "parent_order_product_id": 1},
        {"id": 3, "sku": "KIT-B", "quantity": 2, "parent_order_product_id": "1"},
    ]

    order = mappers.order_from_wire(wire_order(), products, [])

    assert isinstance(order, CartOrder)
    assert [li.sku for li in order.lines] == ["KIT"]
    assert order.ship_to is None


# --- shipments ---------------------------------------------------------------------------------


def test_a_shipment_goes_to_its_address_with_order_product_ids_once(store):
    wire = store.add_order(order_for(CUSTOMERS[0], (LineSpec("MUG-BLU", 3),)), notify=False)
    [line] = store.products_of(wire["id"])
    [address] = store.addresses_of(wire["id"])
    adapter = adapter_for(store, shipping_providers="UPS=ups")
    package = CartShipment(
        order_external_id=str(wire["id"]),
        order_number=str(wire["id"]),
        tracking_number="1Z999AA10123456784",
        carrier="UPS",
        service="Ground",
        items=[ShipmentItem(sku="MUG-BLU", quantity=3, line_id=str(line["id"]))],
    )

    first = adapter.upload_shipment(package)
    again = adapter.upload_shipment(package)

    [posted] = posted_shipments(store)
    assert posted.body["order_address_id"] == address["id"]
    assert posted.body["items"] == [{"order_product_id": line["id"], "quantity": 3}]
    assert posted.body["shipping_provider"] == "ups"
    assert posted.body["comments"] == "Shipped with UPS Ground"
    assert first == again != ""
    assert store.order(wire["id"])["status_id"] == 2


def test_a_package_for_two_addresses_becomes_one_shipment_per_address_matched_by_sku(store):
    lines = (LineSpec("MUG-BLU", 3), LineSpec("TEE-S-BLK", 1), LineSpec("NB-A5", 2))
    wire = store.add_order(order_for(CUSTOMERS[0], lines), notify=False)
    first, second = store.addresses_of(wire["id"])
    mug, tee, notebook = store.products_of(wire["id"])
    package = CartShipment(
        order_external_id=str(wire["id"]),
        order_number=str(wire["id"]),
        tracking_number="1ZSPLIT",
        carrier="Local Courier",
        items=[
            ShipmentItem(sku=s, quantity=q)
            for s, q in (("MUG-BLU", 3), ("TEE-S-BLK", 1), ("NB-A5", 2))
        ],
    )

    adapter_for(store).upload_shipment(package)
    adapter_for(store).upload_shipment(package)

    bodies = [r.body for r in posted_shipments(store)]
    assert [(b["order_address_id"], b["items"]) for b in bodies] == [
        (
            first["id"],
            [
                {"order_product_id": mug["id"], "quantity": 3},
                {"order_product_id": tee["id"], "quantity": 1},
            ],
        ),
        (second["id"], [{"order_product_id": notebook["id"], "quantity": 2}]),
    ]
    assert {b["shipping_provider"] for b in bodies} == {""}
    assert store.order(wire["id"])["status_id"] == 2


def test_a_shipment_caps_refunded_units_and_refuses_unknown_skus(store):
    spec = OrderSpec(lines=(LineSpec("TEE-S-BLK", 2, refunded=1),), outcome="partially_refunded")
    wire = store.add_order(spec, notify=False)
    adapter = adapter_for(store)

    def package(tracking: str, sku: str, quantity: int) -> CartShipment:
        order_id = str(wire["id"])
        return CartShipment(order_id, order_id, tracking, items=[ShipmentItem(sku, quantity)])

    with pytest.raises(AdapterError, match="no line for GHOST-SKU") as unknown:
        adapter.upload_shipment(package("T1", "GHOST-SKU", 1))
    adapter.upload_shipment(package("T2", "TEE-S-BLK", 2))

    assert unknown.value.permanent
    [posted] = posted_shipments(store)
    assert posted.body["items"][0]["quantity"] == 1


def test_a_refused_shipment_is_permanent_and_says_what_bigcommerce_said(store):
    wire = store.add_order(notify=False)
    order_id = str(wire["id"])
    package = CartShipment(
        order_id, order_id, "1Z1", carrier="DHL", items=[ShipmentItem("MUG-BLU", 1)]
    )

    with pytest.raises(AdapterError) as refused:
        adapter_for(store, shipping_providers="DHL=dhl").upload_shipment(package)

    assert refused.value.permanent
    assert "The field 'shipping_provider' is invalid." in refused.value.message
    assert store.shipments == {}


def test_a_tracking_number_over_50_characters_is_refused_before_sending(store):
    wire = store.add_order(notify=False)
    package = CartShipment(
        str(wire["id"]), str(wire["id"]), "9" * 51, items=[ShipmentItem("MUG-BLU", 1)]
    )

    with pytest.raises(AdapterError, match="50 characters"):
        adapter_for(store).upload_shipment(package)

    assert store.requests == []


# --- inventory -----------------------------------------------------------------------------------


def test_stock_is_set_by_sku_and_unknown_skus_fail_alone(store):
    levels = [
        StockLevel("MUG-BLU", 42),
        StockLevel("NO-SUCH-SKU", 5),
        StockLevel("NB-A5", -3),
        StockLevel("GIFT-25", 1),  # not tracked: a gift card
    ]

    results = adapter_for(store).upload_inventory(levels)

    assert {r.sku: r.ok for r in results} == {
        "MUG-BLU": True,
        "NO-SUCH-SKU": False,
        "NB-A5": True,
        "GIFT-25": False,
    }
    assert "does not exist" in next(r.error for r in results if r.sku == "NO-SUCH-SKU")
    assert store.available("MUG-BLU") == 42
    assert store.available("NB-A5") == 0
    assert store.available("MUG-BLU", location_id=2) == 3


def test_stock_goes_to_the_configured_location(store):
    adapter_for(store, location_id=2).upload_inventory([StockLevel("NB-A5", 17)])

    assert store.available("NB-A5", location_id=2) == 17


# --- webhooks ------------------------------------------------------------------------------------


def test_webhooks_are_registered_once_with_the_secret_header_and_verified(store):
    with WebhookReceiver() as receiver:
        adapter = adapter_for(store)
        topics = adapter.register_webhooks(receiver.url)
        adapter.register_webhooks(receiver.url)
        order = store.add_order()
        store.update_order(order["id"], status_id=9)

    assert len(store.hooks) == len(topics) == 3
    assert {h["scope"] for h in store.hooks.values()} == set(topics)
    created, updated, status = receiver.received
    assert adapter.parse_webhook(updated.headers, updated.body).topic == "store/order/updated"
    notice = adapter.parse_webhook(created.headers, created.body)
    assert notice.topic == "store/order/created"
    assert notice.order_external_ids == [str(order["id"])]
    assert notice.event_id.startswith(f"store/order/created:{order['id']}:")
    assert adapter.parse_webhook(status.headers, status.body).event_id != notice.event_id
    assert adapter.parse_webhook(created.headers, created.body).event_id == notice.event_id


def test_a_webhook_without_the_secret_is_refused(store):
    body = json.dumps({"scope": "store/order/created", "data": {"type": "order", "id": 1}})

    with pytest.raises(AuthError):
        adapter_for(store).parse_webhook({WEBHOOK_HEADER: "guess"}, body.encode())
    with pytest.raises(AuthError):
        adapter_for(store).parse_webhook({}, body.encode())


def test_a_hook_with_a_stale_secret_is_repaired_not_duplicated(store):
    store.subscribe("store/order/created", "http://127.0.0.1:9/hooks", {WEBHOOK_HEADER: "old"})

    adapter_for(store).register_webhooks("http://127.0.0.1:9/hooks")

    created = [h for h in store.hooks.values() if h["scope"] == "store/order/created"]
    assert [h["headers"] for h in created] == [{WEBHOOK_HEADER: WEBHOOK_SECRET}]
    assert len(store.hooks) == 3


# --- the real flows, end to end ------------------------------------------------------------------


@pytest.fixture
def bc_hub(world, tmp_path, store) -> Hub:
    wms = WmsConfig.objects.create(
        account=world.account,
        kind="dummy",
        credentials={"api_key": "wms-key"},
        settings={
            "name": f"wh{world.account.pk}",
            "ledger_dir": str(tmp_path),
            "skus": ",".join(SKUS[:3]),
        },
    )
    ground = WmsShipMethod.objects.create(account=world.account, code="GROUND", carrier="UPS")
    WmsShipMethod.objects.create(account=world.account, code="EXPRESS", carrier="FedEx")
    ShipMethodMapping.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        cart_code="Standard Shipping",
        ship_method=ground,
    )
    cart = CartConnection.objects.create(
        account=world.account,
        merchant=world.merchant_a,
        kind="bigcommerce",
        order_source="BigCommerce store",
        credentials={
            "api_base": store.base_url,
            "store_hash": store.store_hash,
            "access_token": store.access_token,
            "webhook_secret": WEBHOOK_SECRET,
        },
        setup={"page_limit": 2, "shipping_providers": "UPS=ups"},
    )
    cart.inventory_upload_interval = 60
    cart.save()
    return Hub(world=world, wms=wms, cart=cart, ledger_dir=tmp_path)


@pytest.mark.django_db
def test_orders_go_to_the_warehouse_and_tracking_and_stock_come_back_once(store, bc_hub):
    single = store.add_order(order_for(CUSTOMERS[0], (LineSpec("MUG-BLU", 2),)), notify=False)
    split = store.add_order(
        order_for(
            CUSTOMERS[4], (LineSpec("MUG-BLU", 3), LineSpec("TEE-S-BLK", 1), LineSpec("NB-A5", 2))
        ),
        notify=False,
    )
    cancelled = store.add_order(OrderSpec(outcome="cancelled"), notify=False)

    for flow in (
        "download",
        "delivery",
        "ship_confirm",
        "shipment_upload",
        "inventory",
        "inventory_upload",
    ):
        assert bc_hub.run(flow).outcome == Outcome.OK, flow

    orders = {o.external_id: o for o in Order.objects.filter(cart=bc_hub.cart)}
    assert orders[str(cancelled["id"])].status == OrderStatus.CANCELED
    assert orders[str(single["id"])].status == OrderStatus.CONFIRMED
    assert orders[str(split["id"])].status == OrderStatus.CONFIRMED
    assert not Shipment.objects.exclude(upload_state=UploadState.UPLOADED).exists()

    def shipped(order_id):
        return sorted(
            (
                s["order_address_id"],
                s["tracking_number"],
                tuple((i["order_product_id"], i["quantity"]) for i in s["items"]),
            )
            for s in store.shipments.values()
            if s["order_id"] == order_id
        )

    [single_address] = store.addresses_of(single["id"])
    [single_line] = store.products_of(single["id"])
    assert shipped(single["id"]) == [
        (single_address["id"], f"1ZS{orders[str(single['id'])].key}", ((single_line["id"], 2),))
    ]
    first, second = store.addresses_of(split["id"])
    mug, tee, notebook = store.products_of(split["id"])
    tracking = f"1ZS{orders[str(split['id'])].key}"
    assert shipped(split["id"]) == [
        (first["id"], tracking, ((mug["id"], 3), (tee["id"], 1))),
        (second["id"], tracking, ((notebook["id"], 2),)),
    ]
    assert {s["shipping_provider"] for s in store.shipments.values()} == {"ups"}
    assert [store.available(sku) for sku in SKUS[:3]] == [95, 99, 98]

    before = (len(store.shipments), len(store.inventory_adjustments), len(posted_shipments(store)))
    for flow in (
        "download",
        "delivery",
        "ship_confirm",
        "shipment_upload",
        "inventory",
        "inventory_upload",
    ):
        assert bc_hub.run(flow).outcome == Outcome.OK, flow

    after = (len(store.shipments), len(store.inventory_adjustments), len(posted_shipments(store)))
    assert before == after == (3, 1, 3)
    assert Order.objects.filter(cart=bc_hub.cart).count() == 3
