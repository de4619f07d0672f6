"""The BigCommerce emulator answers like the V2/V3 store APIs an adapter will meet."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator

import pytest
import requests

from sandbox.bigcommerce import BigCommerceEmulator
from sandbox.clock import ManualClock
from sandbox.seed import CUSTOMERS, LineSpec, OrderSpec, order_for
from tests.sandbox.receiver import WebhookReceiver


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def call(
    store: BigCommerceEmulator, method: str, path: str, version: str = "v2", **kwargs
) -> requests.Response:
    headers = {"X-Auth-Token": store.access_token, "Accept": "application/json"}
    headers.update(kwargs.pop("headers", {}))
    url = store.url(f"/stores/{store.store_hash}/{version}{path}")
    return requests.request(method, url, headers=headers, timeout=5, **kwargs)


def three_line_order(store: BigCommerceEmulator) -> dict:
    lines = (LineSpec("MUG-BLU", 3), LineSpec("TEE-S-BLK", 1), LineSpec("NB-A5", 2))
    return store.add_order(order_for(CUSTOMERS[0], lines))


def test_wrong_token_is_a_401_v2_error_array(store):
    response = call(store, "GET", "/orders", headers={"X-Auth-Token": "wrong"})

    assert response.status_code == 401
    [error] = response.json()
    assert error["status"] == 401 and error["message"]


def test_no_matching_orders_is_204_with_an_empty_body(store):
    store.add_order()

    response = call(store, "GET", "/orders", params={"status_id": 5})

    assert response.status_code == 204
    assert response.content == b""


def test_limit_over_250_is_413(store):
    response = call(store, "GET", "/orders", params={"limit": 251})

    assert response.status_code == 413
    assert response.json()[0]["status"] == 413


def test_paging_600_orders_until_204(store):
    store.generate_orders(600, seed=4)
    seen, page = [], 1
    while True:
        response = call(store, "GET", "/orders", params={"page": page, "limit": 250})
        if response.status_code == 204:
            break
        seen += [o["id"] for o in response.json()]
        page += 1

    count = call(store, "GET", "/orders/count").json()["count"]
    assert page == 4
    assert len(seen) == len(set(seen)) == count == 600
    assert seen == sorted(seen)


def test_min_date_modified_accepts_rfc2822_and_iso(store, clock):
    first = store.add_order()
    clock.advance(3600)
    second = store.add_order()
    since = clock.now()

    as_rfc = call(
        store, "GET", "/orders", params={"min_date_modified": email.utils.format_datetime(since)}
    )
    as_iso = call(store, "GET", "/orders", params={"min_date_modified": since.isoformat()})

    assert [o["id"] for o in as_rfc.json()] == [second["id"]]
    assert as_iso.json() == as_rfc.json()
    assert first["id"] not in [o["id"] for o in as_iso.json()]


def test_sort_by_id_descending(store):
    store.generate_orders(5, seed=1)

    response = call(store, "GET", "/orders", params={"sort": "id:desc"})

    ids = [o["id"] for o in response.json()]
    assert ids == sorted(ids, reverse=True)


def test_orders_carry_bigcommerce_wire_formats(store):
    orders = store.generate_orders(10, seed=0)

    assert all(o["date_created"].endswith("+0000") for o in orders)
    assert all(email.utils.parsedate_to_datetime(o["date_created"]) for o in orders)
    assert any(o["date_shipped"] == "" for o in orders)
    assert all(
        o["total_inc_tax"].count(".") == 1 and len(o["total_inc_tax"].split(".")[1]) == 4
        for o in orders
    )
    assert {4, 5, 14, 11, 2} <= {o["status_id"] for o in orders}
    assert all(set(o["products"]) == {"url", "resource"} for o in orders)
    refunded = [p for o in orders for p in store.products_of(o["id"]) if p["quantity_refunded"]]
    assert refunded


def test_links_in_an_order_can_be_followed(store):
    order = three_line_order(store)
    headers = {"X-Auth-Token": store.access_token}

    products = requests.get(order["products"]["url"], headers=headers, timeout=5)
    addresses = requests.get(order["shipping_addresses"]["url"], headers=headers, timeout=5)

    assert products.status_code == 200
    assert [p["sku"] for p in products.json()] == ["MUG-BLU", "TEE-S-BLK", "NB-A5"]
    assert len(addresses.json()) == 2


def test_both_address_spellings_are_served(store):
    order = store.add_order()

    underscored = call(store, "GET", f"/orders/{order['id']}/shipping_addresses")
    joined = call(store, "GET", f"/orders/{order['id']}/shippingaddresses")

    assert underscored.json() == joined.json()
    assert underscored.json()[0]["street_1"] == CUSTOMERS[0].address.address1


def test_digital_order_has_no_shipping_addresses(store):
    order = store.add_order(OrderSpec(lines=(LineSpec("EBOOK-01"),), shipping_address=None))

    response = call(store, "GET", f"/orders/{order['id']}/shipping_addresses")

    assert response.status_code == 204
    assert store.order(order["id"])["status_id"] == 10


def ship(store: BigCommerceEmulator, order_id: int, address_id, items, **extra):
    body = {"order_address_id": address_id, "items": items, **extra}
    return call(store, "POST", f"/orders/{order_id}/shipments", json=body)


def test_partial_then_complete_shipment_moves_status(store):
    order = store.add_order(OrderSpec(lines=(LineSpec("MUG-BLU", 3),)))
    [line] = store.products_of(order["id"])
    [address] = store.addresses_of(order["id"])

    first = ship(
        store,
        order["id"],
        str(address["id"]),
        [{"order_product_id": line["id"], "quantity": 1}],
        tracking_number="1Z999AA10123456784",
        shipping_provider="ups",
    )
    after_first = store.order(order["id"])
    second = ship(
        store, order["id"], address["id"], [{"order_product_id": line["id"], "quantity": 2}]
    )
    listed = call(store, "GET", f"/orders/{order['id']}/shipments").json()

    assert first.status_code == 201
    assert first.json()["items"] == [
        {"order_product_id": line["id"], "product_id": line["product_id"], "quantity": 1}
    ]
    assert after_first["status_id"] == 3
    assert after_first["date_shipped"] != ""
    assert second.status_code == 201
    assert store.order(order["id"])["status_id"] == 2
    assert store.order(order["id"])["items_shipped"] == 3
    assert len(listed) == 2


@pytest.mark.parametrize(
    ("change", "message_part"),
    [
        ({"quantity": 4}, "greater than the quantity"),
        ({"tracking_number": "9" * 51}, "tracking_number"),
        ({"shipping_provider": "dhl"}, "shipping_provider"),
        ({"order_address_id": None}, "order_address_id"),
    ],
)
def test_invalid_shipments_are_refused_with_a_v2_error(store, change, message_part):
    order = store.add_order(OrderSpec(lines=(LineSpec("MUG-BLU", 3),)))
    [line] = store.products_of(order["id"])
    [address] = store.addresses_of(order["id"])
    body = {
        "order_address_id": address["id"],
        "items": [{"order_product_id": line["id"], "quantity": change.pop("quantity", 1)}],
        **change,
    }

    response = call(store, "POST", f"/orders/{order['id']}/shipments", json=body)

    assert response.status_code == 400
    assert message_part in response.json()[0]["message"]
    assert store.order(order["id"])["status_id"] == 11


def test_line_of_another_address_cannot_ship_with_the_first(store):
    order = three_line_order(store)
    lines = store.products_of(order["id"])
    first_address = store.addresses_of(order["id"])[0]

    response = ship(
        store,
        order["id"],
        first_address["id"],
        [{"order_product_id": lines[-1]["id"], "quantity": 1}],
    )

    assert response.status_code == 400


def test_refunded_units_cannot_be_shipped(store):
    spec = OrderSpec(lines=(LineSpec("TEE-S-BLK", 2, refunded=1),), outcome="partially_refunded")
    order = store.add_order(spec)
    [line] = store.products_of(order["id"])
    [address] = store.addresses_of(order["id"])

    response = ship(
        store, order["id"], address["id"], [{"order_product_id": line["id"], "quantity": 2}]
    )

    assert response.status_code == 400
    assert order["status_id"] == 14


def test_order_without_shipments_lists_204(store):
    order = store.add_order()

    response = call(store, "GET", f"/orders/{order['id']}/shipments")

    assert response.status_code == 204


def test_status_can_be_set_and_must_be_known(store):
    order = store.add_order()

    updated = call(store, "PUT", f"/orders/{order['id']}", json={"status_id": 9})
    invalid = call(store, "PUT", f"/orders/{order['id']}", json={"status_id": 99})

    assert updated.json()["status"] == "Awaiting Shipment"
    assert invalid.status_code == 400


def test_absolute_inventory_adjustment_sets_stock_at_a_location(store):
    response = call(
        store,
        "PUT",
        "/inventory/adjustments/absolute",
        version="v3",
        json={
            "reason": "WMS sync",
            "items": [{"location_id": 1, "sku": "MUG-BLU", "quantity": 42}],
        },
    )
    items = call(
        store, "GET", "/inventory/locations/1/items", version="v3", params={"sku:in": "MUG-BLU"}
    ).json()["data"]

    assert response.status_code == 200
    assert response.json()["transaction_id"]
    assert items[0]["available_to_sell"] == 42
    assert store.inventory_adjustments[-1]["items"][0]["quantity"] == 42


def test_unknown_sku_is_a_422_problem(store):
    response = call(
        store,
        "PUT",
        "/inventory/adjustments/absolute",
        version="v3",
        json={"items": [{"location_id": 1, "sku": "NO-SUCH", "quantity": 1}]},
    )

    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert set(response.json()) == {"status", "title", "type", "errors"}
    assert "items.0.sku" in response.json()["errors"]


def test_product_level_adjustment_of_a_variant_tracked_product_is_a_422(store):
    mug = call(store, "GET", "/catalog/variants", version="v3", params={"sku": "MUG-BLU"})
    product_id = mug.json()["data"][0]["product_id"]

    response = call(
        store,
        "PUT",
        "/inventory/adjustments/absolute",
        version="v3",
        json={"items": [{"location_id": 1, "product_id": product_id, "quantity": 1}]},
    )

    assert response.status_code == 422


def test_more_than_2000_adjustments_are_refused(store):
    items = [{"location_id": 1, "sku": "MUG-BLU", "quantity": 1}] * 2001

    response = call(
        store, "PUT", "/inventory/adjustments/absolute", version="v3", json={"items": items}
    )

    assert response.status_code == 422


def test_delayed_adjustment_shows_only_after_the_delay(clock):
    with BigCommerceEmulator(clock=clock, inventory_delay=5) as store:
        before = store.available("NB-A5")
        call(
            store,
            "PUT",
            "/inventory/adjustments/absolute",
            version="v3",
            json={"items": [{"location_id": 1, "sku": "NB-A5", "quantity": before + 10}]},
        )
        still = store.available("NB-A5")
        clock.advance(5)
        later = store.available("NB-A5")

    assert still == before
    assert later == before + 10


def test_quota_runs_out_within_the_window_and_resets(clock):
    with BigCommerceEmulator(clock=clock, quota=3) as store:
        admitted = [call(store, "GET", "/orders/count") for _ in range(3)]
        refused = call(store, "GET", "/orders/count")
        clock.advance(30)
        reset = call(store, "GET", "/orders/count")

    assert [r.headers["X-Rate-Limit-Requests-Left"] for r in admitted] == ["2", "1", "0"]
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Requests-Left"] == "0"
    assert int(refused.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 30000
    assert refused.headers["X-Rate-Limit-Time-Window-Ms"] == "30000"
    assert reset.status_code == 200


def test_platform_overload_answers_429_without_rate_headers(store):
    store.overloaded = True

    response = call(store, "GET", "/orders")

    assert response.status_code == 429
    assert "X-Rate-Limit-Requests-Left" not in response.headers


def test_hook_delivers_callback_with_registration_headers(store, receiver):
    created = call(
        store,
        "POST",
        "/hooks",
        version="v3",
        json={
            "scope": "store/order/*",
            "destination": receiver.url,
            "is_active": True,
            "headers": {"X-Sandbox-Secret": "s3cret"},
        },
    )
    order = store.add_order()
    store.update_order(order["id"], status_id=9)

    assert created.status_code == 200
    created_hook, updated_hook, status_hook = receiver.received
    body = json.loads(created_hook.body)
    assert body["scope"] == "store/order/created"
    assert body["data"] == {"type": "order", "id": order["id"]}
    assert body["producer"] == f"stores/{store.store_hash}"
    assert {"hash", "created_at", "store_id"} <= set(body)
    assert created_hook.headers["x-sandbox-secret"] == "s3cret"
    assert json.loads(updated_hook.body)["scope"] == "store/order/updated"
    assert json.loads(status_hook.body)["data"]["status"] == {
        "previous_status_id": 11,
        "new_status_id": 9,
    }


def test_hook_needs_https_outside_loopback(store):
    response = call(
        store,
        "POST",
        "/hooks",
        version="v3",
        json={"scope": "store/order/created", "destination": "http://hub.example/hooks"},
    )

    assert response.status_code == 422
    assert "destination" in response.json()["errors"]


def test_injected_server_error_uses_the_version_shape(store):
    store.fail_next(2, status=500)

    v2 = call(store, "GET", "/orders")
    v3 = call(store, "GET", "/catalog/variants", version="v3")

    assert v2.json() == [{"status": 500, "message": "Internal Server Error"}]
    assert v3.json()["status"] == 500
    assert call(store, "GET", "/orders/count").status_code == 200


def test_hung_request_times_out(store):
    store.hang_next(1)

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            store.url(f"/stores/{store.store_hash}/v2/orders"),
            headers={"X-Auth-Token": store.access_token},
            timeout=0.3,
        )
