"""Limits and plumbing: throttling, body size, request ids, one error shape."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.test import Client

from cartrover.request import RequestIdFilter
from orders.models import Order
from tests.api.conftest import ApiClient, Key, order_body


def test_throttled_key_gets_429_with_retry_after(settings, warehouse_key: Key, merchant_key: Key):
    settings.API_THROTTLE_RATE = "3/min"
    cache.clear()
    client = ApiClient(warehouse_key)
    statuses = [client.get("/api/v1/orders/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/orders/")
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "throttled"
    # Another key has its own bucket.
    assert ApiClient(merchant_key).get("/api/v1/orders/").status_code == 200


def test_body_over_the_limit_is_413_and_not_stored(settings, cart_key: Key, api_cart):
    settings.API_MAX_BODY_BYTES = 500
    body = order_body("big", notes="x" * 1000)
    response = ApiClient(cart_key).post(f"/api/v1/carts/{api_cart.pk}/orders/", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Order.objects.count() == 0


def test_every_response_has_a_request_id_and_a_safe_one_is_kept(db):
    kept = Client().get("/api/v1/orders/", HTTP_X_REQUEST_ID="wms-run-42.7")
    assert kept["X-Request-ID"] == "wms-run-42.7"
    assert kept.json()["request_id"] == "wms-run-42.7"
    replaced = Client().get("/api/v1/orders/", HTTP_X_REQUEST_ID="bad id\nforged log line")
    assert replaced["X-Request-ID"] != "bad id\nforged log line"
    assert len(replaced["X-Request-ID"]) == 32
    assert Client().get("/accounts/login/")["X-Request-ID"]


def test_log_lines_carry_the_request_id(db, caplog, warehouse_key: Key):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = ApiClient(warehouse_key).client.get(
            "/api/v1/orders/999999/",
            HTTP_AUTHORIZATION=warehouse_key.bearer,
            HTTP_X_REQUEST_ID="trace-0001",
        )
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such object.", "fields": {}},
        "request_id": "trace-0001",
    }
    assert any(getattr(r, "request_id", "") == "trace-0001" for r in caplog.records)


def test_key_level_refusal_is_403_in_the_error_shape(cart_key: Key):
    response = ApiClient(cart_key).post("/api/v1/inventory/", {"levels": []})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_options_is_not_a_server_error(warehouse_key: Key, api_cart):
    client = ApiClient(warehouse_key).client
    for path in ("/api/v1/orders/", f"/api/v1/carts/{api_cart.pk}/", "/api/v1/shipments/"):
        response = client.options(path, HTTP_AUTHORIZATION=warehouse_key.bearer)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
