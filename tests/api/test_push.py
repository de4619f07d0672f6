"""Orders pushed into an API cart; shipments posted by the WMS: validated, idempotent."""

from __future__ import annotations

from orders.models import Order, OrderLine, OrderStatus, Shipment
from tests.api.conftest import ApiClient, Key, key_for, order_body
from tests.hub import make_cart


def push(key: Key, cart, body):
    return ApiClient(key).post(f"/api/v1/carts/{cart.pk}/orders/", body)


def test_pushed_order_is_stored_like_a_downloaded_one(cart_key: Key, api_cart):
    response = push(cart_key, api_cart, order_body("ext-1"))
    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "created"
    order = Order.objects.get(pk=result["id"])
    assert (order.cart_id, order.external_id, order.status) == (api_cart.pk, "ext-1", "new")
    assert order.order_source == api_cart.order_source
    assert order.ship_to["city"] == "Dayton"
    assert [(li.sku, li.quantity) for li in order.lines.all()] == [("SKU-1", 2), ("SKU-2", 1)]
    assert order.events.filter(kind="downloaded").count() == 1


def test_repeated_push_is_reported_duplicate_and_stored_once(cart_key: Key, api_cart):
    first = push(cart_key, api_cart, order_body("ext-1"))
    again = push(cart_key, api_cart, order_body("ext-1", notes="changed"))
    assert again.status_code == 200
    [result] = again.json()["results"]
    assert result["status"] == "duplicate"
    assert result["id"] == first.json()["results"][0]["id"]
    assert Order.objects.filter(cart=api_cart).count() == 1
    assert OrderLine.objects.filter(order__cart=api_cart).count() == 2


def test_batch_reports_each_order_and_repeats_inside_it(merchant_key: Key, api_cart):
    batch = {"orders": [order_body("a"), order_body("b"), order_body("a")]}
    response = push(merchant_key, api_cart, batch)
    assert response.status_code == 201
    assert [r["status"] for r in response.json()["results"]] == [
        "created",
        "created",
        "duplicate",
    ]
    assert Order.objects.filter(cart=api_cart).count() == 2


def test_malformed_order_is_400_with_field_errors_and_nothing_stored(cart_key: Key, api_cart):
    bad = order_body("x", lines=[{"sku": "", "quantity": 0}], ship_to="nowhere")
    del bad["order_number"]
    response = push(cart_key, api_cart, bad)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) >= {"order_number", "ship_to", "lines"}
    assert Order.objects.count() == 0


def test_one_bad_order_in_a_batch_stores_none(cart_key: Key, api_cart):
    batch = {"orders": [order_body("good"), order_body("bad", lines=[])]}
    response = push(cart_key, api_cart, batch)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]["orders"]) == ["1"]
    assert Order.objects.count() == 0


def test_non_object_bodies_are_400(cart_key: Key, api_cart):
    for body in ([1, 2], "text", {"orders": "nope"}, {"orders": []}):
        response = push(cart_key, api_cart, body)
        assert response.status_code == 400, body
        assert "fields" in response.json()["error"]
    assert Order.objects.count() == 0


def test_push_into_a_downloading_cart_is_409(world, tmp_path):
    cart = make_cart(world.merchant_a, tmp_path)
    key = key_for("merchant", account=world.account, merchant=world.merchant_a)
    response = push(key, cart, order_body())
    assert response.status_code == 409
    assert "api" in response.json()["error"]["message"]
    assert Order.objects.count() == 0


def test_unmapped_ship_code_holds_pushed_order_when_the_cart_rejects_them(world, merchant_key):
    from tests.api.conftest import make_api_cart

    cart = make_api_cart(world.merchant_a, reject_unmapped_ship_codes=True)
    response = push(merchant_key, cart, order_body("held-1", ship_method_code="DRONE"))
    assert response.json()["results"][0]["order_status"] == OrderStatus.HELD


