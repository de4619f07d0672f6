"""The WooCommerce emulator answers like a WooCommerce REST v3 site an adapter will meet."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests

from sandbox.clock import ManualClock
from sandbox.seed import LineSpec, OrderSpec
from sandbox.woocommerce import WooCommerceEmulator
from tests.sandbox.receiver import WebhookReceiver

WC = "/wp-json/wc/v3"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def site(clock: ManualClock) -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def call(site: WooCommerceEmulator, method: str, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("auth", (site.consumer_key, site.consumer_secret))
    return requests.request(method, site.url(path), timeout=5, **kwargs)


def oauth1_params(site: WooCommerceEmulator, method: str, path: str, query: dict) -> dict:
    """Sign a request the RFC 5849 way, independently of the emulator's code."""

    def enc(text: str) -> str:
        return quote(str(text), safe="-_.~")

    params = {
        **{k: str(v) for k, v in query.items()},
        "oauth_consumer_key": site.consumer_key,
        "oauth_nonce": secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(site.clock.now().timestamp())),
    }
    normalized = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    base = "&".join([method, enc(site.url(path)), enc(normalized)])
    key = f"{site.consumer_secret}&".encode()
    digest = hmac.new(key, base.encode(), hashlib.sha1).digest()
    return {**params, "oauth_signature": base64.b64encode(digest).decode()}


def test_wrong_secret_over_basic_is_401_authentication_error(site):
    response = call(site, "GET", WC + "/orders", auth=(site.consumer_key, "cs_wrong"))

    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": "Consumer secret is invalid.",
        "data": {"status": 401},
    }


def test_keys_in_the_query_string_authenticate(site):
    response = call(
        site,
        "GET",
        WC + "/orders",
        auth=None,
        params={"consumer_key": site.consumer_key, "consumer_secret": site.consumer_secret},
    )

    assert response.status_code == 200


def test_anonymous_request_cannot_list_orders(site):
    response = call(site, "GET", WC + "/orders", auth=None)

    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_cannot_view"


def test_http_site_ignores_basic_auth_but_accepts_oauth1(clock):
    with WooCommerceEmulator(clock=clock, basic_auth_over_http=False) as site:
        site.add_order()
        basic = call(site, "GET", WC + "/orders")
        signed = call(
            site,
            "GET",
            WC + "/orders",
            auth=None,
            params=oauth1_params(site, "GET", WC + "/orders", {"per_page": 5}),
        )

    assert basic.status_code == 401
    assert basic.json()["code"] == "woocommerce_rest_cannot_view"
    assert signed.status_code == 200
    assert len(signed.json()) == 1


def test_oauth1_nonce_cannot_be_replayed(clock):
    with WooCommerceEmulator(clock=clock, basic_auth_over_http=False) as site:
        params = oauth1_params(site, "GET", WC + "/orders", {})
        first = call(site, "GET", WC + "/orders", auth=None, params=params)
        replay = call(site, "GET", WC + "/orders", auth=None, params=params)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert "nonce" in replay.json()["message"]


def test_oauth1_with_a_stale_timestamp_is_refused(clock):
    with WooCommerceEmulator(clock=clock, basic_auth_over_http=False) as site:
        params = oauth1_params(site, "GET", WC + "/orders", {})
        clock.advance(16 * 60)
        response = call(site, "GET", WC + "/orders", auth=None, params=params)

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid timestamp."


def test_read_only_key_cannot_update_an_order(clock):
    with WooCommerceEmulator(clock=clock, permissions="read") as site:
        order = site.add_order()
        response = call(site, "PUT", f"{WC}/orders/{order['id']}", json={"status": "completed"})

    assert response.status_code == 401
    assert "write permissions" in response.json()["message"]


@pytest.mark.parametrize("per_page", ["0", "101", "many"])
def test_per_page_outside_1_to_100_is_rest_invalid_param(site, per_page):
    response = call(site, "GET", WC + "/orders", params={"per_page": per_page})

    assert response.status_code == 400
    assert response.json()["code"] == "rest_invalid_param"
    assert "per_page" in response.json()["data"]["params"]


def test_paging_walks_every_order_with_total_headers(site):
    site.generate_orders(250, seed=2)
    url: str | None = site.url(WC + "/orders?per_page=100&orderby=id&order=asc")
    seen, first = [], None
    while url:
        response = requests.get(url, auth=(site.consumer_key, site.consumer_secret), timeout=5)
        first = first or response
        seen += [o["id"] for o in response.json()]
        url = response.links.get("next", {}).get("url")

    assert first.headers["X-WP-Total"] == "250"
    assert first.headers["X-WP-TotalPages"] == "3"
    assert len(seen) == len(set(seen)) == 250
    assert seen == sorted(seen)


