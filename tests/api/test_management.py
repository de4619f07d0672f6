"""Warehouse keys manage merchants and carts; mappings, run now, runs and alerts."""

from __future__ import annotations

from carts.models import CartConnection
from merchants.models import Merchant
from orders.models import Order, OrderStatus
from sync.models import Schedule
from tests.api.conftest import ApiClient, Key, make_api_cart, order_body
from wms.models import WmsShipMethod


def test_warehouse_key_creates_a_merchant_and_a_cart_whose_credentials_stay_hidden(
    warehouse_key: Key, world
):
    client = ApiClient(warehouse_key)
    merchant = client.post("/api/v1/merchants/", {"name": "Gamma", "delivery_interval": 10})
    assert merchant.status_code == 201, merchant.content
    merchant_id = merchant.json()["id"]
    assert Merchant.objects.get(pk=merchant_id).delivery_interval == 10
    assert client.post("/api/v1/merchants/", {"name": "gamma"}).status_code == 400

    body = {
        "merchant": merchant_id,
        "kind": "dummy",
        "order_source": "Gamma shop",
        "credentials": {"api_key": "s3cret-value"},
        "setup": {"seed": "gamma"},
        "download_interval": 15,
    }
    created = client.post("/api/v1/carts/", body)
    assert created.status_code == 201, created.content
    assert "s3cret-value" not in created.content.decode()
    assert created.json()["credentials_set"] == ["api_key"]
    cart = CartConnection.objects.get(pk=created.json()["id"])
    assert cart.credentials["api_key"] == "s3cret-value"
    assert Schedule.objects.get(cart=cart, flow="download").enabled

    # Turning a service off is setting its interval to 0; the schedule follows.
    changed = client.patch(f"/api/v1/carts/{cart.pk}/", {"download_interval": 0})
    assert changed.status_code == 200
    assert not Schedule.objects.get(cart=cart, flow="download").enabled
    assert client.patch(f"/api/v1/carts/{cart.pk}/", {"download_interval": 7}).status_code == 400


def test_cart_needs_its_kinds_credentials(warehouse_key: Key, world):
    body = {"merchant": world.merchant_a.pk, "kind": "dummy", "order_source": "X"}
    response = ApiClient(warehouse_key).post("/api/v1/carts/", body)
    assert response.status_code == 400
    assert "credentials" in response.json()["error"]["fields"]
    unknown = ApiClient(warehouse_key).post("/api/v1/carts/", {**body, "kind": "nope"})
    assert "kind" in unknown.json()["error"]["fields"]
    assert not CartConnection.objects.exists()


def test_merchant_key_may_not_manage_carts(merchant_key: Key, world):
    body = {"merchant": world.merchant_a.pk, "kind": "api", "order_source": "X"}
    assert ApiClient(merchant_key).post("/api/v1/carts/", body).status_code == 403


def test_mapping_a_ship_code_releases_held_orders(merchant_key: Key, world):
    WmsShipMethod.objects.create(account=world.account, code="GROUND")
    cart = make_api_cart(world.merchant_a, reject_unmapped_ship_codes=True)
    client = ApiClient(merchant_key)
    client.post(f"/api/v1/carts/{cart.pk}/orders/", order_body("m-1", ship_method_code="G1"))
    assert Order.objects.get().status == OrderStatus.HELD
    mapped = client.post(
        "/api/v1/ship-method-mappings/", {"cart_code": "G1", "ship_method": "GROUND"}
    )
    assert mapped.status_code == 200, mapped.content
    assert mapped.json()["released"] == 1
    assert Order.objects.get().status == OrderStatus.NEW
    listed = client.get("/api/v1/ship-method-mappings/").json()["results"]
    assert [(m["cart_code"], m["ship_method"]["code"]) for m in listed] == [("G1", "GROUND")]
    unknown = client.post("/api/v1/ship-method-mappings/", {"cart_code": "X", "ship_method": "?"})
    assert unknown.status_code == 400


def test_run_now_makes_the_schedule_due_and_refuses_flows_that_are_off(merchant_key: Key, hub):
    client = ApiClient(merchant_key)
    schedule = Schedule.objects.get(cart=hub.cart, flow="download")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at="2099-01-01T00:00:00Z")
    ran = client.post(f"/api/v1/carts/{hub.cart.pk}/run-now/", {"flow": "download"})
    assert ran.status_code == 200
    schedule.refresh_from_db()
    assert schedule.next_run_at.year < 2099 and schedule.last_outcome == "queued:manual"
    off = client.post(f"/api/v1/carts/{hub.cart.pk}/run-now/", {"flow": "inventory_upload"})
    assert off.status_code == 409
    wrong = client.post(f"/api/v1/merchants/{hub.cart.merchant_id}/run-now/", {"flow": "x"})
    assert wrong.status_code == 400
    merchant = client.post(
        f"/api/v1/merchants/{hub.cart.merchant_id}/run-now/", {"flow": "delivery"}
    )
    assert merchant.status_code == 200


def test_job_runs_and_alerts_are_listed(merchant_key: Key, hub):
    hub.run("download")
    runs = ApiClient(merchant_key).get("/api/v1/job-runs/", flow="download").json()["results"]
    assert runs[0]["flow"] == "download" and runs[0]["counts"]["new"] == 6
    alerts = ApiClient(merchant_key).get("/api/v1/alerts/", open="true")
    assert alerts.status_code == 200