def test_repeated_shipment_is_duplicate_and_stored_once(merchant_key: Key, api_cart):
    order_id = push(merchant_key, api_cart, order_body("s-1")).json()["results"][0]["id"]
    shipment = {"order_id": f"H{order_id}", "tracking_number": "1Z999", "carrier": "UPS"}
    first = ApiClient(merchant_key).post("/api/v1/shipments/", shipment)
    again = ApiClient(merchant_key).post("/api/v1/shipments/", {"shipments": [shipment]})
    assert first.status_code == 201 and first.json()["results"][0]["status"] == "created"
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "duplicate"
    assert Shipment.objects.filter(order_id=order_id).count() == 1
    assert Order.objects.get(pk=order_id).status in (OrderStatus.SHIPPED, OrderStatus.CONFIRMED)


def test_malformed_shipments_store_nothing(merchant_key: Key, api_cart):
    order_id = push(merchant_key, api_cart, order_body("s-2")).json()["results"][0]["id"]
    batch = {
        "shipments": [
            {"order_id": str(order_id), "tracking_number": "T-1"},
            {"order_id": str(order_id), "tracking_number": "  "},
            {"tracking_number": "T-3"},
            {"order_id": "999999", "tracking_number": "T-4"},
        ]
    }
    response = ApiClient(merchant_key).post("/api/v1/shipments/", batch)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]["shipments"]) == {"1", "2"}
    assert Shipment.objects.count() == 0
    unknown = ApiClient(merchant_key).post(
        "/api/v1/shipments/", {"order_id": "999999", "tracking_number": "T-4"}
    )
    assert unknown.status_code == 400
    assert "order_id" in unknown.json()["error"]["fields"]
    assert Shipment.objects.count() == 0


def test_shipment_by_order_number_needs_the_merchant_for_warehouse_keys(
    warehouse_key: Key, merchant_key: Key, api_cart, world
):
    push(merchant_key, api_cart, order_body("n-1"))
    body = {"order_number": "#n-1", "tracking_number": "T-N"}
    assert ApiClient(warehouse_key).post("/api/v1/shipments/", body).status_code == 400
    body["merchant"] = world.merchant_a.pk
    assert ApiClient(warehouse_key).post("/api/v1/shipments/", body).status_code == 201


def test_acknowledge_moves_new_to_at_wms_once(merchant_key: Key, api_cart):
    order_id = push(merchant_key, api_cart, order_body("k-1")).json()["results"][0]["id"]
    client = ApiClient(merchant_key)
    first = client.post(f"/api/v1/orders/{order_id}/acknowledge/", {"reference": "W-1"})
    again = client.post(f"/api/v1/orders/{order_id}/acknowledge/", {"reference": "W-1"})
    assert first.json()["result"] == "done" and again.json()["result"] == "unchanged"
    order = Order.objects.get(pk=order_id)
    assert (order.status, order.delivery_reference) == (OrderStatus.AT_WMS, "W-1")
    assert order.events.filter(kind="delivered").count() == 1


def test_cancel_and_resend_go_through_the_state_machine(merchant_key: Key, api_cart):
    order_id = push(merchant_key, api_cart, order_body("c-1")).json()["results"][0]["id"]
    client = ApiClient(merchant_key)
    assert client.post(f"/api/v1/orders/{order_id}/resend/").status_code == 409
    assert client.post(f"/api/v1/orders/{order_id}/cancel/").json()["result"] == "done"
    assert Order.objects.get(pk=order_id).status == OrderStatus.HELD
    assert client.post(f"/api/v1/orders/{order_id}/cancel/").json()["result"] == "unchanged"
    assert client.post(f"/api/v1/orders/{order_id}/acknowledge/").status_code == 409


def test_order_list_filters_and_pages(merchant_key: Key, api_cart):
    push(merchant_key, api_cart, {"orders": [order_body(f"p-{i}") for i in range(5)]})
    client = ApiClient(merchant_key)
    first = client.get("/api/v1/orders/", status="open", limit=2).json()
    ids = [o["id"] for o in first["results"]]
    second = client.get(first["next"]).json()
    ids += [o["id"] for o in second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert client.get("/api/v1/orders/", status="done").json()["results"] == []
    assert client.get("/api/v1/orders/", status="bogus").status_code == 400
    assert client.get("/api/v1/orders/", updated_since="2000-01-01T00:00:00Z").status_code == 200
    assert client.get("/api/v1/orders/", updated_since="yesterday").status_code == 400