def test_status_filter_takes_a_csv_or_a_list(site):
    site.generate_orders(10, seed=0)

    as_csv = call(site, "GET", WC + "/orders", params={"status": "cancelled,refunded"}).json()
    as_list = call(
        site, "GET", WC + "/orders", params={"status[]": ["cancelled", "refunded"]}
    ).json()
    unknown = call(site, "GET", WC + "/orders", params={"status": "shipped"})

    assert {o["status"] for o in as_csv} == {"cancelled", "refunded"}
    assert as_csv == as_list
    assert unknown.status_code == 400


def test_modified_after_in_gmt_finds_recent_changes(site, clock):
    orders = [site.add_order() for _ in range(3)]
    clock.advance(3600)
    since = clock.now().strftime("%Y-%m-%dT%H:%M:%S")
    clock.advance(60)
    site.update_order(orders[2]["id"], customer_note="Ring twice")

    response = call(
        site,
        "GET",
        WC + "/orders",
        params={"modified_after": since, "dates_are_gmt": "true"},
    )

    assert [o["id"] for o in response.json()] == [orders[2]["id"]]


def test_orders_carry_woocommerce_wire_quirks(site):
    orders = site.generate_orders(10, seed=0)
    lines = [line for order in orders for line in order["line_items"]]

    assert all("+" not in o["date_created"] and "Z" not in o["date_created"] for o in orders)
    assert all(o["date_created_gmt"] != o["date_created"] for o in orders)
    assert all(isinstance(line["price"], int | float) for line in lines)
    assert any(line["sku"] == "" for line in lines)
    assert any(line["variation_id"] == 0 for line in lines)
    assert any(line["variation_id"] for line in lines)
    assert any("&ndash;" in line["name"] for line in lines)
    assert any(o["shipping"]["address_1"] == "" for o in orders)
    assert any(o["refunds"] and o["status"] == "processing" for o in orders)


def test_sku_search_finds_a_variation(site):
    response = call(site, "GET", WC + "/products", params={"sku": "MUG-RED"})

    [variation] = response.json()
    assert variation["type"] == "variation"
    assert variation["parent_id"]


def test_stock_quantity_is_ignored_unless_stock_is_managed(site):
    candle = site.product_by_sku("CANDLE-FIG")

    ignored = call(site, "PUT", f"{WC}/products/{candle['id']}", json={"stock_quantity": 5})
    managed = call(
        site,
        "PUT",
        f"{WC}/products/{candle['id']}",
        json={"manage_stock": True, "stock_quantity": 5},
    )

    assert ignored.status_code == 200
    assert ignored.json()["stock_quantity"] is None
    assert managed.json()["stock_quantity"] == 5
    assert [update["applied"] for update in site.stock_updates] == [False, True]


def test_variation_stock_update_and_parent_managed_variation(site):
    mug = site.product_by_sku("MUG-GRN")
    tote = site.product_by_sku("TOTE-SD")

    own = call(
        site,
        "PUT",
        f"{WC}/products/{mug['parent_id']}/variations/{mug['id']}",
        json={"stock_quantity": 3},
    )
    inherited = call(
        site,
        "PUT",
        f"{WC}/products/{tote['parent_id']}/variations/{tote['id']}",
        json={"stock_quantity": 3},
    )

    assert own.json()["stock_quantity"] == 3
    assert inherited.json()["manage_stock"] == "parent"
    assert inherited.json()["stock_quantity"] != 3


def test_batch_updates_variations_and_refuses_more_than_100(site):
    mug = site.product_by_sku("MUG-BLU")
    path = f"{WC}/products/{mug['parent_id']}/variations/batch"

    applied = call(site, "POST", path, json={"update": [{"id": mug["id"], "stock_quantity": 9}]})
    too_many = call(
        site, "POST", path, json={"update": [{"id": mug["id"], "stock_quantity": 1}] * 101}
    )

    assert applied.json()["update"][0]["stock_quantity"] == 9
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "woocommerce_rest_request_entity_too_large"


def test_completing_an_order_sets_date_completed(site):
    order = site.add_order()

    response = call(site, "PUT", f"{WC}/orders/{order['id']}", json={"status": "completed"})

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["date_completed_gmt"]


def test_order_note_is_created(site):
    order = site.add_order()

    response = call(
        site,
        "POST",
        f"{WC}/orders/{order['id']}/notes",
        json={"note": "Shipped with UPS 1Z999", "customer_note": True},
    )
    listed = call(site, "GET", f"{WC}/orders/{order['id']}/notes").json()

    assert response.status_code == 201
    assert response.json()["customer_note"] is True
    assert [note["note"] for note in listed] == ["Shipped with UPS 1Z999"]


