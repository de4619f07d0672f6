"""Tenancy sweep: every API route and method, called with keys of another merchant, another
cart and another account, answers 404 (403 where the key's level forbids the method) and
changes nothing. The routes come from the URL patterns, so a new route is swept too."""

from __future__ import annotations

import pytest
from django.urls import URLPattern

from api import urls as api_urls
from api.models import WebhookDelivery, WebhookEndpoint
from api.outbound import webhook_endpoint_create
from carts.models import CartConnection
from merchants.models import Merchant
from orders.models import InventoryLevel, Order, OrderEvent, Shipment, ShipMethodMapping
from sync.models import Schedule
from tests.api.conftest import ApiClient, key_for, make_api_cart, order_body
from wms.models import WmsShipMethod

RESOURCE_BY_PREFIX = {
    "orders": "order",
    "merchants": "merchant",
    "carts": "cart",
    "webhooks": "endpoint",
    "webhook-deliveries": "delivery",
}
METHODS = ("get", "post", "patch", "delete")
BODIES = {
    ("api_order_ack", "post"): {"reference": "stolen"},
    ("api_merchant", "patch"): {"name": "Hijacked", "active": False},
    ("api_cart", "patch"): {"description": "hijacked", "active": False},
    ("api_cart_orders", "post"): order_body("intruder"),
    ("api_cart_run_now", "post"): {"flow": "download"},
    ("api_merchant_run_now", "post"): {"flow": "delivery"},
    ("api_webhook", "patch"): {"active": False},
}


def pk_routes() -> list[tuple[str, str, type, str]]:
    """Return (name, route, view class, resource) of every API route that takes an object id."""
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if pattern.name == "api_not_found":
            continue
        if "<int:pk>" not in route:
            continue
        view = pattern.callback.view_class  # type: ignore[attr-defined]
        found.append((pattern.name, route, view, RESOURCE_BY_PREFIX[route.split("/")[0]]))
    return found


def collection_routes() -> list[tuple[str, str, type]]:
    found = []
    for pattern in api_urls.urlpatterns:
        route = str(pattern.pattern)
        if pattern.name == "api_not_found":
            continue
        if "<" in route or pattern.name in ("api_schema", "api_docs", "api_redoc", "api_not_found"):
            continue
        found.append((pattern.name, route, pattern.callback.view_class))
    return found


def tenant_objects(merchant) -> dict:
    """An API cart with an order, a webhook endpoint and a delivery of `merchant`."""
    cart = make_api_cart(merchant)
    client = ApiClient(key_for("cart", account=merchant.account, cart=cart))
    pushed = client.post(f"/api/v1/carts/{cart.pk}/orders/", order_body(f"o-{merchant.pk}"))
    order = Order.objects.get(pk=pushed.json()["results"][0]["id"])
    endpoint, _ = webhook_endpoint_create(merchant=merchant, url="https://example.com/hook")
    delivery = WebhookDelivery.objects.create(
        account_id=merchant.account_id,
        endpoint=endpoint,
        event="order.downloaded",
        event_key="test:1",
        payload={},
    )
    return {
        "order": order,
        "merchant": merchant,
        "cart": cart,
        "endpoint": endpoint,
        "delivery": delivery,
    }


def snapshot() -> dict:
    """Everything a request could have changed."""
    return {
        "orders": sorted(
            Order.objects.values_list("id", "status", "hold_reasons", "delivery_reference")
        ),
        "events": OrderEvent.objects.count(),
        "shipments": Shipment.objects.count(),
        "merchants": sorted(Merchant.objects.values_list("id", "name", "active")),
        "carts": sorted(CartConnection.objects.values_list("id", "description", "active")),
        "endpoints": sorted(WebhookEndpoint.objects.values_list("id", "url", "active")),
        "deliveries": sorted(WebhookDelivery.objects.values_list("id", "attempts")),
        "schedules": sorted(Schedule.objects.values_list("id", "next_run_at", "last_outcome")),
        "mappings": ShipMethodMapping.objects.count(),
        "stock": InventoryLevel.objects.count(),
    }


@pytest.fixture
def tenants(world, other_world):
    WmsShipMethod.objects.create(account=world.account, code="GROUND")
    WmsShipMethod.objects.create(account=other_world.account, code="GROUND")
    own = tenant_objects(world.merchant_a)
    sibling_cart = make_api_cart(world.merchant_a, order_source="Second API cart")
    client = ApiClient(key_for("cart", account=world.account, cart=sibling_cart))
    pushed = client.post(f"/api/v1/carts/{sibling_cart.pk}/orders/", order_body("sibling"))
    keys = {
        "merchant": key_for("merchant", account=world.account, merchant=world.merchant_a),
        "cart": key_for("cart", account=world.account, cart=own["cart"]),
        "warehouse": key_for("warehouse", account=world.account),
    }
    return {
        "own": own,
        "other_merchant": tenant_objects(world.merchant_b),
        "other_account": tenant_objects(other_world.merchant_a),
        "sibling_cart": {
            "order": Order.objects.get(pk=pushed.json()["results"][0]["id"]),
            "cart": sibling_cart,
        },
        "keys": keys,
    }


