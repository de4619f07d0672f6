"""The Extensiv adapter against the Extensiv emulator: orders once, tracking and stock back."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from cartrover.adapters import (
    AdapterError,
    Address,
    AuthError,
    MerchantRef,
    ShipmentItem,
    TransientError,
    WmsOrder,
    WmsOrderLine,
)
from sandbox.clock import ManualClock
from sandbox.extensiv import ExtensivEmulator
from wms.adapters.extensiv import adapter as extensiv_adapter
from wms.adapters.extensiv.adapter import ExtensivAdapter

CUSTOMER = 12
FACILITY = 3
MERCHANT = MerchantRef(id=1, name="Acme Outdoor", settings={"customer_id": CUSTOMER})


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ALLOW_PRIVATE_NETWORK_TARGETS = True


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def wms(clock: ManualClock) -> Iterator[ExtensivEmulator]:
    with ExtensivEmulator(clock=clock) as emulator:
        yield emulator


def make_adapter(wms: ExtensivEmulator, **credentials: str) -> ExtensivAdapter:
    # One connection key per emulator: the rate limiter is shared per key.
    return ExtensivAdapter(
        credentials={**wms.credentials(), **credentials},
        settings={"base_url": wms.base_url, "facility_id": FACILITY},
        connection_key=f"wms:{wms.base_url.rsplit(':', 1)[1]}",
    )


@pytest.fixture
def adapter(wms: ExtensivEmulator) -> ExtensivAdapter:
    return make_adapter(wms)


def order(key: str = "H1", *lines: tuple[str, int], **fields) -> WmsOrder:
    return WmsOrder(
        key=key,
        order_number=f"#{key[1:]}",
        order_source="Store",
        placed_at=None,
        ship_to=Address(
            name="Ana Ruiz",
            company="Ruiz & Co",
            address1="12 Elm Rd",
            address2="Suite 4",
            city="Dayton",
            state="OH",
            postal_code="45402",
            country="US",
            phone="+1 555 0100",
            email="ana@example.com",
        ),
        ship_method="GROUND",
        carrier="UPS",
        lines=[WmsOrderLine(sku=sku, quantity=qty) for sku, qty in (lines or [("SKU-1", 2)])],
        notes="Leave at the door",
        **fields,
    )


def token_requests(wms: ExtensivEmulator) -> int:
    return sum(1 for r in wms.requests if r.path == "/AuthServer/api/Token")


def order_posts(wms: ExtensivEmulator) -> int:
    return sum(1 for r in wms.requests if r.method == "POST" and r.path == "/orders")


def deliver_one(adapter: ExtensivAdapter, key: str, *lines: tuple[str, int]) -> int:
    [result] = adapter.deliver_orders(MERCHANT, [order(key, *lines)])
    assert result.ok, result.error
    return int(result.reference)


# --- the token ---------------------------------------------------------------------------------


def test_token_request_sends_basic_credentials_login_and_tpl(wms, adapter):
    adapter.test_connection()

    request = next(r for r in wms.requests if r.path == "/AuthServer/api/Token")
    pair = base64.b64decode(request.headers["authorization"].split(" ", 1)[1]).decode()
    assert pair == f"{wms.client_id}:{wms.client_secret}"
    assert request.body == {
        "grant_type": "client_credentials",
        "user_login_id": wms.user_login_id,
        "tpl": wms.tpl,
    }
    calls = [r for r in wms.requests if r.path != "/AuthServer/api/Token"]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in calls)
    assert all(r.headers["accept"] == "application/hal+json" for r in calls)


def test_token_is_fetched_once_for_many_calls(wms, adapter):
    adapter.deliver_orders(MERCHANT, [order("H1"), order("H2"), order("H3")])
    list(adapter.fetch_shipments(MERCHANT, None))
    list(adapter.fetch_inventory(MERCHANT))

    assert token_requests(wms) == 1


def test_token_that_expires_mid_run_is_replaced_once_and_the_call_retried(wms, adapter, clock):
    deliver_one(adapter, "H1")
    clock.advance(wms.expires_in + 1)  # the emulator now refuses the cached token with 401

    deliver_one(adapter, "H2")

    assert token_requests(wms) == 2
    assert len(wms.orders) == 2


def test_token_is_renewed_shortly_before_it_expires(wms, adapter):
    now = [0.0]
    adapter.client.clock = lambda: now[0]
    deliver_one(adapter, "H1")
    now[0] = wms.expires_in - 30  # still valid at the emulator, but about to end

    deliver_one(adapter, "H2")

    assert token_requests(wms) == 2
    assert len(wms.tokens) == 2  # the old token was never refused: no 401 was needed


def test_refused_client_secret_is_an_auth_error_naming_what_to_check(wms):
    adapter = make_adapter(wms, client_secret="not-the-secret-123")

    with pytest.raises(AuthError) as caught:
        adapter.test_connection()

    assert "Extensiv" in caught.value.message
    assert "client id/secret" in caught.value.message
    assert "not-the-secret-123" not in caught.value.message


def test_a_token_refused_twice_is_an_auth_error(wms, adapter, monkeypatch):
    adapter.client.token()
    # Tokens are issued but every call is refused, as for a user without API access.
    monkeypatch.setattr(
        wms,
        "before",
        lambda request: (
            None
            if request.path == "/AuthServer/api/Token"
            else wms._refuse(401, "Unauthorized", "No access to this customer.")
        ),
    )

    with pytest.raises(AuthError, match="refused access"):
        list(adapter.fetch_inventory(MERCHANT))
    assert token_requests(wms) == 2


# --- orders ------------------------------------------------------------------------------------


def test_order_is_posted_with_reference_ship_to_routing_and_items(wms, adapter):
    order_id = deliver_one(adapter, "H7", ("SKU-1", 2), ("SKU-2", 1))

    body = next(r.body for r in wms.requests if r.method == "POST" and r.path == "/orders")
    assert body["customerIdentifier"] == {"id": CUSTOMER}
    assert body["facilityIdentifier"] == {"id": FACILITY}
    assert body["referenceNum"] == "H7"
    assert body["notes"] == "Leave at the door"
    assert body["routingInfo"] == {"carrier": "UPS", "mode": "GROUND"}
    assert body["shipTo"] == {
        "name": "Ana Ruiz",
        "companyName": "Ruiz & Co",
        "address1": "12 Elm Rd",
        "address2": "Suite 4",
        "city": "Dayton",
        "state": "OH",
        "zip": "45402",
        "country": "US",
        "phoneNumber": "+1 555 0100",
        "emailAddress": "ana@example.com",
    }
    assert body["orderItems"] == [
        {"itemIdentifier": {"sku": "SKU-1"}, "qty": 2},
        {"itemIdentifier": {"sku": "SKU-2"}, "qty": 1},
    ]
    assert wms.order(order_id)["referenceNum"] == "H7"


def test_facility_of_the_cart_overrides_the_merchant_and_the_account(wms, adapter):
    merchant = MerchantRef(id=1, name="Acme", settings={"customer_id": CUSTOMER, "facility_id": 5})

    adapter.deliver_orders(merchant, [order("H1"), order("H2", cart_settings={"facility_id": 9})])

    facilities = [o["facilityIdentifier"]["id"] for o in wms.orders.values()]
    assert facilities == [5, 9]


def test_order_is_created_once_when_the_answer_is_lost_after_commit(wms, adapter):
    wms.lose_next_answers(1)  # the order is stored, then the connection closes unanswered

    [result] = adapter.deliver_orders(MERCHANT, [order("H1")])

    [stored] = wms.orders_with_reference("H1")
    assert result.ok
    assert result.reference == str(stored["readOnly"]["orderId"])
    assert order_posts(wms) == 1


def test_retried_batch_after_a_lost_answer_finds_the_order_instead_of_posting_it(wms, adapter):
    wms.lose_next_answers(1)
    wms.stale_searches(2)  # the search cannot see the new order yet: the batch fails
    with pytest.raises(TransientError):
        adapter.deliver_orders(MERCHANT, [order("H1")])

    [result] = adapter.deliver_orders(MERCHANT, [order("H1")])  # the service's retry

    [stored] = wms.orders_with_reference("H1")
    assert result.ok
    assert result.reference == str(stored["readOnly"]["orderId"])
    assert order_posts(wms) == 1


def test_order_the_wms_already_has_is_delivered_without_posting_again(wms, adapter):
    first = deliver_one(adapter, "H1")

    second = deliver_one(adapter, "H1")

    assert second == first
    assert order_posts(wms) == 1
    assert len(wms.orders) == 1


def test_duplicate_reference_refusal_is_read_as_delivered(clock):
    with ExtensivEmulator(clock=clock, duplicates="reject") as wms:
        adapter = make_adapter(wms)
        first = deliver_one(adapter, "H1")
        wms.stale_searches(1)  # the lookup misses it, so the post meets the duplicate check

        second = deliver_one(adapter, "H1")

        assert second == first
        assert order_posts(wms) == 2
        assert len(wms.orders) == 1


def test_canceled_order_with_the_same_reference_is_sent_again(wms, adapter):
    wms.cancel(deliver_one(adapter, "H1"))

    deliver_one(adapter, "H1")

    assert len(wms.orders_with_reference("H1")) == 2


def test_unknown_sku_fails_only_its_order(wms, adapter):
    wms.unknown_skus.add("GHOST-1")

    results = adapter.deliver_orders(
        MERCHANT, [order("H1"), order("H2", ("GHOST-1", 1)), order("H3")]
    )

    by_key = {r.key: r for r in results}
    assert by_key["H1"].ok and by_key["H3"].ok
    assert not by_key["H2"].ok
    assert "GHOST-1" in by_key["H2"].error
    assert "H2" in by_key["H2"].error
    assert sorted(o["referenceNum"] for o in wms.orders.values()) == ["H1", "H3"]


def test_order_without_any_facility_fails_with_what_to_set(wms):
    adapter = ExtensivAdapter(
        credentials=wms.credentials(),
        settings={"base_url": wms.base_url},
        connection_key="wms:nofacility",
    )

    [result] = adapter.deliver_orders(MERCHANT, [order("H1")])

    assert not result.ok
    assert "facility id" in result.error
    assert not wms.orders


def test_merchant_without_customer_id_is_a_permanent_error(adapter):
    with pytest.raises(AdapterError, match="customer id") as caught:
        adapter.deliver_orders(MerchantRef(id=2, name="Nobody"), [order("H1")])
    assert caught.value.permanent


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_fails_the_batch_as_transient(wms, adapter, status):
    wms.fail_next(1, status)

    with pytest.raises(TransientError):
        adapter.deliver_orders(MERCHANT, [order("H1")])
    assert not wms.orders


def test_a_failure_at_order_k_raises_with_the_answers_of_the_orders_before_it(wms, adapter):
    deliver_one(adapter, "H1")
    posts = order_posts(wms)
    answer = wms.handle

    def fail_the_second_order(request):
        if request.method == "GET" and "H2" in (request.arg("rql") or ""):
            return wms.error_response(request, 503, "Service Unavailable")
        return answer(request)

    wms.handle = fail_the_second_order
    with pytest.raises(TransientError) as caught:
        adapter.deliver_orders(MERCHANT, [order("H1"), order("H2"), order("H3")])
    [first] = caught.value.answered
    assert first.key == "H1" and first.ok
    assert order_posts(wms) == posts  # H1 was found, not posted again; H2 and H3 not tried


def test_heartbeat_runs_before_each_order_and_stops_the_batch(wms, adapter):
    beats = []

    def heartbeat() -> None:
        beats.append(len(beats))
        if len(beats) == 2:
            raise RuntimeError("lease lost")

    adapter.heartbeat = heartbeat
    with pytest.raises(RuntimeError, match="lease lost"):
        adapter.deliver_orders(MERCHANT, [order("H1"), order("H2")])
    assert [o["referenceNum"] for o in wms.orders.values()] == ["H1"]


# --- cancellations -----------------------------------------------------------------------------


def test_an_open_order_is_canceled_through_its_canceler_with_its_etag(wms, adapter):
    order_id = deliver_one(adapter, "H1")
    assert adapter.cancel_order(MERCHANT, "H1", str(order_id)) == ""
    assert wms.order(order_id)["readOnly"]["status"] == 2
    [cancel] = [r for r in wms.requests if r.path.endswith("/canceler")]
    assert cancel.headers["if-match"] and cancel.body["reason"]
    # Asked again (a retry after a lost answer): already canceled, nothing posted.
    assert adapter.cancel_order(MERCHANT, "H1", str(order_id)) == ""
    assert len([r for r in wms.requests if r.path.endswith("/canceler")]) == 1


def test_a_shipped_order_cannot_be_canceled_and_says_so(wms, adapter):
    order_id = deliver_one(adapter, "H1")
    wms.ship(order_id)
    refused = adapter.cancel_order(MERCHANT, "H1", str(order_id))
    assert "shipped" in refused


def test_an_order_changed_between_read_and_cancel_is_read_again(wms, adapter):
    order_id = deliver_one(adapter, "H1")
    answer = wms.handle

    def touch_before_the_cancel(request):
        if request.path.endswith("/canceler"):
            with wms.lock:
                wms.orders[order_id]["_version"] += 1
            wms.handle = answer  # once
        return answer(request)

    wms.handle = touch_before_the_cancel
    assert adapter.cancel_order(MERCHANT, "H1", str(order_id)) == ""
    statuses = [
        (r.method, r.path) for r in wms.requests if r.path.startswith(f"/orders/{order_id}")
    ]
    assert statuses.count(("POST", f"/orders/{order_id}/canceler")) == 2


def test_the_canceler_refuses_a_call_without_if_match_or_reason(wms, adapter):
    order_id = deliver_one(adapter, "H1")
    client = adapter.client
    missing = client.request(
        "POST", f"orders/{order_id}/canceler", json={"reason": "x"}, allow=(428,)
    )
    assert missing.status_code == 428
    stale = client.request(
        "POST",
        f"orders/{order_id}/canceler",
        json={"reason": "x"},
        headers={"If-Match": '"999"'},
        allow=(412,),
    )
    assert stale.status_code == 412
    etag = client.request("GET", f"orders/{order_id}").headers["ETag"]
    no_reason = client.request(
        "POST", f"orders/{order_id}/canceler", json={}, headers={"If-Match": etag}, allow=(400,)
    )
    assert no_reason.status_code == 400
    assert wms.order(order_id)["readOnly"]["status"] == 0


def test_an_order_the_wms_never_had_needs_no_cancel(adapter):
    assert adapter.cancel_order(MERCHANT, "H404", "") == ""


# --- shipments ---------------------------------------------------------------------------------


def test_each_package_of_a_shipped_order_is_one_shipment(wms, adapter):
    order_id = deliver_one(adapter, "H1", ("SKU-1", 3), ("SKU-2", 1))
    wms.ship(
        order_id,
        [
            {"tracking": "1ZAAA", "items": [("SKU-1", 2)]},
            {"tracking": "1ZBBB", "items": [("SKU-1", 1), ("SKU-2", 1)]},
        ],
    )

    shipments = list(adapter.fetch_shipments(MERCHANT, None))

    assert [(s.order_key, s.tracking_number) for s in shipments] == [
        ("H1", "1ZAAA"),
        ("H1", "1ZBBB"),
    ]
    assert shipments[0].items == [ShipmentItem("SKU-1", 2)]
    assert shipments[1].items == [ShipmentItem("SKU-1", 1), ShipmentItem("SKU-2", 1)]
    assert shipments[0].carrier == "UPS"
    assert shipments[0].service == "GROUND"
    assert shipments[0].warehouse == str(FACILITY)
    assert shipments[0].shipped_at == wms.clock.now()


def test_canceled_and_open_orders_are_not_shipments(wms, adapter):
    wms.cancel(deliver_one(adapter, "H1"))
    deliver_one(adapter, "H2")
    wms.ship(deliver_one(adapter, "H3"))

    shipments = list(adapter.fetch_shipments(MERCHANT, None))

    assert [s.order_key for s in shipments] == ["H3"]


def test_tracking_without_packages_comes_from_routing_info(wms, adapter):
    wms.ship(deliver_one(adapter, "H1", ("SKU-1", 2)), [], tracking="9400TRACK")

    [shipment] = adapter.fetch_shipments(MERCHANT, None)

    assert shipment.tracking_number == "9400TRACK"
    assert shipment.items == [ShipmentItem("SKU-1", 2)]


def test_shipments_are_paged_and_filtered_by_since_and_customer(wms, adapter, clock, monkeypatch):
    monkeypatch.setattr(extensiv_adapter, "ORDERS_PAGE_SIZE", 2)
    wms.ship(deliver_one(adapter, "H0"))
    clock.advance(3600)
    since = clock.now()
    for n in range(1, 6):
        wms.ship(deliver_one(adapter, f"H{n}"))
    other = MerchantRef(id=2, name="Other", settings={"customer_id": 99})
    wms.ship(int(adapter.deliver_orders(other, [order("H9")])[0].reference))

    shipments = list(adapter.fetch_shipments(MERCHANT, since - timedelta(minutes=1)))

    assert [s.order_key for s in shipments] == ["H1", "H2", "H3", "H4", "H5"]
    listing = [r for r in wms.requests if r.method == "GET" and "detail" in r.query]
    assert [r.query["pgnum"] for r in listing] == [["1"], ["2"], ["3"]]


# --- stock and ship methods ---------------------------------------------------------------------


def test_stock_is_read_across_pages_per_sku_and_facility(wms, adapter, monkeypatch):
    monkeypatch.setattr(extensiv_adapter, "STOCK_PAGE_SIZE", 3)
    for n in range(1, 6):
        wms.set_stock(CUSTOMER, 3, f"SKU-{n}", n * 10)
    wms.set_stock(CUSTOMER, 4, "SKU-1", 7)
    wms.set_stock(99, 3, "SKU-1", 1000)  # another customer's

    levels = {(s.sku, s.warehouse): s.quantity for s in adapter.fetch_inventory(MERCHANT)}

    assert levels == {
        ("SKU-1", "3"): 10,
        ("SKU-2", "3"): 20,
        ("SKU-3", "3"): 30,
        ("SKU-4", "3"): 40,
        ("SKU-5", "3"): 50,
        ("SKU-1", "4"): 7,
    }
    pages = [r for r in wms.requests if r.path == "/inventory/stocksummaries"]
    assert len(pages) == 2


def test_available_stock_is_reported_not_on_hand(wms, adapter):
    wms.set_stock(CUSTOMER, 3, "SKU-1", 4, on_hand=10)

    [level] = adapter.fetch_inventory(MERCHANT)

    assert level.quantity == 4


def test_ship_methods_are_the_carriers_modes(adapter):
    methods = adapter.fetch_ship_methods()

    assert ("GROUND", "UPS Ground", "UPS") in methods
    assert ("FEDEX_GROUND", "FedEx Ground", "FedEx") in methods


def test_inventory_server_error_is_transient(wms, adapter):
    adapter.client.token()
    wms.fail_next(1, 503)

    with pytest.raises(TransientError):
        list(adapter.fetch_inventory(MERCHANT))


# --- both casings --------------------------------------------------------------------------------


@pytest.mark.parametrize("casing", ["camel", "pascal"])
def test_both_casings_read_the_same(clock, casing):
    with ExtensivEmulator(clock=clock, casing=casing) as wms:
        adapter = make_adapter(wms)
        order_id = deliver_one(adapter, "H1", ("SKU-1", 1))
        assert deliver_one(adapter, "H1", ("SKU-1", 1)) == order_id
        wms.ship(order_id, [{"tracking": "1ZCASE", "items": [("SKU-1", 1)]}])
        wms.set_stock(CUSTOMER, FACILITY, "SKU-1", 5)

        [shipment] = adapter.fetch_shipments(MERCHANT, None)
        [level] = adapter.fetch_inventory(MERCHANT)

        assert (shipment.order_key, shipment.tracking_number) == ("H1", "1ZCASE")
        assert shipment.items == [ShipmentItem("SKU-1", 1)]
        assert (level.sku, level.quantity, level.warehouse) == ("SKU-1", 5, str(FACILITY))
        assert order_posts(wms) == 1


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_stay_out_of_logs_reprs_and_errors(wms, adapter, caplog):
    caplog.set_level(logging.DEBUG)
    deliver_one(adapter, "H1")
    wms.fail_next(1, 500)
    with pytest.raises(TransientError) as server_error:
        list(adapter.fetch_inventory(MERCHANT))
    with pytest.raises(AuthError) as refused:
        make_adapter(wms, client_secret="wrong-secret-456").test_connection()
    [token] = wms.tokens

    secrets = [
        wms.client_secret,
        token,
        base64.b64encode(f"{wms.client_id}:{wms.client_secret}".encode()).decode(),
    ]
    shown = " ".join(
        [
            caplog.text,
            repr(adapter),
            repr(adapter.client),
            repr(adapter.client.http),
            str(server_error.value),
            str(refused.value),
        ]
    )
    assert caplog.text  # the requests were logged
    assert not [s for s in secrets if s in shown]
    assert "wrong-secret-456" not in shown


# --- the real flows ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_flows_deliver_once_and_read_tracking_and_stock_back(world, tmp_path, wms):
    from wms.adapters import WMS_KINDS

    if "extensiv" not in WMS_KINDS.kinds():
        pytest.skip("the extensiv kind is not registered in wms.adapters.WMS_KINDS yet")
    from orders.models import InventoryLevel, OrderStatus
    from tests.hub import Hub, make_cart
    from wms.models import WmsConfig, WmsShipMethod

    config = WmsConfig.objects.create(
        account=world.account,
        kind="extensiv",
        credentials=wms.credentials(),
        settings={"base_url": wms.base_url, "facility_id": FACILITY},
    )
    WmsShipMethod.objects.create(account=world.account, code="GROUND", carrier="UPS")
    world.merchant_a.wms_settings = {"customer_id": CUSTOMER}
    world.merchant_a.save()
    cart = make_cart(world.merchant_a, tmp_path, order_count=3, page_size=2)
    hub = Hub(world=world, wms=config, cart=cart, ledger_dir=tmp_path)
    hub.run("download")

    wms.lose_next_answers(1)
    hub.run("delivery")
    hub.run("delivery")

    orders = list(cart.orders.all())
    assert {o.status for o in orders} == {OrderStatus.AT_WMS}
    assert sorted(o["referenceNum"] for o in wms.orders.values()) == sorted(o.key for o in orders)
    for order_id in list(wms.orders):
        wms.ship(order_id)
    wms.set_stock(CUSTOMER, FACILITY, "SKU-1", 9)

    assert hub.run("ship_confirm").counts["shipments"] == 3
    hub.run("inventory")

    assert {o.status for o in cart.orders.all()} == {OrderStatus.SHIPPED}
    assert InventoryLevel.objects.get(merchant=world.merchant_a, sku="SKU-1").quantity == 9