def test_shipment_tracking_is_created_with_a_link(site):
    order = site.add_order()
    path = f"/wp-json/wc-shipment-tracking/v3/orders/{order['id']}/shipment-trackings"

    created = call(
        site,
        "POST",
        path,
        json={"tracking_number": "9400 1000", "tracking_provider": "USPS"},
    )
    custom = call(
        site,
        "POST",
        path,
        json={
            "tracking_number": "ABC123",
            "custom_tracking_provider": "Local Courier",
            "custom_tracking_link": "https://courier.example/t/%1$s",
        },
    )
    missing = call(site, "POST", path, json={"tracking_provider": "USPS"})

    assert created.status_code == 201
    assert created.headers["Location"].endswith(created.json()["tracking_id"])
    assert created.json()["tracking_link"].endswith("9400%201000")
    assert custom.json()["tracking_link"] == "https://courier.example/t/ABC123"
    assert missing.status_code == 400
    assert len(site.trackings[order["id"]]) == 2


def test_tracking_providers_are_grouped_by_country(site):
    order = site.add_order()

    response = call(
        site,
        "GET",
        f"/wp-json/wc-shipment-tracking/v3/orders/{order['id']}/shipment-trackings/providers",
    )

    assert "USPS" in response.json()["United States (US)"]


def test_without_the_tracking_extension_the_route_is_missing(clock):
    with WooCommerceEmulator(clock=clock, tracking_enabled=False) as site:
        order = site.add_order()
        response = call(
            site,
            "POST",
            f"/wp-json/wc-shipment-tracking/v3/orders/{order['id']}/shipment-trackings",
            json={"tracking_number": "1"},
        )

    assert response.status_code == 404
    assert response.json()["code"] == "rest_no_route"


def test_tracking_namespace_is_configurable(clock):
    with WooCommerceEmulator(clock=clock, tracking_namespace="wc-ast/v3") as site:
        order = site.add_order()
        response = call(
            site,
            "GET",
            f"/wp-json/wc-ast/v3/orders/{order['id']}/shipment-trackings",
        )

    assert response.status_code == 200


def test_unknown_route_and_unknown_order_use_the_wordpress_error_shape(site):
    route = call(site, "GET", WC + "/shipments")
    order = call(site, "GET", WC + "/orders/999999")

    assert route.status_code == 404
    assert route.json()["code"] == "rest_no_route"
    assert order.status_code == 404
    assert set(order.json()) == {"code", "message", "data"}


def test_webhook_ping_then_signed_order_update(site, receiver):
    created = call(
        site,
        "POST",
        WC + "/webhooks",
        json={"topic": "order.updated", "delivery_url": receiver.url, "secret": "whsec-test"},
    )
    order = site.add_order()

    site.update_order(order["id"], status="on-hold")

    assert created.status_code == 201
    ping, update = receiver.received
    assert ping.body == f"webhook_id={created.json()['id']}".encode()
    expected = base64.b64encode(hmac.new(b"whsec-test", update.body, hashlib.sha256).digest())
    assert update.headers["x-wc-webhook-signature"] == expected.decode()
    assert update.headers["x-wc-webhook-topic"] == "order.updated"
    assert update.headers["x-wc-webhook-resource"] == "order"
    assert update.headers["x-wc-webhook-event"] == "updated"
    assert update.headers["x-wc-webhook-id"] == str(created.json()["id"])
    assert update.headers["x-wc-webhook-source"] == site.url("/")
    assert json.loads(update.body)["status"] == "on-hold"


def test_webhook_deletion_needs_force(site, receiver):
    webhook = site.subscribe("order.created", receiver.url, secret="s")

    trashed = call(site, "DELETE", f"{WC}/webhooks/{webhook['id']}")
    forced = call(site, "DELETE", f"{WC}/webhooks/{webhook['id']}", params={"force": "true"})

    assert trashed.status_code == 501
    assert forced.status_code == 200
    assert site.webhooks == {}


def test_hosting_errors_can_be_injected(site):
    site.fail_next(1, status=503)
    site.throttle_every_other()

    statuses = [call(site, "GET", WC + "/orders").status_code for _ in range(3)]

    assert statuses == [503, 429, 200]


def test_seed_orders_are_recent_and_oldest_first(site, clock):
    orders = site.generate_orders(5, seed=9)

    created = [o["date_created_gmt"] for o in orders]
    assert created == sorted(created)
    oldest = clock.now() - timedelta(days=31)
    assert all(c > oldest.strftime("%Y-%m-%dT%H:%M:%S") for c in created)


def test_custom_line_without_catalogue_product_has_no_ids(site):
    order = site.add_order(OrderSpec(lines=(LineSpec("ENGRAVING-FEE", 1),)))

    [line] = order["line_items"]
    assert (line["product_id"], line["variation_id"], line["sku"]) == (0, 0, "ENGRAVING-FEE")