# Which key may not reach which objects.
SWEEPS = [
    ("merchant", "other_merchant"),
    ("merchant", "other_account"),
    ("cart", "other_merchant"),
    ("cart", "other_account"),
    ("cart", "sibling_cart"),
    ("warehouse", "other_account"),
]


def call(client: ApiClient, method: str, path: str, body):
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    return getattr(client, method)(path, body)


@pytest.mark.parametrize("level,target", SWEEPS)
def test_objects_of_other_tenants_are_404_and_untouched(tenants, level, target):
    key = tenants["keys"][level]
    client = ApiClient(key)
    objects = tenants[target]
    before = snapshot()
    checked = 0
    for name, route, view, resource in pk_routes():
        if resource not in objects:
            continue
        path = "/api/v1/" + route.replace("<int:pk>", str(objects[resource].pk))
        for method in METHODS:
            if not hasattr(view, method):
                continue
            levels = view.read_levels if method == "get" else view.write_levels
            expected = 404 if level in levels else 403
            response = call(client, method, path, BODIES.get((name, method), {}))
            assert response.status_code == expected, (method, path, response.content)
            assert response.json()["error"]["code"] in ("not_found", "permission_denied")
            checked += 1
    assert checked >= 5
    assert snapshot() == before


def test_sweep_targets_exist_for_their_owners(tenants):
    """The sweep can fail: the same routes answer 200 for the objects' own keys."""
    own = tenants["own"]
    for _, route, view, resource in pk_routes():
        if not hasattr(view, "get"):
            continue
        path = "/api/v1/" + route.replace("<int:pk>", str(own[resource].pk))
        key = tenants["keys"]["merchant" if "merchant" in view.read_levels else "warehouse"]
        assert ApiClient(key).get(path).status_code == 200, path


@pytest.mark.parametrize("level", ["merchant", "cart", "warehouse"])
def test_lists_show_only_the_keys_rows(tenants, level):
    key = tenants["keys"][level]
    own = tenants["own"]
    foreign_orders = {tenants["other_account"]["order"].pk}
    if level != "warehouse":
        foreign_orders.add(tenants["other_merchant"]["order"].pk)
    if level == "cart":
        foreign_orders.add(tenants["sibling_cart"]["order"].pk)
    for name, route, view in collection_routes():
        if not hasattr(view, "get"):
            continue
        response = ApiClient(key).get("/api/v1/" + route)
        if level not in view.read_levels:
            assert response.status_code == 403, route
            continue
        assert response.status_code == 200, (route, response.content)
        rows = response.json()["results"]
        if name == "api_orders":
            ids = {r["id"] for r in rows}
            assert own["order"].pk in ids and not ids & foreign_orders
        for row in rows:
            merchant = row.get("merchant", row.get("id") if name == "api_merchants" else None)
            if merchant is not None:
                assert merchant in {own["merchant"].pk} or level == "warehouse", (route, row)
            if level == "warehouse" and merchant is not None:
                assert Merchant.objects.get(pk=merchant).account_id == key.key.account_id


def test_writes_naming_foreign_objects_in_the_body_change_nothing(tenants):
    merchant_key = tenants["keys"]["merchant"]
    warehouse_key = tenants["keys"]["warehouse"]
    foreign = tenants["other_account"]
    sibling = tenants["other_merchant"]
    before = snapshot()
    for key, objects in (
        (merchant_key, sibling),
        (merchant_key, foreign),
        (warehouse_key, foreign),
    ):
        client = ApiClient(key)
        order, merchant = objects["order"], objects["merchant"]
        shipment = {"order_id": f"H{order.pk}", "tracking_number": "STOLEN"}
        assert client.post("/api/v1/shipments/", shipment).status_code == 400
        by_number = {
            "order_number": order.order_number,
            "merchant": merchant.pk,
            "tracking_number": "STOLEN",
        }
        assert client.post("/api/v1/shipments/", by_number).status_code == 400
        stock = {"merchant": merchant.pk, "levels": [{"sku": "X", "quantity": 1}]}
        assert client.post("/api/v1/inventory/", stock).status_code == 400
        mapping = {"merchant": merchant.pk, "cart_code": "X", "ship_method": "GROUND"}
        assert client.post("/api/v1/ship-method-mappings/", mapping).status_code == 400
        hook = {"merchant": merchant.pk, "url": "https://evil.example.com/"}
        assert client.post("/api/v1/webhooks/", hook).status_code == 400
        ack = client.post("/api/v1/orders/acknowledge/", {"orders": [{"id": order.pk}]})
        assert ack.json()["results"][0]["result"] == "not_found"
    cart = {"merchant": foreign["merchant"].pk, "kind": "api", "order_source": "Evil"}
    assert ApiClient(warehouse_key).post("/api/v1/carts/", cart).status_code == 400
    assert snapshot() == before
